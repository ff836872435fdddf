using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    [TestClass]
    public class ExampleOrderTests
    {
        [TestMethod]
        public void Epoch_order_is_fixed_by_seed_and_epoch_and_buckets_lengths_into_batches()
        {
            // 97 texts of 1..97 tokens, bucketed: each batch of 8 holds neighbouring lengths (one window holds them all).
            var data = new TextTrainingData(Enumerable.Range(1, 97).Select(n => Enumerable.Repeat(5L, n).ToArray()).ToArray(),
                Enumerable.Range(0, 97).Select(i => (long)(i % 2)).ToArray(), bucketByLength: true);
            var order = ExampleOrder.EpochOrder(data, 8, seed: 3, epoch: 1);
            order.Should().HaveCount(96, "97 % 8 == 1: a lone last example is left out of the epoch")
                .And.OnlyHaveUniqueItems().And.OnlyContain(i => i >= 0 && i < 97);
            ExampleOrder.EpochOrder(data, 8, 3, 1).Should().Equal(order);
            ExampleOrder.EpochOrder(data, 8, 3, 2).Should().NotEqual(order);
            ExampleOrder.EpochOrder(data, 8, 4, 1).Should().NotEqual(order);
            for (int b = 0; b < 12; b++)
            {
                var lengths = order.Skip(8 * b).Take(8).ToArray(); // index i has i + 1 tokens
                (lengths.Max() - lengths.Min()).Should().BeLessThan(16, $"batch {b} is bucketed");
            }
        }
    }
}
