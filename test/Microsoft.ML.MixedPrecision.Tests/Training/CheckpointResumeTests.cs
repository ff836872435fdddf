using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Training;
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
    }
}
