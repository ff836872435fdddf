using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Threading;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;
using Microsoft.ML.MixedPrecision.Tests.Text;
using Microsoft.ML.MixedPrecision.Tests.Vision;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>
    /// Cancellation (the option's token and MLContext's own CancelExecution) ends a fit within one step wherever it
    /// lands, leaves no live tensor behind, restores the autocast state, and the next fit runs as if nothing had happened.
    /// </summary>
    [TestClass]
    public class CancellationTests
    {
        private static SyntheticImages _images;

        [ClassInitialize]
        public static void CreateImages(TestContext context) => _images = new SyntheticImages(60, size: 8, seed: 21);

        [ClassCleanup]
        public static void DeleteImages() => _images?.Dispose();

        private static ImageClassificationTrainer.Options Options(Action<TrainingMetrics> callback, CancellationToken token = default) => new ImageClassificationTrainer.Options
        {
            FeatureColumnName = "ImageSource", Architecture = ResNetArchitecture.ResNetTiny, Epochs = 3, BatchSize = 4, Seed = 5,
            ValidationSetFraction = 0.25, MetricsEveryBatches = 1, MetricsCallback = callback, CancellationToken = token,
        };

        private static IDataView Data(MLContext ml, IEnumerable<SyntheticImages.Row> rows = null)
        {
            var keyer = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(_images.Rows));
            return keyer.Transform(ml.Data.LoadFromEnumerable(rows ?? _images.Rows));
        }

        private static long? _completedFitLeftover;

        /// <summary>What a completed fit of <see cref="Options"/> leaves in <see cref="TorchTensorCount.AfterGc"/>.</summary>
        private static long CompletedFitLeftover()
        {
            if (_completedFitLeftover is long known)
                return known;
            var ml = new MLContext(1);
            var data = Data(ml);
            long before = TorchTensorCount.AfterGc();
            ml.MulticlassClassification.Trainers.ImageClassification(Options(null)).Fit(data);
            _completedFitLeftover = TorchTensorCount.AfterGc() - before;
            return _completedFitLeftover.Value;
        }

        private static void CancelExecution(MLContext ml)
        {
            // Internal in ML.NET 5 (AutoML and Model Builder call it); the trainers honour it.
            var cancel = typeof(MLContext).GetMethod("CancelExecution", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public);
            cancel.Should().NotBeNull("ML.NET's MLContext.CancelExecution");
            cancel.Invoke(ml, null);
        }

        [TestMethod]
        [Timeout(120_000)]
        public void Token_cancelled_at_random_batches_ends_the_fit_at_once_and_leaves_no_extra_tensor()
        {
            var random = new Random(7);
            long leftover = CompletedFitLeftover();
            var ml = new MLContext(1);
            var data = Data(ml);
            // 45 training rows / 4 = 12 batches per epoch, 3 epochs: cancel somewhere in the 36 batch reports.
            foreach (int cancelAt in Enumerable.Range(0, 3).Select(_ => random.Next(1, 33)))
            {
                long before = TorchTensorCount.AfterGc();
                using var source = new CancellationTokenSource();
                int reports = 0, reportsAfterCancel = 0;
                void Callback(TrainingMetrics m)
                {
                    if (source.IsCancellationRequested)
                        reportsAfterCancel++;
                    if (!m.IsEpochEnd && ++reports == cancelAt)
                        source.Cancel();
                }
                Action fit = () => ml.MulticlassClassification.Trainers.ImageClassification(Options(Callback, source.Token)).Fit(data);
                fit.Should().Throw<OperationCanceledException>($"cancelled at batch report {cancelAt}");
                reportsAfterCancel.Should().Be(0, "the loop checks before every batch, so no step runs after the cancel");
                (TorchTensorCount.AfterGc() - before).Should().Be(leftover, $"a fit cancelled at batch report {cancelAt} leaves what a completed fit leaves");
            }
        }

        [TestMethod]
        [Timeout(120_000)]
        public void MLContext_cancel_at_random_batches_ends_a_bfloat16_fit_at_once_and_restores_autocast()
        {
            var random = new Random(8);
            long leftover = CompletedFitLeftover();
            foreach (int cancelAt in Enumerable.Range(0, 2).Select(_ => random.Next(1, 33)))
            {
                var ml = new MLContext(1); // a cancelled MLContext stays cancelled, as in ML.NET
                var data = Data(ml);
                long before = TorchTensorCount.AfterGc();
                int reports = 0, reportsAfterCancel = 0;
                bool cancelled = false;
                void Callback(TrainingMetrics m)
                {
                    if (cancelled)
                        reportsAfterCancel++;
                    if (!m.IsEpochEnd && ++reports == cancelAt)
                    {
                        cancelled = true;
                        CancelExecution(ml);
                    }
                }
                Action fit = () => ml.MulticlassClassification.Trainers.ImageClassification(Options(Callback))
                    .WithMixedPrecision(new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16 }).Fit(data);
                fit.Should().Throw<OperationCanceledException>($"cancelled through MLContext at batch report {cancelAt}");
                reportsAfterCancel.Should().Be(0);
                Autocast.IsEnabled(DeviceType.CPU).Should().BeFalse("the autocast region is left when the fit throws");
                (TorchTensorCount.AfterGc() - before).Should().Be(leftover);
            }
        }

        [TestMethod]
        [Timeout(120_000)]
        public void Cancel_while_the_data_is_read_stops_the_read()
        {
            var ml = new MLContext(1);
            using var source = new CancellationTokenSource();
            // Rows are produced lazily, as a cursor asks for them: the token is cancelled when row 20 is produced.
            IEnumerable<SyntheticImages.Row> Rows()
            {
                for (int i = 0; i < _images.Rows.Count; i++)
                {
                    if (i == 20)
                        source.Cancel();
                    yield return _images.Rows[i];
                }
            }
            var data = Data(ml, Rows());
            int reports = 0;
            Action fit = () => ml.MulticlassClassification.Trainers.ImageClassification(Options(_ => reports++, source.Token)).Fit(data);
            fit.Should().Throw<OperationCanceledException>().Which.StackTrace.Should().Contain("ImageFitSteps.", "the read's per-row check stops it");
            reports.Should().Be(0, "no training step runs");
        }

        [TestMethod]
        [Timeout(120_000)]
        public void Cancel_in_the_last_epochs_report_stops_before_the_export()
        {
            var ml = new MLContext(1);
            var data = Data(ml);
            using var source = new CancellationTokenSource();
            void Callback(TrainingMetrics m)
            {
                if (m.IsEpochEnd && m.Epoch == 3)
                    source.Cancel();
            }
            var options = Options(Callback, source.Token);
            options.Epochs = 3;
            Action fit = () => ml.MulticlassClassification.Trainers.ImageClassification(options).Fit(data);
            fit.Should().Throw<OperationCanceledException>("a fit cancelled after its last step returns no model");
        }

        [TestMethod]
        [Timeout(180_000)]
        public void Cancel_by_timer_at_random_moments_ends_the_fit_within_one_step()
        {
            // The moments fall anywhere: reading, training batches, validation, export.
            var random = new Random(9);
            var ml = new MLContext(1);
            var data = Data(ml);
            int cancelledFits = 0;
            for (int run = 0; run < 4; run++)
            {
                int delay = random.Next(0, 1500);
                using var source = new CancellationTokenSource();
                int reportsAfterCancel = 0;
                void Callback(TrainingMetrics m)
                {
                    if (source.IsCancellationRequested)
                        reportsAfterCancel++;
                }
                var clock = System.Diagnostics.Stopwatch.StartNew();
                TimeSpan? cancelledAt = null;
                using var registration = source.Token.Register(() => cancelledAt = clock.Elapsed);
                source.CancelAfter(delay);
                try
                {
                    ml.MulticlassClassification.Trainers.ImageClassification(Options(Callback, source.Token)).Fit(data);
                    var returnedAt = clock.Elapsed;
                    // Fit checks the token just before it returns; a timer firing between that check and here is not a miss.
                    if (cancelledAt is TimeSpan at)
                        at.Should().BeGreaterThan(returnedAt - TimeSpan.FromMilliseconds(20),
                            $"a fit that returns a model was not cancelled before its end (delay {delay} ms)");
                }
                catch (OperationCanceledException)
                {
                    cancelledFits++;
                    reportsAfterCancel.Should().BeLessThanOrEqualTo(1, $"at most the step under way when the timer fired reports (delay {delay} ms)");
                }
            }
            cancelledFits.Should().BeGreaterThan(0, "some timers fire during the fit");
        }

        [TestMethod]
        [Timeout(120_000)]
        public void Text_fit_cancelled_through_MLContext_stops_at_once()
        {
            var ml = new MLContext(1);
            int reportsAfterCancel = 0;
            bool cancelled = false;
            var options = TextClassificationTrainerTests.SmallOptions(m =>
            {
                if (cancelled)
                    reportsAfterCancel++;
                if (!m.IsEpochEnd && m.BatchesProcessed == 3 && m.Epoch == 2)
                {
                    cancelled = true;
                    CancelExecution(ml);
                }
            });
            options.MetricsEveryBatches = 1;
            options.Epochs = 2;
            var data = ml.Data.LoadFromEnumerable(SyntheticText.Sentences(96, seed: 4));
            var completed = TextClassificationTrainerTests.SmallOptions();
            completed.Epochs = 2;
            long start = TorchTensorCount.AfterGc();
            TextClassificationTrainerTests.Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(completed)).Fit(data);
            long before = TorchTensorCount.AfterGc(), leftover = before - start;
            Action fit = () => TextClassificationTrainerTests.Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options)).Fit(data);
            fit.Should().Throw<OperationCanceledException>();
            cancelled.Should().BeTrue();
            reportsAfterCancel.Should().Be(0);
            (TorchTensorCount.AfterGc() - before).Should().Be(leftover, "a cancelled text fit leaves what a completed one leaves");
        }

        [TestMethod]
        [Timeout(120_000)]
        public void Fit_after_a_cancelled_fit_gives_the_model_an_undisturbed_fit_gives()
        {
            var ml = new MLContext(1);
            var data = Data(ml);
            float[] Scores(ITransformer model) => model.Transform(data).GetColumn<float[]>("Score").SelectMany(s => s).ToArray();
            var undisturbed = Scores(ml.MulticlassClassification.Trainers.ImageClassification(Options(null)).Fit(data));

            using var source = new CancellationTokenSource();
            var cancelling = Options(m => { if (m.BatchesProcessed == 5) source.Cancel(); }, source.Token);
            Action fit = () => ml.MulticlassClassification.Trainers.ImageClassification(cancelling)
                .WithMixedPrecision(new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16 }).Fit(data);
            fit.Should().Throw<OperationCanceledException>();

            var after = Scores(ml.MulticlassClassification.Trainers.ImageClassification(Options(null)).Fit(data));
            after.Should().Equal(undisturbed, "the seeded float32 fit is reproducible, and the cancelled one left no state behind");
        }
    }
}
