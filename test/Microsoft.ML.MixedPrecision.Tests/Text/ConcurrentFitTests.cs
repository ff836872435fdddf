using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    /// <summary>
    /// Autocast state is thread-local: a bf16 fit and a float32 fit running at once on two threads each keep their own
    /// precision; PredictionEngines on parallel threads, each over its own loaded copy of a model, score like Transform.
    /// (Engines on parallel threads over ONE loaded copy work too, if they do not own it: a default engine's Dispose disposes
    /// the model it was made from, ONNX session included, under the other threads. Scoring/ConcurrentServingTests.)
    /// </summary>
    [TestClass]
    public class ConcurrentFitTests
    {
        private static readonly List<SyntheticText.Row> Train = SyntheticText.Sentences(90, seed: 31);
        private static readonly List<SyntheticText.Row> Test = SyntheticText.Sentences(30, seed: 32);

        private static (double Accuracy, string Activation) FitAndEvaluate(bool amp)
        {
            var ml = new MLContext(seed: 1);
            var options = TextClassificationTrainerTests.SmallOptions();
            options.Epochs = 6;
            var trainer = ml.MulticlassClassification.Trainers.TextClassification(options);
            IEstimator<ITransformer> classifier = amp ? trainer.WithMixedPrecision(new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16 }) : trainer;
            var model = TextClassificationTrainerTests.Pipeline(ml, classifier).Fit(ml.Data.LoadFromEnumerable(Train));
            var summary = ((IEnumerable<ITransformer>)model).OfType<ClassifierTransformer>().Single().Summary;
            double accuracy = ml.MulticlassClassification.Evaluate(model.Transform(ml.Data.LoadFromEnumerable(Test))).MicroAccuracy;
            return (accuracy, summary.ObservedActivationType);
        }

        // Each fit is also bit-identical to itself alone (Training/SeededFitConcurrencyTests); here: each keeps its precision.
        [TestMethod]
        [Timeout(240_000)]
        public void Bf16_and_float32_fits_on_two_threads_at_once_each_keep_their_own_precision_and_learn()
        {
            var bf16 = Task.Factory.StartNew(() => FitAndEvaluate(amp: true), TaskCreationOptions.LongRunning);
            var fp32 = Task.Factory.StartNew(() => FitAndEvaluate(amp: false), TaskCreationOptions.LongRunning);
            Task.WaitAll(bf16, fp32);
            bf16.Result.Activation.Should().Be("BFloat16", "the float32 fit next to it must not switch its autocast off");
            fp32.Result.Activation.Should().Be("Float32", "the bf16 fit next to it must not autocast it");
            bf16.Result.Accuracy.Should().BeGreaterThan(0.8);
            fp32.Result.Accuracy.Should().BeGreaterThan(0.8);
        }

        [TestMethod]
        [Timeout(240_000)]
        public void Prediction_engines_on_parallel_threads_each_over_its_own_loaded_model_score_like_transform()
        {
            var ml = new MLContext(seed: 1);
            var options = TextClassificationTrainerTests.SmallOptions();
            options.Epochs = 1;
            var model = TextClassificationTrainerTests.Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options).WithMixedPrecision())
                .Fit(ml.Data.LoadFromEnumerable(Train));
            string zip = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"mp-parallel-{System.Guid.NewGuid():N}.zip");
            try
            {
                ml.Model.Save(model, ml.Data.LoadFromEnumerable(Train).Schema, zip);
                var loaded = ml.Model.Load(zip, out _);
                var expected = loaded.Transform(ml.Data.LoadFromEnumerable(Test)).GetColumn<float[]>("Score").ToArray();
                var results = new float[4][][];
                Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, t =>
                {
                    var mine = new MLContext(seed: 1).Model.Load(zip, out _);
                    using var engine = ml.Model.CreatePredictionEngine<SyntheticText.Row, ScoreRow>(mine);
                    results[t] = Enumerable.Range(0, 5).SelectMany(_ => Test).Select(r => engine.Predict(r).Score.ToArray()).ToArray();
                });
                var repeated = Enumerable.Range(0, 5).SelectMany(_ => expected).ToArray();
                foreach (var result in results)
                    result.Should().BeEquivalentTo(repeated, o => o.WithStrictOrdering());
            }
            finally
            {
                System.IO.File.Delete(zip);
            }
        }

        public sealed class ScoreRow
        {
            public float[] Score { get; set; }
        }
    }
}
