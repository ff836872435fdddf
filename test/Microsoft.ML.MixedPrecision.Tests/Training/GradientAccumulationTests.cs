using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    [TestClass]
    public class GradientAccumulationTests
    {
        [TestMethod]
        public void The_last_shorter_group_is_weighted_by_its_real_size()
        {
            Enumerable.Range(0, 10).Select(i => GradientAccumulation.GroupSize(i, batchCount: 10, accumulation: 4))
                .Should().Equal(4, 4, 4, 4, 4, 4, 4, 4, 2, 2);
            Enumerable.Range(0, 9).Select(i => GradientAccumulation.GroupSize(i, batchCount: 9, accumulation: 3))
                .Should().OnlyContain(size => size == 3, "groups that divide the epoch are all full");
            Enumerable.Range(0, 5).Select(i => GradientAccumulation.GroupSize(i, batchCount: 5, accumulation: 1))
                .Should().OnlyContain(size => size == 1, "without accumulation every batch is its own step");
        }

        [TestMethod]
        public void Weighting_each_batch_by_its_group_size_makes_every_step_a_mean()
        {
            // Batch losses 1..10 with 4 batches per step: the steps see the means of (1..4), (5..8) and (9, 10).
            double[] losses = Enumerable.Range(1, 10).Select(i => (double)i).ToArray();
            var steps = losses.Select((loss, i) => (Group: i / 4, Weighted: loss / GradientAccumulation.GroupSize(i, losses.Length, 4)))
                .GroupBy(x => x.Group).Select(g => g.Sum(x => x.Weighted)).ToArray();
            steps.Should().Equal(2.5, 6.5, 9.5);
        }
    }
}
