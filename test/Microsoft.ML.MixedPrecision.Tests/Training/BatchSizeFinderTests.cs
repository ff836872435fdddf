using System;
using System.Collections.Generic;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>The batch-size finder's decisions on measurements given by a formula (the real measurement: MemoryBudgetFitTests).</summary>
    [TestClass]
    public class BatchSizeFinderTests
    {
        private const long MiB = 1 << 20;

        /// <summary>A finder over peak(b) = <paramref name="restMib"/> + <paramref name="perExampleMib"/>·b MiB that records every batch it measured.</summary>
        private static BatchSizeFinder Finder(int batchSize, int accumulation, long budgetMib, double restMib, double perExampleMib,
            List<int> measured, long reserveMib = 0, Func<int, double> extraMib = null)
            => new BatchSizeFinder(new BatchPlan(batchSize, accumulation), budgetMib * MiB, reserveMib * MiB, b =>
            {
                measured.Add(b);
                return (long)((restMib + perExampleMib * b + (extraMib?.Invoke(b) ?? 0)) * MiB);
            });

        [TestMethod]
        public void A_tight_budget_trains_a_smaller_batch_and_keeps_the_effective_batch_by_accumulation()
        {
            var measured = new List<int>();
            // A step may take 0.9 × 1400 = 1260 MiB: 1000 + 10·b ≤ 1260 up to b = 26, so 64 = 3 × 22 (+2).
            var plan = Finder(64, 2, budgetMib: 1400, restMib: 1000, perExampleMib: 10, measured).Find();
            plan.BatchSize.Should().Be(22);
            plan.AccumulationSteps.Should().Be(6, "three batches of 22 stand for each batch of 64 asked for, twice");
            plan.EffectiveBatchSize.Should().BeInRange(128, 128 + 6, "the optimizer step still sees about 2 × 64 examples");
            measured.Should().Equal(new[] { 2, 4, 8, 16, 22 }, "probes go upward and stop before a step predicted over the target; the choice is verified");
        }

        [TestMethod]
        public void An_ample_budget_trains_as_asked()
        {
            var measured = new List<int>();
            Finder(64, 1, budgetMib: 100_000, restMib: 1000, perExampleMib: 10, measured).Find().Should().Be(new BatchPlan(64, 1));
            measured.Max().Should().Be(64, "the batch asked for is measured before it is trusted");
        }

        [TestMethod]
        public void A_choice_that_measures_over_the_target_backs_off()
        {
            var measured = new List<int>();
            // Linear up to 16, then 400 MiB more from 20 examples on (a layer switching kernels): the line's 26 does not fit.
            var finder = Finder(64, 1, budgetMib: 1400, restMib: 1000, perExampleMib: 10, measured, extraMib: b => b >= 20 ? 400 : 0);
            var plan = finder.Find();
            plan.BatchSize.Should().BeLessThan(20);
            plan.BatchSize.Should().BeGreaterOrEqualTo(16);
            (plan.BatchSize * plan.AccumulationSteps).Should().BeGreaterOrEqualTo(64);
            finder.Measured[plan.BatchSize].Should().BeLessThanOrEqualTo(finder.TargetBytes, "the batch trained with was measured within the target");
        }

        [TestMethod]
        public void A_budget_too_small_for_one_example_names_the_option_and_the_memory_needed()
        {
            var measured = new List<int>();
            var finder = Finder(64, 1, budgetMib: 1000, restMib: 1000, perExampleMib: 10, measured, reserveMib: 50);
            var e = finder.Invoking(f => f.Find()).Should().Throw<ArgumentOutOfRangeException>().Which;
            e.ParamName.Should().Be("MemoryBudgetMegabytes");
            e.Message.Should().Contain("MemoryBudgetMegabytes").And.Contain("1010 MiB").And.Contain("at least 1179");
            measured.Should().Equal(2, 1);
        }

        [TestMethod]
        public void The_reserve_counts_against_the_budget()
        {
            var measured = new List<int>();
            // 0.9 × 1400 − 100 = 1160 MiB a step: b ≤ 16.
            var plan = Finder(64, 1, budgetMib: 1400, restMib: 1000, perExampleMib: 10, measured, reserveMib: 100).Find();
            plan.Should().Be(new BatchPlan(16, 4));
        }
    }
}
