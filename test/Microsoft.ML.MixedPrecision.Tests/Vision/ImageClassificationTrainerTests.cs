using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Vision
{
    [TestClass]
    public class ImageClassificationTrainerTests
    {
        private static SyntheticImages _train;
        private static SyntheticImages _test;

        [ClassInitialize]
        public static void CreateImages(TestContext context)
        {
            _train = new SyntheticImages(150, size: 16, seed: 1);
            _test = new SyntheticImages(60, size: 16, seed: 2);
        }

        [ClassCleanup]
        public static void DeleteImages()
        {
            _train?.Dispose();
            _test?.Dispose();
        }

        private static ImageClassificationTrainer.Options SmallOptions(Action<TrainingMetrics> callback = null) => new ImageClassificationTrainer.Options
        {
            FeatureColumnName = "ImageSource",
            Architecture = ResNetArchitecture.ResNetSmall, // the network from scratch (Auto would take the pretrained one for 150 images)
            Epochs = 6,
            BatchSize = 16,
            LearningRate = 0.003,
            ValidationSetFraction = 0,
            Seed = 42,
            MetricsCallback = callback,
        };

        private static IEstimator<ITransformer> Pipeline(MLContext ml, IEstimator<ITransformer> trainer) =>
            ml.Transforms.Conversion.MapValueToKey("Label")
                .Append(trainer)
                .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

        private static MulticlassClassificationMetrics Evaluate(MLContext ml, ITransformer model, IDataView data)
            => ml.MulticlassClassification.Evaluate(model.Transform(data));

        [TestMethod]
        public void Float32_training_learns_synthetic_images()
        {
            var ml = new MLContext(seed: 1);
            var train = ml.Data.LoadFromEnumerable(_train.Rows);
            var test = ml.Data.LoadFromEnumerable(_test.Rows);
            var model = Pipeline(ml, ml.MulticlassClassification.Trainers.ImageClassification(SmallOptions())).Fit(train);
            var metrics = Evaluate(ml, model, test);
            metrics.MacroAccuracy.Should().BeGreaterThan(0.85);
            var trainer = ((IEnumerable<ITransformer>)model).OfType<ImageClassificationTransformer>().Single();
            trainer.Summary.Precision.Should().Be(TrainingPrecision.Float32);
            trainer.Summary.ObservedActivationType.Should().Be("Float32");
            trainer.ClassNames.Should().Equal("horizontal", "vertical", "blob");
        }

        [TestMethod]
        public void Mixed_precision_training_runs_the_forward_in_bfloat16_and_learns()
        {
            var ml = new MLContext(seed: 1);
            var train = ml.Data.LoadFromEnumerable(_train.Rows);
            var test = ml.Data.LoadFromEnumerable(_test.Rows);
            var estimator = ml.MulticlassClassification.Trainers.ImageClassification(SmallOptions())
                .WithMixedPrecision(new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16 });
            var model = Pipeline(ml, estimator).Fit(train);
            var amp = ((IEnumerable<ITransformer>)model).OfType<ImageClassificationTransformer>().Single();
            amp.Summary.Precision.Should().Be(TrainingPrecision.BFloat16);
            amp.Summary.ObservedActivationType.Should().Be("BFloat16", "the ResNet's first convolution ran under bf16 autocast");
            amp.Summary.SkippedSteps.Should().Be(0);
            amp.Summary.FinalLossScale.Should().Be(1.0, "bf16 needs no loss scaling");
            Evaluate(ml, model, test).MacroAccuracy.Should().BeGreaterThan(0.85);
        }

        [TestMethod]
        public void Auto_precision_picks_bfloat16_on_a_cpu_with_fast_bf16_and_float32_on_others()
        {
            // Machines here differ (some have no AVX512-BF16); PrecisionResolverTests takes both branches on any CPU.
            var expected = Microsoft.ML.MixedPrecision.Amp.AmpCapabilities.CpuHasFastBFloat16 ? TrainingPrecision.BFloat16 : TrainingPrecision.Float32;
            var ml = new MLContext(seed: 1);
            var options = SmallOptions();
            options.Epochs = 1;
            var model = Pipeline(ml, ml.MulticlassClassification.Trainers.ImageClassification(options).WithMixedPrecision())
                .Fit(ml.Data.LoadFromEnumerable(_train.Rows.Take(30)));
            ((IEnumerable<ITransformer>)model).OfType<ImageClassificationTransformer>().Single().Summary.Precision.Should().Be(expected);
        }

        [TestMethod]
        public void Float16_training_uses_the_grad_scaler()
        {
            var ml = new MLContext(seed: 1);
            var options = SmallOptions();
            options.Epochs = 1;
            var model = Pipeline(ml, ml.MulticlassClassification.Trainers.ImageClassification(options)
                    .WithMixedPrecision(new MixedPrecisionOptions { Precision = TrainingPrecision.Float16, GrowthInterval = 3 }))
                .Fit(ml.Data.LoadFromEnumerable(_train.Rows.Take(48)));
            var amp = ((IEnumerable<ITransformer>)model).OfType<ImageClassificationTransformer>().Single();
            amp.Summary.Precision.Should().Be(TrainingPrecision.Float16);
            amp.Summary.ObservedActivationType.Should().Be("Float16");
            amp.Summary.FinalLossScale.Should().NotBe(1.0, "loss scaling is on by default for Float16");
        }

        [TestMethod]
        public void Same_seed_gives_identical_models()
        {
            float[] Scores()
            {
                var ml = new MLContext(seed: 1);
                var options = SmallOptions();
                options.Epochs = 2;
                var model = Pipeline(ml, ml.MulticlassClassification.Trainers.ImageClassification(options)).Fit(ml.Data.LoadFromEnumerable(_train.Rows.Take(48)));
                return model.Transform(ml.Data.LoadFromEnumerable(_test.Rows.Take(5))).GetColumn<float[]>("Score").SelectMany(s => s).ToArray();
            }
            Scores().Should().Equal(Scores());
        }

        [TestMethod]
        public void Metrics_callback_reports_epochs_precision_and_throughput()
        {
            var reports = new List<TrainingMetrics>();
            var ml = new MLContext(seed: 1);
            var options = SmallOptions(reports.Add);
            options.Epochs = 2;
            options.MetricsEveryBatches = 1;
            options.ValidationSetFraction = 0.2;
            Pipeline(ml, ml.MulticlassClassification.Trainers.ImageClassification(options)
                    .WithMixedPrecision(new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16 }))
                .Fit(ml.Data.LoadFromEnumerable(_train.Rows.Take(60)));
            reports.Where(r => r.IsEpochEnd).Select(r => r.Epoch).Should().Equal(1, 2);
            reports.Should().Contain(r => !r.IsEpochEnd);
            reports.Should().OnlyContain(r => r.Precision == TrainingPrecision.BFloat16 && r.SamplesPerSecond > 0 && r.LearningRate > 0);
            reports.Where(r => r.IsEpochEnd).Should().OnlyContain(r => r.ValidationAccuracy.HasValue && r.ValidationLoss.HasValue);
        }

        [TestMethod]
        public void Progress_goes_to_the_mlcontext_log()
        {
            var messages = new List<string>();
            var ml = new MLContext(seed: 1);
            ml.Log += (_, e) => { if (e.Source.Contains("ImageClassification")) lock (messages) messages.Add(e.Message); };
            var options = SmallOptions();
            options.Epochs = 1;
            Pipeline(ml, ml.MulticlassClassification.Trainers.ImageClassification(options)).Fit(ml.Data.LoadFromEnumerable(_train.Rows.Take(30)));
            messages.Should().Contain(m => m.Contains("epoch 1"));
        }

        [TestMethod]
        public void Cancellation_token_stops_training()
        {
            var ml = new MLContext(seed: 1);
            using var cancel = new CancellationTokenSource();
            var options = SmallOptions(m => cancel.Cancel());
            options.MetricsEveryBatches = 1;
            Action fit = () => Pipeline(ml, ml.MulticlassClassification.Trainers.ImageClassification(options)).Fit(ml.Data.LoadFromEnumerable(_train.Rows));
            options.CancellationToken = cancel.Token;
            fit.Should().Throw<OperationCanceledException>();
        }

        [TestMethod]
        public void MLContext_cancel_execution_stops_training()
        {
            var ml = new MLContext(seed: 1);
            // MLContext.CancelExecution() is internal in ML.NET 5 (AutoML and Model Builder call it); invoke it like they do.
            var cancel = typeof(MLContext).GetMethod("CancelExecution", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public);
            var options = SmallOptions(m => cancel.Invoke(ml, null));
            options.MetricsEveryBatches = 1;
            Action fit = () => Pipeline(ml, ml.MulticlassClassification.Trainers.ImageClassification(options)).Fit(ml.Data.LoadFromEnumerable(_train.Rows));
            fit.Should().Throw<OperationCanceledException>();
        }
    }
}
