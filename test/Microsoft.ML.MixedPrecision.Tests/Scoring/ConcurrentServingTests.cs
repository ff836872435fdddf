using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Tests.Text;
using Microsoft.ML.MixedPrecision.Tests.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Scoring
{
    /// <summary>
    /// Serving a saved model on threads, as a web server does: the .zip is loaded ONCE with <c>mlContext.Model.Load</c> in a
    /// fresh MLContext, and several threads, started together, score every row several times, each through its own
    /// PredictionEngine (ML.NET's PredictionEngine is not thread-safe: one per thread, or a pool, is the documented pattern)
    /// or through <c>Transform</c> on the one shared model. Every Score must equal the single-threaded one and no call may
    /// throw. This runs in the test host, after the fits, with TorchSharp/libtorch and ONNX Runtime in one process.
    /// <para>
    /// The trap is disposal, not threads: <c>CreatePredictionEngine(model)</c> defaults to
    /// <c>PredictionEngineOptions.OwnsTransformer = true</c>, so disposing the engine disposes the model it was made from;
    /// a loaded model's OnnxTransformer then has no ONNX Runtime session left and every later Run on it, on any thread,
    /// throws (NullReferenceException in <c>InferenceSession.Run</c>; while other threads are inside Run, worse). The model
    /// as Fit returned it hides this: our ClassifierTransformer is not IDisposable, so the dispose never reaches its session.
    /// Engines that share a model are therefore made with <c>OwnsTransformer = false</c> (or are not disposed).
    /// </para>
    /// </summary>
    [TestClass]
    public class ConcurrentServingTests
    {
        private const int Threads = 4;
        private const int Rounds = 4;

        private static SyntheticImages _images;
        private static readonly List<SyntheticText.Row> TextRows = SyntheticText.Sentences(60, seed: 41);
        private static Lazy<string> _imageZip, _textZip;

        public sealed class Prediction
        {
            public string PredictedLabel { get; set; }
            public float[] Score { get; set; }
        }

        [ClassInitialize]
        public static void Initialize(TestContext context)
        {
            _images = new SyntheticImages(36, size: 12, seed: 7, color: true);
            _imageZip = new Lazy<string>(FitAndSaveImageModel, LazyThreadSafetyMode.ExecutionAndPublication);
            _textZip = new Lazy<string>(FitAndSaveTextModel, LazyThreadSafetyMode.ExecutionAndPublication);
        }

        [ClassCleanup]
        public static void Cleanup()
        {
            foreach (var zip in new[] { _imageZip, _textZip })
                if (zip is { IsValueCreated: true })
                    File.Delete(zip.Value);
            _images?.Dispose();
        }

        private static string FitAndSaveImageModel()
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(_images.Rows);
            var trainer = ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
            {
                FeatureColumnName = "ImageSource", Architecture = ResNetArchitecture.ResNetSmall, Epochs = 1, BatchSize = 12, ValidationSetFraction = 0, Seed = 3,
            }).WithMixedPrecision();
            var model = ml.Transforms.Conversion.MapValueToKey("Label").Append(trainer)
                .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel")).Fit(data);
            return Save(ml, model, data.Schema, "image");
        }

        private static string FitAndSaveTextModel()
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(TextRows);
            var options = TextClassificationTrainerTests.SmallOptions();
            options.Epochs = 1;
            var model = TextClassificationTrainerTests.Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options).WithMixedPrecision()).Fit(data);
            return Save(ml, model, data.Schema, "text");
        }

        private static string Save(MLContext ml, ITransformer model, DataViewSchema schema, string kind)
        {
            string zip = Path.Combine(Path.GetTempPath(), $"mp-serving-{kind}-{Guid.NewGuid():N}.zip");
            ml.Model.Save(model, schema, zip);
            return zip;
        }

        /// <summary>Runs <paramref name="work"/> on <see cref="Threads"/> dedicated threads released together; returns what they threw.</summary>
        private static List<Exception> RunTogether(Action<int, Barrier> work)
        {
            var errors = new ConcurrentQueue<Exception>();
            using var barrier = new Barrier(Threads);
            var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                try
                {
                    work(t, barrier);
                }
                catch (Exception e)
                {
                    errors.Enqueue(e);
                    barrier.RemoveParticipant();   // the others must not wait for this one at a later phase
                }
            }) { IsBackground = true, Name = $"serving-{t}" }).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join(TimeSpan.FromSeconds(50)).Should().BeTrue("a serving thread hung"));
            return errors.ToList();
        }

        private static void AssertServedLikeReference(List<Exception> errors, float[][][] results, float[][] reference, string how)
        {
            errors.Should().BeEmpty("{0} must not throw; got: {1}", how,
                string.Join(" | ", errors.Take(3).Select(e => e.GetType().Name + ": " + e.Message)));
            int mismatches = 0;
            string first = null;
            for (int t = 0; t < results.Length; t++)
                for (int i = 0; i < results[t].Length; i++)
                {
                    var expected = reference[i % reference.Length];
                    var actual = results[t][i];
                    bool same = actual != null && actual.Length == expected.Length &&
                                actual.Zip(expected, (a, e) => Math.Abs(a - e) <= 1e-6f).All(x => x);
                    if (!same)
                    {
                        mismatches++;
                        first ??= $"thread {t}, prediction {i}: [{string.Join(", ", actual ?? Array.Empty<float>())}] instead of [{string.Join(", ", expected)}]";
                    }
                }
            mismatches.Should().Be(0, "{0} must give every row the single-threaded Score; first mismatch: {1}", how, first);
            results.Should().OnlyContain(r => r.Length == reference.Length * Rounds);
        }

        /// <summary>Engines over a model other engines and threads share must not dispose it when they are disposed.</summary>
        private static readonly PredictionEngineOptions SharedModel = new PredictionEngineOptions { OwnsTransformer = false };

        /// <summary>One loaded model, a PredictionEngine per thread, every thread predicting every row <see cref="Rounds"/> times.</summary>
        private static void ServeWithAnEnginePerThread<TRow>(string zip, IReadOnlyList<TRow> rows) where TRow : class
        {
            var ml = new MLContext(seed: 5);
            var loaded = ml.Model.Load(zip, out _);
            float[][] reference;
            using (var single = ml.Model.CreatePredictionEngine<TRow, Prediction>(loaded, SharedModel))
                reference = rows.Select(r => single.Predict(r).Score.ToArray()).ToArray();
            var transformed = loaded.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Score").ToArray();
            for (int i = 0; i < rows.Count; i++)
                reference[i].Should().Equal(transformed[i], (a, b) => Math.Abs(a - b) <= 1e-6f, "a PredictionEngine scores row {0} like Transform", i);

            var results = new float[Threads][][];
            var errors = RunTogether((t, barrier) =>
            {
                barrier.SignalAndWait();   // the engines are created at the same moment too
                using var engine = ml.Model.CreatePredictionEngine<TRow, Prediction>(loaded, SharedModel);
                barrier.SignalAndWait();
                var mine = new List<float[]>();
                for (int round = 0; round < Rounds; round++)
                    foreach (var row in rows)
                        mine.Add(engine.Predict(row).Score.ToArray());
                results[t] = mine.ToArray();
            });
            AssertServedLikeReference(errors, results, reference, "PredictionEngines on parallel threads over one loaded model");
            loaded.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Score").ToArray()
                .Should().BeEquivalentTo(transformed, o => o.WithStrictOrdering(), "engines that do not own the model leave it usable when disposed");
        }

        /// <summary>One loaded model, every thread calling its Transform on the same input <see cref="Rounds"/> times.</summary>
        private static void ServeWithTransformOnEveryThread<TRow>(string zip, IReadOnlyList<TRow> rows) where TRow : class
        {
            var ml = new MLContext(seed: 5);
            var loaded = ml.Model.Load(zip, out _);
            var input = ml.Data.LoadFromEnumerable(rows);
            var reference = loaded.Transform(input).GetColumn<float[]>("Score").ToArray();

            var results = new float[Threads][][];
            var errors = RunTogether((t, barrier) =>
            {
                barrier.SignalAndWait();
                var mine = new List<float[]>();
                for (int round = 0; round < Rounds; round++)
                    mine.AddRange(loaded.Transform(input).GetColumn<float[]>("Score"));
                results[t] = mine.ToArray();
            });
            AssertServedLikeReference(errors, results, reference, "Transform on parallel threads over one loaded model");
        }

        [TestMethod]
        [Timeout(120_000)]
        public void Image_model_loaded_once_scores_identically_through_a_prediction_engine_per_thread_that_does_not_own_it()
            => ServeWithAnEnginePerThread(_imageZip.Value, _images.Rows);

        [TestMethod]
        [Timeout(120_000)]
        public void Text_model_loaded_once_scores_identically_through_a_prediction_engine_per_thread_that_does_not_own_it()
            => ServeWithAnEnginePerThread(_textZip.Value, TextRows);

        [TestMethod]
        [Timeout(120_000)]
        public void Image_model_loaded_once_scores_identically_through_transform_on_parallel_threads()
            => ServeWithTransformOnEveryThread(_imageZip.Value, _images.Rows);

        [TestMethod]
        [Timeout(120_000)]
        public void Text_model_loaded_once_scores_identically_through_transform_on_parallel_threads()
            => ServeWithTransformOnEveryThread(_textZip.Value, TextRows);
    
        /// <summary>ML.NET's default: the engine owns the model. Disposing it disposes the loaded model's ONNX session.</summary>
        private static void DisposingADefaultEngineBreaksTheLoadedModel<TRow>(string zip, IReadOnlyList<TRow> rows) where TRow : class
        {
            var ml = new MLContext(seed: 5);
            var loaded = ml.Model.Load(zip, out _);
            var input = ml.Data.LoadFromEnumerable(rows);
            using (var engine = ml.Model.CreatePredictionEngine<TRow, Prediction>(loaded))
                engine.Predict(rows[0]).Score.Should().NotBeEmpty();
            Action scoreAgain = () => loaded.Transform(input).GetColumn<float[]>("Score").ToArray();
            scoreAgain.Should().Throw<Exception>("PredictionEngineOptions.OwnsTransformer defaults to true, so the engine's Dispose " +
                "disposed the OnnxTransformer (and its InferenceSession) of the model every other engine and thread shares");
        }

        [TestMethod]
        [Timeout(120_000)]
        public void Disposing_a_default_prediction_engine_disposes_the_loaded_image_model_it_was_made_from()
            => DisposingADefaultEngineBreaksTheLoadedModel(_imageZip.Value, _images.Rows);

        [TestMethod]
        [Timeout(120_000)]
        public void Disposing_a_default_prediction_engine_disposes_the_loaded_text_model_it_was_made_from()
            => DisposingADefaultEngineBreaksTheLoadedModel(_textZip.Value, TextRows);
    }
}
