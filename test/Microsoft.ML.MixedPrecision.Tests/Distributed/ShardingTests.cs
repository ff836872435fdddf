using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Distributed
{
    /// <summary>How an epoch's order is split over the processes of a data-parallel fit (ExampleOrder.Shard, ExamplesPerEpoch).</summary>
    [TestClass]
    public sealed class ShardingTests
    {
        [TestMethod]
        public void Every_example_of_the_epoch_goes_to_exactly_one_rank()
        {
            int[] order = Enumerable.Range(100, 42).Reverse().ToArray(); // 42 = 2 global batches of 3 × 4, then 18
            var shards = Enumerable.Range(0, 3).Select(r => ExampleOrder.Shard(order, batchSize: 4, worldSize: 3, rank: r)).ToList();

            shards.SelectMany(s => s).Should().BeEquivalentTo(order);
            shards.Select(s => s.Length).Should().Equal(14, 14, 14);
        }

        [TestMethod]
        public void The_ranks_batches_i_together_are_global_batch_i()
        {
            int[] order = Enumerable.Range(0, 20).ToArray(); // global batches of 2 × 4: [0..8), [8..16), [16..20)
            var rank0 = ExampleOrder.Shard(order, batchSize: 4, worldSize: 2, rank: 0);
            var rank1 = ExampleOrder.Shard(order, batchSize: 4, worldSize: 2, rank: 1);

            rank0.Should().Equal(0, 1, 2, 3, 8, 9, 10, 11, 16, 17);
            rank1.Should().Equal(4, 5, 6, 7, 12, 13, 14, 15, 18, 19);
        }

        [TestMethod]
        public void One_rank_takes_the_whole_order()
        {
            int[] order = { 5, 3, 1, 4, 2 };
            ExampleOrder.Shard(order, batchSize: 2, worldSize: 1, rank: 0).Should().Equal(order);
        }

        [TestMethod]
        [DataRow(101, 16, 2, 100)] // a multiple of the world size
        [DataRow(100, 16, 2, 100)]
        [DataRow(66, 16, 2, 64)]   // 66 would leave each rank a last batch of one: two examples dropped
        [DataRow(33, 16, 1, 32)]   // one process: the rule it always had (no last batch of one)
        [DataRow(34, 16, 1, 34)]
        public void Examples_per_epoch_split_evenly_and_leave_no_rank_a_last_batch_of_one(int count, int batchSize, int worldSize, int expected)
        {
            int examples = ExampleOrder.ExamplesPerEpoch(count, batchSize, worldSize);

            examples.Should().Be(expected);
            (examples % (batchSize * worldSize) / worldSize).Should().NotBe(1);
        }
    }
}
