using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.ML.MixedPrecision.Training.Checkpoints;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>A checkpoint resumes only the fit that wrote it: other options, data or classes are refused, saying which.</summary>
    [TestClass]
    public sealed class CheckpointFingerprintTests
    {
        private static readonly long[] Labels = { 0, 1, 2, 0, 1, 2 };
        private static readonly string[] Classes = { "sports", "cooking", "space" };

        private static readonly string[] Texts = { "a", "b", "c", "d", "e", "f" };

        private static CheckpointFingerprint Of(ClassificationTrainerOptionsBase options, long[] labels = null, string[] classes = null,
            MixedPrecisionOptions mixed = null, int seed = 7, string[] texts = null)
            => CheckpointFingerprint.Create(options, mixed, mixed == null ? TrainingPrecision.Float32 : TrainingPrecision.BFloat16, "cpu", seed,
                new Examples(labels ?? Labels, texts ?? Texts), new Examples(new long[] { 1, 0 }, new[] { "g", "h" }), classes ?? Classes);

        /// <summary>Labelled texts, as the trainers read them.</summary>
        private sealed class Examples : IExampleSet<Examples>
        {
            private readonly string[] _texts;

            public Examples(long[] labels, string[] texts)
            {
                Labels = labels;
                _texts = texts;
            }

            public int Count => Labels.Length;
            public long[] Labels { get; }
            public Examples Subset(int[] indices) => new Examples(indices.Select(i => Labels[i]).ToArray(), indices.Select(i => _texts[i]).ToArray());
            public void HashFeatures(IncrementalHash hash)
            {
                foreach (string text in _texts)
                    hash.AppendData(Encoding.UTF8.GetBytes(text + "\n"));
            }
        }

        [TestMethod]
        public void A_checkpoint_of_two_processes_resumes_only_with_two_processes()
        {
            var options = CheckpointRun.Options("/a");
            Of2(options, worldSize: 2).Mismatch(Of2(options, worldSize: 2)).Should().BeNull();
            Of2(options, worldSize: 1).Mismatch(Of2(options, worldSize: 2)).Should().Contain("(world size): 2 in the checkpoint, absent now");
            Of2(options, worldSize: 3).Mismatch(Of2(options, worldSize: 2)).Should().Contain("(world size): 2 in the checkpoint, 3 now");
            options.DataParallel = DataParallelMode.Off;
            Of2(options, worldSize: 1).Mismatch(Of(CheckpointRun.Options("/a"))).Should().BeNull("how processes are launched is not the fit's identity");
        }

        private static CheckpointFingerprint Of2(ClassificationTrainerOptionsBase options, int worldSize)
            => CheckpointFingerprint.Create(options, null, TrainingPrecision.Float32, "cpu", 7, new Examples(Labels, Texts),
                new Examples(new long[] { 1, 0 }, new[] { "g", "h" }), Classes, worldSize);

        [TestMethod]
        public void The_same_fit_matches_whatever_its_callbacks_token_and_checkpoint_options()
        {
            var saved = Of(CheckpointRun.Options("/a"));
            var other = CheckpointRun.Options("/b", everySteps: 50);
            other.CheckpointsToKeep = 5;
            other.MetricsCallback = _ => { };
            other.MetricsEveryBatches = 1;
            other.CancellationToken = new CancellationTokenSource().Token;
            Of(other).Mismatch(saved).Should().BeNull();
        }

        [TestMethod]
        public void Other_options_are_named_with_both_values()
        {
            var saved = Of(CheckpointRun.Options("/a"));
            var other = CheckpointRun.Options("/a");
            other.BatchSize = 32;
            other.LearningRate = 0.001;
            Of(other).Mismatch(saved).Should().Be("other options (BatchSize: 16 in the checkpoint, 32 now, LearningRate: 0.002 in the checkpoint, 0.001 now)");
            Of(CheckpointRun.Options("/a"), seed: 8).Mismatch(saved).Should().Contain("Seed: 7 in the checkpoint, 8 now");
            Of(CheckpointRun.Options("/a"), mixed: new MixedPrecisionOptions()).Mismatch(saved)
                .Should().StartWith("other options ((precision): Float32 in the checkpoint, BFloat16 now, MixedPrecision.BackoffFactor: absent in the checkpoint, 0.5 now");
        }

        [TestMethod]
        public void Other_data_is_told_apart_by_row_count_then_by_labels()
        {
            var saved = Of(CheckpointRun.Options("/a"));
            Of(CheckpointRun.Options("/a"), labels: Labels.Take(5).ToArray(), texts: Texts.Take(5).ToArray()).Mismatch(saved)
                .Should().Be("other data (6 training and 2 validation rows in the checkpoint, 5 and 2 now)");
            Of(CheckpointRun.Options("/a"), labels: new long[] { 0, 1, 2, 0, 2, 1 }).Mismatch(saved)
                .Should().Be("other data (as many rows, but other labels or another row order)");
        }

        [TestMethod]
        public void Other_features_with_the_same_labels_are_told_apart()
        {
            var saved = Of(CheckpointRun.Options("/a"));
            Of(CheckpointRun.Options("/a"), texts: new[] { "a", "b", "c", "d", "e", "F" }).Mismatch(saved)
                .Should().Be("other data (as many rows and the same labels, but other images or texts)");
        }

        [TestMethod]
        public void Other_classes_are_listed()
        {
            var saved = Of(CheckpointRun.Options("/a"));
            Of(CheckpointRun.Options("/a"), classes: new[] { "sport", "cooking", "space" }).Mismatch(saved)
                .Should().Be("other classes ([sports, cooking, space] in the checkpoint, [sport, cooking, space] now)");
        }

        [TestMethod]
        [Timeout(120_000)]
        public void Fit_refuses_a_checkpoint_of_other_options_naming_the_option_the_file_and_what_to_do()
        {
            string folder = Path.Combine(Path.GetTempPath(), $"mp-ckpt-refuse-{Guid.NewGuid():N}");
            try
            {
                var ml = new MLContext(seed: 1);
                using (var cancel = new CancellationTokenSource())
                {
                    var interrupted = CheckpointRun.Options(folder, everySteps: 2);
                    interrupted.CancellationToken = cancel.Token;
                    interrupted.MetricsEveryBatches = 1;
                    interrupted.MetricsCallback = m => { if (m.OptimizerSteps == 2) cancel.Cancel(); };
                    Action stopped = () => CheckpointRun.Fit(ml, interrupted, TrainingPrecision.Float32);
                    stopped.Should().Throw<OperationCanceledException>();
                }
                Directory.GetFiles(folder, "*.mpckpt").Should().ContainSingle();

                var other = CheckpointRun.Options(folder);
                other.Epochs = 4;
                Action refused = () => CheckpointRun.Fit(ml, other, TrainingPrecision.Float32);
                refused.Should().Throw<InvalidOperationException>()
                    .WithMessage($"The checkpoint '*checkpoint-00000001.mpckpt' was written by a fit with other options (Epochs: 3 in the checkpoint, 4 now)*" +
                                 $"delete the checkpoint files in '{folder}'*or set CheckpointDirectory to another folder.");
                Directory.GetFiles(folder, "*.mpckpt").Should().ContainSingle("a refused checkpoint is left alone");
            }
            finally
            {
                if (Directory.Exists(folder))
                    Directory.Delete(folder, recursive: true);
            }
        }
    }
}
