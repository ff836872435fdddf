using System;
using System.Collections.Generic;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    [TestClass]
    public class TextClassificationTrainerTests
    {
        private static readonly List<SyntheticText.Row> Train = SyntheticText.Sentences(150, seed: 1);
        private static readonly List<SyntheticText.Row> Test = SyntheticText.Sentences(60, seed: 2);

        internal static TextClassificationTrainer.Options SmallOptions(Action<TrainingMetrics> callback = null) => new TextClassificationTrainer.Options
        {
            Encoder = TextEncoderKind.FromScratch, // these tests are about the encoder trained from scratch (MiniLmTrainerTests: the pretrained one)
            Epochs = 8,
            BatchSize = 16,
            LearningRate = 0.002,
            EmbeddingSize = 64,
            NumberOfHeads = 1,
            NumberOfLayers = 1,
            FeedForwardSize = 128,
            MaxSequenceLength = 32,
            ValidationSetFraction = 0,
            MinTokenCount = 1,
            Seed = 42,
            MetricsCallback = callback,
        };

        internal static IEstimator<ITransformer> Pipeline(MLContext ml, IEstimator<ITransformer> trainer) =>
            ml.Transforms.Conversion.MapValueToKey("Label")
                .Append(trainer)
                .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

        [TestMethod]
        public void Float32_training_learns_synthetic_topics()
        {
            var ml = new MLContext(seed: 1);
            var model = Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(SmallOptions())).Fit(ml.Data.LoadFromEnumerable(Train));
            var metrics = ml.MulticlassClassification.Evaluate(model.Transform(ml.Data.LoadFromEnumerable(Test)));
            metrics.MacroAccuracy.Should().BeGreaterThan(0.9);
            var trainer = ((IEnumerable<ITransformer>)model).OfType<TextClassificationTransformer>().Single();
            trainer.Summary.Precision.Should().Be(TrainingPrecision.Float32);
            trainer.Summary.ObservedActivationType.Should().Be("Float32");
            trainer.ClassNames.Should().Equal(SyntheticText.Topics);
        }

        [TestMethod]
        public void Mixed_precision_training_runs_attention_in_bfloat16_and_learns()
        {
            var ml = new MLContext(seed: 1);
            var estimator = ml.MulticlassClassification.Trainers.TextClassification(SmallOptions())
                .WithMixedPrecision(new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16 });
            var model = Pipeline(ml, estimator).Fit(ml.Data.LoadFromEnumerable(Train));
            var amp = ((IEnumerable<ITransformer>)model).OfType<TextClassificationTransformer>().Single();
            amp.Summary.Precision.Should().Be(TrainingPrecision.BFloat16);
            amp.Summary.ObservedActivationType.Should().Be("BFloat16", "the encoder's attention ran under bf16 autocast");
            amp.Summary.SkippedSteps.Should().Be(0);
            estimator.MixedPrecision.Precision.Should().Be(TrainingPrecision.BFloat16, "WithMixedPrecision returns the same kind of trainer, which fits the same kind of model");
            ml.MulticlassClassification.Evaluate(model.Transform(ml.Data.LoadFromEnumerable(Test))).MacroAccuracy.Should().BeGreaterThan(0.9);
        }

        [TestMethod]
        public void Sentence_pair_task_learns_the_topic_of_the_second_sentence()
        {
            var ml = new MLContext(seed: 1);
            var options = SmallOptions();
            options.Sentence2ColumnName = "Sentence2";
            var model = Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options).WithMixedPrecision())
                .Fit(ml.Data.LoadFromEnumerable(SyntheticText.Pairs(240, seed: 3)));
            var metrics = ml.MulticlassClassification.Evaluate(model.Transform(ml.Data.LoadFromEnumerable(SyntheticText.Pairs(90, seed: 4))));
            Console.WriteLine($"pair accuracy {metrics.MicroAccuracy:P1}");
            metrics.MicroAccuracy.Should().BeGreaterThan(0.85, "both topics' words are in every pair: only the segment tells which one counts");
        }

        [TestMethod]
        public void Catalog_overload_takes_the_torchsharp_parameter_names()
        {
            var ml = new MLContext(seed: 1);
            var trainer = ml.MulticlassClassification.Trainers.TextClassification(labelColumnName: "Topic", scoreColumnName: "Probabilities",
                outputColumnName: "Predicted", sentence1ColumnName: "Text", sentence2ColumnName: "Other", batchSize: 8, maxEpochs: 3);
            var o = trainer.TrainerOptions;
            (o.LabelColumnName, o.ScoreColumnName, o.PredictedLabelColumnName, o.Sentence1ColumnName, o.Sentence2ColumnName, o.BatchSize, o.Epochs.GetValueOrDefault())
                .Should().Be(("Topic", "Probabilities", "Predicted", "Text", "Other", 8, 3));
        }

        [TestMethod]
        public void Metrics_callback_reports_epochs_with_validation()
        {
            var reports = new List<TrainingMetrics>();
            var ml = new MLContext(seed: 1);
            var options = SmallOptions(reports.Add);
            options.Epochs = 2;
            options.MetricsEveryBatches = 1;
            options.ValidationSetFraction = 0.2;
            Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options).WithMixedPrecision()).Fit(ml.Data.LoadFromEnumerable(Train.Take(60)));
            reports.Where(r => r.IsEpochEnd).Select(r => r.Epoch).Should().Equal(1, 2);
            reports.Should().Contain(r => !r.IsEpochEnd);
            reports.Where(r => r.IsEpochEnd).Should().OnlyContain(r => r.ValidationAccuracy.HasValue && r.SamplesPerSecond > 0);
        }

        [TestMethod]
        public void Same_seed_gives_identical_models()
        {
            float[] Scores()
            {
                var ml = new MLContext(seed: 1);
                var options = SmallOptions();
                options.Epochs = 2;
                var model = Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options)).Fit(ml.Data.LoadFromEnumerable(Train.Take(48)));
                return model.Transform(ml.Data.LoadFromEnumerable(Test.Take(5))).GetColumn<float[]>("Score").SelectMany(s => s).ToArray();
            }
            Scores().Should().Equal(Scores());
        }

        [TestMethod]
        public void Cancellation_token_stops_training()
        {
            var ml = new MLContext(seed: 1);
            using var cts = new System.Threading.CancellationTokenSource();
            var options = SmallOptions(m => cts.Cancel());
            options.MetricsEveryBatches = 1;
            options.CancellationToken = cts.Token;
            Action fit = () => Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options)).Fit(ml.Data.LoadFromEnumerable(Train));
            fit.Should().Throw<OperationCanceledException>();
        }

        [TestMethod]
        public void Early_stopping_ends_training_when_validation_stops_improving()
        {
            var ml = new MLContext(seed: 1);
            var options = SmallOptions();
            options.Epochs = 30;
            options.ValidationSetFraction = 0.2;
            options.EarlyStoppingPatience = 1;
            var model = Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options)).Fit(ml.Data.LoadFromEnumerable(Train.Take(60)));
            var summary = ((IEnumerable<ITransformer>)model).OfType<TextClassificationTransformer>().Single().Summary;
            summary.StoppedEarly.Should().BeTrue();
            summary.EpochsRun.Should().BeLessThan(30);
        }
    }
}
