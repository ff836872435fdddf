using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using FluentAssertions;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>
    /// The crash the checkpoints exist for: a training process killed with SIGKILL at a random step (no cleanup, no
    /// flush, possibly mid-write) and run again resumes from its newest whole checkpoint and ends exactly where an
    /// uninterrupted run ends.
    /// </summary>
    [TestClass]
    public sealed class CheckpointKillTests
    {
        private const int StepsPerEpoch = 8; // CheckpointRun: 128 training rows in batches of 16

        [TestMethod]
        [Timeout(300_000)]
        [DataRow(TrainingPrecision.Float32)]
        [DataRow(TrainingPrecision.BFloat16)]
        public void Process_killed_at_a_random_step_and_rerun_ends_with_the_weights_and_metrics_of_an_uninterrupted_run(TrainingPrecision precision)
        {
            string folder = Path.Combine(Path.GetTempPath(), $"mp-ckpt-kill-{Guid.NewGuid():N}");
            try
            {
                var uninterrupted = Task.Run(() => RunToEnd("-", precision));

                int killAfter = new Random().Next(2, CheckpointRun.Epochs * StepsPerEpoch - 2);
                if (killAfter % StepsPerEpoch == 0)
                    killAfter--; // an epoch's last step reports only at the epoch's end, before its checkpoint: no STEP line
                Console.WriteLine($"killing the child after it reports step {killAfter}");
                using (var child = Start(folder, precision))
                {
                    var stderr = child.StandardError.ReadToEndAsync();
                    string line;
                    while ((line = child.StandardOutput.ReadLine()) != null && line != "STEP\t" + killAfter)
                    {
                    }
                    line.Should().NotBeNull($"the child reaches step {killAfter} (stderr: {(child.HasExited ? stderr.Result : "")})");
                    child.Kill(); // SIGKILL on Unix: no handler, no finally block, no flush runs in the child
                    child.WaitForExit(60_000).Should().BeTrue();
                    if (!OperatingSystem.IsWindows())
                        child.ExitCode.Should().Be(128 + 9, "the child died of SIGKILL");
                }
                var left = Directory.GetFiles(folder).Select(Path.GetFileName).ToList();
                Console.WriteLine("left by the killed child: " + string.Join(", ", left));
                left.Count(f => f.EndsWith(".mpckpt")).Should().BeInRange(1, 2, "the newest two checkpoints are kept");

                var rerun = RunToEnd(folder, precision);
                var resumed = rerun.Single(l => l.StartsWith("LOG\t"));
                Console.WriteLine(resumed);
                int step = int.Parse(Regex.Match(resumed, @"step (\d+)\)").Groups[1].Value, CultureInfo.InvariantCulture);
                step.Should().BeGreaterThanOrEqualTo(killAfter, "the checkpoint of every step the child reported was whole");

                var expected = uninterrupted.Result.Where(IsOutcome).ToList();
                expected.Should().HaveCount(CheckpointRun.Epochs + 2);
                rerun.Where(IsOutcome).Should().Equal(expected, "the resumed run ends with the same metrics and weights");
                Directory.GetFiles(folder).Should().BeEmpty("the finished fit deleted its checkpoints");
            }
            finally
            {
                if (Directory.Exists(folder))
                    Directory.Delete(folder, recursive: true);
            }
        }

        private static bool IsOutcome(string line) => line.StartsWith("EPOCH\t") || line.StartsWith("SUMMARY\t") || line.StartsWith("MODEL\t");

        private static List<string> RunToEnd(string folder, TrainingPrecision precision)
            => ChildProcess.Run("CheckpointChildDll", TimeSpan.FromSeconds(240), $"checkpoint child ({folder}, {precision})", folder, precision.ToString());

        private static Process Start(string folder, TrainingPrecision precision)
            => ChildProcess.Start("CheckpointChildDll", folder, precision.ToString());
    }
}
