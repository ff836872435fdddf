using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using FluentAssertions;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Distributed
{
    /// <summary>
    /// Data-parallel fits launched as users launch them: <c>mpirun -np 2</c> on this machine (shared memory, or TCP over
    /// loopback), the DistributedHost program fitting a small seeded model on synthetic data (docs/distributed.md).
    /// </summary>
    [TestClass]
    public sealed class DataParallelTests
    {
        [TestMethod]
        [Timeout(240_000)]
        [DataRow("vader")] // Open MPI's shared-memory transport: what one machine uses
        [DataRow("tcp")]   // --mca btl tcp,self: the transport between machines, over loopback
        public void Two_ranks_end_with_the_same_weights_and_batchnorm_statistics(string transport)
        {
            using var job = new MpiJob();
            var options = transport == "tcp" ? new[] { "--mca", "btl", "tcp,self" } : Array.Empty<string>();

            // The from-scratch ResNet has BatchNorm: its running statistics differ per rank within an epoch and are averaged at its end.
            var ranks = job.Fit(2, "image", TrainingPrecision.Float32, batchSize: 8, "image", "-", options);

            MpiJob.Line(ranks[0], "SUMMARY").Should().StartWith("SUMMARY\t2\t0\t");
            MpiJob.Line(ranks[1], "SUMMARY").Should().StartWith("SUMMARY\t2\t1\t");
            MpiJob.Line(ranks[1], "MODEL").Should().Be(MpiJob.Line(ranks[0], "MODEL"), "every rank's Fit returns the same model");
            ranks[1].Where(l => l.StartsWith("EPOCH\t")).Should().Equal(ranks[0].Where(l => l.StartsWith("EPOCH\t")),
                "the ranks report the same summed metrics and so decide best weights and early stopping alike");
            MpiJob.Line(ranks[0], "LIBMPI").Should().Be("LIBMPI\tTrue");
        }

        [TestMethod]
        [Timeout(240_000)]
        [DataRow(TrainingPrecision.Float32, 1e-6)]  // measured 3e-8
        [DataRow(TrainingPrecision.BFloat16, 2e-3)] // measured 1.3e-4
        public void Two_ranks_at_batch_B_train_what_one_process_trains_at_batch_2B(TrainingPrecision precision, double tolerance)
        {
            using var job = new MpiJob();

            // The from-scratch text transformer without dropout: LayerNorm only, so per-rank batches change nothing but sums' order.
            var two = job.Fit(2, "text", precision, batchSize: 16, "two");
            var one = job.Fit(0, "text", precision, batchSize: 32, "one");

            MpiJob.Line(one[0], "SUMMARY").Should().StartWith("SUMMARY\t1\t0\t12\t3\t", "alone: 128 rows in batches of 32, three epochs");
            MpiJob.Line(two[0], "SUMMARY").Should().StartWith("SUMMARY\t2\t0\t12\t3\t", "as many optimizer steps of as many examples");
            MpiJob.Line(one[0], "LIBMPI").Should().Be("LIBMPI\tFalse", "a fit without a launcher loads nothing of MPI");
            var expected = MpiJob.Scores(one[0]);
            var actual = MpiJob.Scores(two[0]);
            actual.Should().HaveCount(expected.Length);
            double worst = actual.Zip(expected, (a, e) => Math.Abs(a - e)).Max();
            Console.WriteLine($"{precision}: largest Score difference {worst:G3} over {expected.Length} values");
            worst.Should().BeLessThan(tolerance);
            if (precision == TrainingPrecision.Float32) // (in bf16 a near tie may flip one prediction)
                EpochAccuracies(two[0]).Should().Equal(EpochAccuracies(one[0]), "the summed counts give the same accuracies");
        }

        [TestMethod]
        [Timeout(240_000)]
        public void Float16_overflows_are_found_and_skipped_alike_on_every_rank()
        {
            using var job = new MpiJob();

            // A loss scale of 2^24 overflows float16 gradients until it has backed off a few times; the ranks unscale the
            // same averaged gradients, so they find the same infs and skip the same steps.
            var ranks = job.Fit(2, "text", TrainingPrecision.Float16, batchSize: 16, "fp16");

            var summaries = ranks.Select(r => MpiJob.Line(r, "SUMMARY").Split('\t')).ToList();
            long skipped = long.Parse(summaries[0][6], CultureInfo.InvariantCulture);
            skipped.Should().BeGreaterThan(0, "the first steps overflow");
            summaries[1][6].Should().Be(summaries[0][6], "both ranks skip the same steps");
            summaries[1][3].Should().Be(summaries[0][3], "and so take as many optimizer steps");
            MpiJob.Line(ranks[1], "MODEL").Should().Be(MpiJob.Line(ranks[0], "MODEL"));
        }

        [TestMethod]
        [Timeout(240_000)]
        public void A_failing_rank_ends_the_whole_job_with_its_message()
        {
            using var job = new MpiJob();
            var clock = Stopwatch.StartNew();

            var (code, output, error) = MpiJob.Run(2, Array.Empty<string>(), "text", "Float32", "16", Path.Combine(job.Folder, "fail"), "-", "1");

            Console.WriteLine($"ended in {clock.Elapsed.TotalSeconds:F1} s with exit code {code}");
            code.Should().NotBe(0);
            error.Should().Contain("Data-parallel fit failed on rank 1 of 2").And.Contain("deliberate failure of rank 1 in the metrics callback");
            File.Exists(Path.Combine(job.Folder, "fail.rank0.txt")).Should().BeFalse("rank 0 was ended too, not left to finish or hang");
        }

        [TestMethod]
        [Timeout(300_000)]
        public void A_job_killed_with_SIGKILL_and_rerun_resumes_and_ends_with_the_uninterrupted_model()
        {
            using var job = new MpiJob();
            string checkpoints = Path.Combine(job.Folder, "checkpoints");
            var uninterrupted = job.Fit(2, "text", TrainingPrecision.Float32, 16, "uninterrupted");

            int killAfter = new Random().Next(2, 11);
            if (killAfter % 4 == 0)
                killAfter--; // an epoch's last step reports no STEP line (the epoch-end report comes before its checkpoint)
            string prefix = Path.Combine(job.Folder, "resumed");
            using (var first = MpiJob.Start(2, Array.Empty<string>(), "text", "Float32", "16", prefix, checkpoints))
            {
                var error = first.StandardError.ReadToEndAsync();
                string line;
                while ((line = first.StandardOutput.ReadLine()) != null && line != "STEP\t" + killAfter)
                {
                }
                line.Should().NotBeNull($"rank 0 reports step {killAfter} (stderr: {(first.HasExited ? error.Result : "")})");
                MpiJob.KillTree(first.Id); // mpirun and both ranks, SIGKILL: nothing flushes or cleans up
                first.WaitForExit(60_000).Should().BeTrue();
            }
            Directory.GetFiles(checkpoints).Should().Contain(f => f.EndsWith(".mpckpt"));

            var (code, output, rerunError) = MpiJob.Run(2, Array.Empty<string>(), "text", "Float32", "16", prefix, checkpoints);
            code.Should().Be(0, $"the rerun ran to its end:\n{output}\n{rerunError}");
            var resumed = output.Split('\n').Where(l => l.Contains("Resuming from checkpoint")).ToList();
            resumed.Should().HaveCount(2, "both ranks resume from rank 0's checkpoint");
            int step = int.Parse(Regex.Match(resumed[0], @"step (\d+)\)").Groups[1].Value, CultureInfo.InvariantCulture);
            step.Should().BeGreaterThanOrEqualTo(killAfter);
            var rerun = MpiJob.Outcome(prefix, 2);
            foreach (var rank in rerun)
            {
                MpiJob.Line(rank, "MODEL").Should().Be(MpiJob.Line(uninterrupted[0], "MODEL"), "the resumed job ends with the uninterrupted weights");
                MpiJob.Line(rank, "SUMMARY").Should().Be(MpiJob.Line(uninterrupted[rerun.ToList().IndexOf(rank)], "SUMMARY"));
            }
            Directory.GetFiles(checkpoints).Should().BeEmpty("rank 0 deleted the checkpoints of the finished fit");
        }

        private static List<string> EpochAccuracies(List<string> lines) =>
            lines.Where(l => l.StartsWith("EPOCH\t")).Select(l => string.Join("\t", l.Split('\t').Where((_, i) => i == 1 || i == 2 || i == 4 || i == 6))).ToList();
    }
}
