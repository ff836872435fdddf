using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Tests.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>MemoryBudgetMegabytes on real fits: the finder measures the process, picks the batch and logs why.</summary>
    [TestClass]
    public class MemoryBudgetFitTests
    {
        private static SyntheticImages _images;

        [ClassInitialize]
        public static void MakeImages(TestContext _) => _images = new SyntheticImages(20, size: 128, seed: 3);

        [ClassCleanup]
        public static void DeleteImages() => _images?.Dispose();

        /// <summary>A from-scratch ResNet on 128-px images: a step's activations grow by about 20 MB per example, well above the
        /// noise of the process's memory (at 64 px, 5 MB per example, a full suite run once read batch 2 higher than 16).</summary>
        private static ImageClassificationTrainer.Options Options(int? budgetMib) => new ImageClassificationTrainer.Options
        {
            FeatureColumnName = "ImageSource",
            Architecture = ResNetArchitecture.ResNetSmall,
            Epochs = 1,
            BatchSize = 16,
            ValidationSetFraction = 0,
            Seed = 5,
            MemoryBudgetMegabytes = budgetMib,
        };

        private static (TrainingSummary Summary, List<string> Log) Fit(int? budgetMib)
        {
            var ml = new MLContext(1);
            var log = new List<string>();
            ml.Log += (_, e) =>
            {
                if (e.Message.Contains("Memory budget"))
                    log.Add(e.Message);
            };
            var raw = ml.Data.LoadFromEnumerable(_images.Rows);
            var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw);
            var model = ml.MulticlassClassification.Trainers.ImageClassification(Options(budgetMib)).Fit(data);
            return (model.Summary, log);
        }

        /// <summary>"2 → 612, 4 → 640 MiB" in the finder's log line → batch → MiB.</summary>
        private static Dictionary<int, long> Measurements(string line) =>
            Regex.Matches(line, @"(\d+) → (\d+)").ToDictionary(m => int.Parse(m.Groups[1].Value), m => long.Parse(m.Groups[2].Value));

        [TestMethod]
        public void A_tight_budget_trains_a_smaller_batch_with_accumulation_and_an_ample_one_as_asked()
        {
            Fit(budgetMib: 1 << 20); // settles the process: what earlier tests left is freed before the fits measured here
            var (ample, ampleLog) = Fit(budgetMib: 1 << 20);
            ample.BatchSize.Should().Be(16);
            ample.GradientAccumulationSteps.Should().Be(1);
            ampleLog.Should().ContainSingle().Which.Should().Contain("batches of 16 fit: training as asked");
            var peaks = Measurements(ampleLog[0]);
            peaks.Keys.Should().Equal(2, 4, 8, 16);
            long perExample = (peaks[16] - peaks[8]) / 8; // the larger probes: the first one also reads what earlier work left
            Console.WriteLine($"{ampleLog[0]} ({perExample} MiB per example)");
            perExample.Should().BeGreaterThan(2, "the test needs a step whose memory grows with the batch");

            // A step may take 90 % of the budget: this budget's steps fit up to about 10 examples (give or take the
            // process's drift between fits).
            int budget = (int)((peaks[8] + 2 * perExample) / StepShareOfBudget);
            var (tight, tightLog) = Fit(budget);
            Console.WriteLine(tightLog.Single());
            tight.BatchSize.Should().BeLessThan(16).And.BeGreaterThan(1);
            (tight.BatchSize * tight.GradientAccumulationSteps).Should().BeInRange(16, 16 + tight.GradientAccumulationSteps - 1,
                "the optimizer still steps on the batch asked for");
            tightLog.Single().Should().Contain($"training with batches of {tight.BatchSize}")
                .And.Contain($"GradientAccumulationSteps {tight.GradientAccumulationSteps}");
            tight.OptimizerSteps.Should().Be(2, "20 images, about 16 per optimizer step");
        }

        private const double StepShareOfBudget = 0.9;

        [TestMethod]
        public void Probing_leaves_the_fit_as_it_was_when_the_asked_batch_fits()
        {
            // The checkpoint tests' seeded text fit, with dropout (libtorch's random state) and a validation hold-out: the
            // probes' forward passes draw dropout masks, which the finder must put back.
            var ml = new MLContext(1);
            var plain = CheckpointRun.Outcome(ml, CheckpointRun.Fit(ml, CheckpointRun.Options(null), TrainingPrecision.BFloat16));
            var options = CheckpointRun.Options(null);
            options.MemoryBudgetMegabytes = 1 << 20;
            var probed = CheckpointRun.Fit(ml, options, TrainingPrecision.BFloat16);
            probed.Summary.BatchSize.Should().Be(options.BatchSize);
            CheckpointRun.Outcome(ml, probed).Should().Equal(plain, "a budget that keeps the batch changes nothing the fit computes");
        }

        [TestMethod]
        public void A_budget_below_the_process_fails_naming_the_option()
        {
            var e = FluentActions.Invoking(() => Fit(budgetMib: 64)).Should().Throw<ArgumentOutOfRangeException>().Which;
            e.ParamName.Should().Be("MemoryBudgetMegabytes");
            e.Message.Should().Contain("Option MemoryBudgetMegabytes").And.Contain("Set MemoryBudgetMegabytes to at least");
        }
    }
}
