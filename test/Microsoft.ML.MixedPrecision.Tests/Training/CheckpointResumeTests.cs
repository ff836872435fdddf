using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Tests.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>
    /// A fit stopped part-way and fitted again with the same options resumes from its latest checkpoint and ends with
    /// exactly the weights and metrics of a fit that was never stopped.
    /// </summary>
    [TestClass]
    public sealed class CheckpointResumeTests
    {
        private string _folder;

        [TestInitialize]
        public void CreateFolder() => _folder = Path.Combine(Path.GetTempPath(), $"mp-ckpt-resume-{Guid.NewGuid():N}");

        [TestCleanup]
        public void DeleteFolder()
        {
            if (Directory.Exists(_folder))
                Directory.Delete(_folder, recursive: true);
        }

        [TestMethod]
        [Timeout(180_000)]
        [DataRow(TrainingPrecision.Float32)]
        [DataRow(TrainingPrecision.BFloat16)]
        [DataRow(TrainingPrecision.Float16)]
        public void Fit_canceled_mid_epoch_resumes_from_its_checkpoint_to_the_weights_and_metrics_of_an_uninterrupted_fit(TrainingPrecision precision)
        {
            var ml = new MLContext(seed: 1);
            var uninterrupted = CheckpointRun.Outcome(ml, CheckpointRun.Fit(ml, CheckpointRun.Options(checkpointDirectory: null), precision));

            // Checkpoints every 3 optimizer steps; canceled after step 11 (epoch 2 of 3), so the resumed fit redoes steps 10 and 11.
            using (var cancel = new CancellationTokenSource())
            {
                var interrupted = CheckpointRun.Options(_folder, everySteps: 3);
                interrupted.CancellationToken = cancel.Token;
                interrupted.MetricsEveryBatches = 1;
                interrupted.MetricsCallback = m => { if (m.OptimizerSteps == 11) cancel.Cancel(); };
                Action fit = () => CheckpointRun.Fit(ml, interrupted, precision);
                fit.Should().Throw<OperationCanceledException>();
            }
            Directory.GetFiles(_folder, "*.mpckpt").Should().HaveCount(2, "the two newest checkpoints are kept");

            var log = new List<string>();
            var resumedMl = new MLContext(seed: 1);
            resumedMl.Log += (_, e) => { if (e.Message.Contains("Resuming from checkpoint")) lock (log) log.Add(e.Message); };
            var resumed = CheckpointRun.Outcome(resumedMl, CheckpointRun.Fit(resumedMl, CheckpointRun.Options(_folder, everySteps: 3), precision));

            log.Should().ContainSingle().Which.Should().MatchRegex(@"Resuming from checkpoint '.*checkpoint-0+4\.mpckpt' \(epoch 2, batch 1, step 9\)\.$",
                "checkpoints: step 3, 6, epoch 1's end (step 8), step 9; step 11 was never checkpointed");
            resumed.Should().Equal(uninterrupted);
            Directory.GetFiles(_folder).Should().BeEmpty("a fit that finished deletes its checkpoints");
        }

        /// <summary>
        /// The checkpoint holds the fit's own generator: resumed while another fit with dropout trains on another thread,
        /// the fit draws the masks it would have drawn uninterrupted and alone.
        /// </summary>
        [TestMethod]
        [Timeout(120_000)]
        public void Fit_resumed_beside_another_fit_on_another_thread_ends_as_the_uninterrupted_fit_alone()
        {
            var ml = new MLContext(seed: 1);
            var uninterrupted = CheckpointRun.Outcome(ml, CheckpointRun.Fit(ml, CheckpointRun.Options(checkpointDirectory: null), TrainingPrecision.BFloat16));
            using (var cancel = new CancellationTokenSource())
            {
                var interrupted = CheckpointRun.Options(_folder, everySteps: 3);
                interrupted.CancellationToken = cancel.Token;
                interrupted.MetricsEveryBatches = 1;
                interrupted.MetricsCallback = m => { if (m.OptimizerSteps == 11) cancel.Cancel(); };
                Action fit = () => CheckpointRun.Fit(ml, interrupted, TrainingPrecision.BFloat16);
                fit.Should().Throw<OperationCanceledException>();
            }

            var other = CheckpointRun.Options(checkpointDirectory: null);
            other.Seed = 8;
            other.Epochs = 4; // outlasts the resumed fit's remaining steps
            using var start = new Barrier(2);
            var beside = Task.Factory.StartNew(() =>
            {
                start.SignalAndWait();
                var otherMl = new MLContext(seed: 2);
                return CheckpointRun.Fit(otherMl, other, TrainingPrecision.Float32);
            }, TaskCreationOptions.LongRunning);
            start.SignalAndWait();
            var resumedMl = new MLContext(seed: 1);
            var resumed = CheckpointRun.Outcome(resumedMl, CheckpointRun.Fit(resumedMl, CheckpointRun.Options(_folder, everySteps: 3), TrainingPrecision.BFloat16));
            beside.Wait();

            resumed.Should().Equal(uninterrupted);
        }

        [TestMethod]
        [Timeout(120_000)]
        public void Fit_canceled_at_an_epoch_end_resumes_at_the_next_epoch_with_the_same_outcome()
        {
            var ml = new MLContext(seed: 1);
            var uninterrupted = CheckpointRun.Outcome(ml, CheckpointRun.Fit(ml, CheckpointRun.Options(checkpointDirectory: null), TrainingPrecision.Float32));

            using (var cancel = new CancellationTokenSource())
            {
                var interrupted = CheckpointRun.Options(_folder, everySteps: null);
                interrupted.CancellationToken = cancel.Token;
                interrupted.MetricsCallback = m => { if (m.IsEpochEnd && m.Epoch == 2) cancel.Cancel(); };
                Action fit = () => CheckpointRun.Fit(ml, interrupted, TrainingPrecision.Float32);
                fit.Should().Throw<OperationCanceledException>();
            }

            var log = new List<string>();
            var resumedMl = new MLContext(seed: 1);
            resumedMl.Log += (_, e) => { if (e.Message.Contains("Resuming from checkpoint")) lock (log) log.Add(e.Message); };
            var resumed = CheckpointRun.Outcome(resumedMl, CheckpointRun.Fit(resumedMl, CheckpointRun.Options(_folder, everySteps: null), TrainingPrecision.Float32));

            log.Should().ContainSingle().Which.Should().Contain("(epoch 3, batch 0, step 16)");
            resumed.Should().Equal(uninterrupted);
        }

        [TestMethod]
        [Timeout(120_000)]
        public void Sgd_momentum_with_gradient_accumulation_resumes_mid_epoch_to_the_same_outcome()
        {
            static TextClassificationTrainer.Options Sgd(string folder)
            {
                var o = CheckpointRun.Options(folder, everySteps: 2);
                o.Optimizer = OptimizerKind.SgdMomentum;
                o.LearningRate = 0.05;
                o.GradientAccumulationSteps = 2; // 4 optimizer steps per epoch of 8 batches
                return o;
            }
            var ml = new MLContext(seed: 1);
            var uninterrupted = CheckpointRun.Outcome(ml, CheckpointRun.Fit(ml, Sgd(null), TrainingPrecision.Float32));

            using (var cancel = new CancellationTokenSource())
            {
                var interrupted = Sgd(_folder);
                interrupted.CancellationToken = cancel.Token;
                interrupted.MetricsEveryBatches = 1;
                interrupted.MetricsCallback = m => { if (m.OptimizerSteps == 7) cancel.Cancel(); };
                Action fit = () => CheckpointRun.Fit(ml, interrupted, TrainingPrecision.Float32);
                fit.Should().Throw<OperationCanceledException>();
            }
            var log = new List<string>();
            var resumedMl = new MLContext(seed: 1);
            resumedMl.Log += (_, e) => { if (e.Message.Contains("Resuming from checkpoint")) lock (log) log.Add(e.Message); };
            var resumed = CheckpointRun.Outcome(resumedMl, CheckpointRun.Fit(resumedMl, Sgd(_folder), TrainingPrecision.Float32));

            log.Should().ContainSingle().Which.Should().Contain("(epoch 2, batch 4, step 6)", "step 6 ends the second accumulation group of epoch 2");
            resumed.Should().Equal(uninterrupted);
        }

        /// <remarks>
        /// Compared with the interrupted fit's own epochs, not bit for bit with an uninterrupted fit: the float32 fine-tune
        /// of ResNet18 on this CPU is not bit-reproducible even uninterrupted (five fits in one process gave three
        /// different results from the first epoch that backpropagates through the convolutions, ~1e-6 apart; one
        /// libtorch thread did not make it reproducible), so the last epoch is checked against an uninterrupted fit
        /// only to 1e-3.
        /// </remarks>
        [TestMethod]
        [Timeout(300_000)]
        public void Pretrained_fine_tune_canceled_in_its_second_phase_skips_the_finished_head_phase_and_resumes_the_second()
        {
            using var images = new SyntheticImages(30, size: 32, seed: 22, color: true);
            ImageClassificationTrainer.Options Options(string folder) => new ImageClassificationTrainer.Options
            {
                FeatureColumnName = "ImageSource", Architecture = ResNetArchitecture.PretrainedResNet18, HeadOnlyEpochs = 1, Epochs = 2,
                BatchSize = 8, ImageHeight = 64, ImageWidth = 64, ValidationSetFraction = 0.2, Seed = 3,
                CheckpointDirectory = folder, CheckpointEverySteps = null, // epoch ends only: the network is 45 MB
            };
            ClassifierTransformer Fit(MLContext ml, ImageClassificationTrainer.Options options)
            {
                var raw = ml.Data.LoadFromEnumerable(images.Rows);
                var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw);
                return ml.MulticlassClassification.Trainers.ImageClassification(options).Fit(keyed);
            }

            var ml = new MLContext(seed: 1);
            var uninterrupted = Fit(ml, Options(null)).Summary;

            var interruptedEpochs = new List<TrainingMetrics>();
            using (var cancel = new CancellationTokenSource())
            {
                var interrupted = Options(_folder);
                interrupted.CancellationToken = cancel.Token;
                interrupted.MetricsCallback = m =>
                {
                    if (!m.IsEpochEnd)
                        return;
                    interruptedEpochs.Add(m);
                    if (m.Epoch == 2)
                        cancel.Cancel(); // after the first epoch of all layers: its checkpoint is written, then the fit stops
                };
                Action fit = () => Fit(ml, interrupted);
                fit.Should().Throw<OperationCanceledException>();
            }
            var log = new List<string>();
            var resumedMl = new MLContext(seed: 1);
            resumedMl.Log += (_, e) => { if (e.Message.Contains("Resuming from checkpoint") || e.Message.Contains("not trained again")) lock (log) log.Add(e.Message); };
            var resumed = Fit(resumedMl, Options(_folder)).Summary;

            log.Should().HaveCount(2);
            log[0].Should().Contain("(epoch 3, batch 0, step 6)", "3 head steps, then 3 steps of the first epoch of all layers");
            log[1].Should().Contain("the new head on the frozen backbone's features: finished before the checkpoint");
            resumed.Epochs.Select(e => e.Epoch).Should().Equal(1, 2, 3);
            resumed.OptimizerSteps.Should().Be(9);
            resumed.Epochs.Take(2).Should().BeEquivalentTo(interruptedEpochs, o => o.Excluding(m => m.Elapsed).Excluding(m => m.SamplesPerSecond),
                "the finished phase's summary and the epoch of the second phase come from the checkpoint");
            var last = resumed.Epochs[2];
            var expected = uninterrupted.Epochs[2];
            last.LearningRate.Should().Be(expected.LearningRate, "the schedule resumed at the checkpoint's step");
            last.TrainingLoss.Should().BeApproximately(expected.TrainingLoss, 1e-3);
            last.ValidationLoss.Value.Should().BeApproximately(expected.ValidationLoss.Value, 1e-3);
            resumed.BestEpoch.Should().Be(uninterrupted.BestEpoch);
            Directory.GetFiles(_folder).Should().BeEmpty();
        }
    }
}
