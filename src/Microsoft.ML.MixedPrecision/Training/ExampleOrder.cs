using System;
using System.Linq;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>Seeded example orders: the per-epoch shuffle and the validation hold-out every trainer uses.</summary>
    internal static class ExampleOrder
    {
        /// <summary>0..count-1 in a Fisher–Yates order drawn from <paramref name="random"/>.</summary>
        public static int[] Shuffled(int count, Random random)
        {
            var order = Enumerable.Range(0, count).ToArray();
            for (int i = count - 1; i > 0; i--)
            {
                int j = random.Next(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            return order;
        }

        /// <summary>
        /// Epoch <paramref name="epoch"/>'s order of training examples: shuffled by (seed, epoch), cut to
        /// <see cref="ExamplesPerEpoch"/>, then arranged by the data (length bucketing) in global batches of
        /// <paramref name="batchSize"/> × <paramref name="worldSize"/>, of which rank <paramref name="rank"/> takes its
        /// share (<see cref="Shard"/>). One process (world size 1) takes the whole order. The benchmark's bare loop builds
        /// its batches from it too, so both time the same batches.
        /// </summary>
        public static int[] EpochOrder<TBatch>(ITrainingData<TBatch> data, int batchSize, int seed, int epoch, int worldSize = 1, int rank = 0)
            where TBatch : HostBatch
        {
            var shuffle = new Random(SeedFor(seed, epoch));
            var order = Shuffled(data.Count, shuffle);
            int examples = ExamplesPerEpoch(data.Count, batchSize, worldSize);
            if (examples < order.Length)
                Array.Resize(ref order, examples);
            var arranged = data.ArrangeBatches(order, batchSize * worldSize, shuffle);
            return worldSize == 1 ? arranged : Shard(arranged, batchSize, worldSize, rank);
        }

        /// <summary>
        /// Rank <paramref name="rank"/>'s examples of an epoch order whose length is a multiple of <paramref name="worldSize"/>:
        /// the order is cut into global batches of <paramref name="batchSize"/> × <paramref name="worldSize"/> (the last one
        /// shorter) and each global batch into <paramref name="worldSize"/> equal consecutive parts, of which the rank takes
        /// part <paramref name="rank"/>. So the ranks' batches i together are global batch i, every rank has as many batches
        /// of the same sizes, and the ranks together see each example of the order once.
        /// </summary>
        public static int[] Shard(int[] order, int batchSize, int worldSize, int rank)
        {
            if (order.Length % worldSize != 0)
                throw new ArgumentException($"An epoch order of {order.Length} examples does not split evenly over {worldSize} processes.", nameof(order));
            if (rank < 0 || rank >= worldSize)
                throw new ArgumentOutOfRangeException(nameof(rank), rank, $"A rank is in [0, {worldSize}).");
            int global = batchSize * worldSize;
            var mine = new int[order.Length / worldSize];
            int written = 0;
            for (int start = 0; start < order.Length; start += global)
            {
                int part = Math.Min(global, order.Length - start) / worldSize;
                Array.Copy(order, start + rank * part, mine, written, part);
                written += part;
            }
            return mine;
        }

        /// <summary>
        /// A seed for one use of randomness within a fit — epoch <paramref name="epoch"/>'s shuffle (no batch), or the
        /// augmentation of one of its batches — mixed from the fit's seed (SplitMix64 steps). Drawn per use rather than
        /// from one generator carried through training, so a fit resumed at any batch redraws exactly what it would have.
        /// </summary>
        public static int SeedFor(int seed, int epoch, int? batch = null)
        {
            ulong h = Mix((uint)seed + 0x9E3779B97F4A7C15UL);
            h = Mix(h ^ (uint)epoch);
            h = Mix(h ^ (batch.HasValue ? (uint)batch.Value + 1UL : 0UL));
            return (int)(h & int.MaxValue);
        }

        private static ulong Mix(ulong z)
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        /// <summary>
        /// Examples trained per epoch: all of them, except that a last batch of one would make BatchNorm fail in
        /// training mode, so one (random) example is left out instead. Over <paramref name="worldSize"/> processes (batches
        /// of <paramref name="batchSize"/> per process): a multiple of the world size, so every process trains batches of
        /// the same sizes (at most worldSize − 1 random examples left out per epoch), and again no process's last batch of one.
        /// </summary>
        public static int ExamplesPerEpoch(int count, int batchSize, int worldSize = 1)
        {
            int examples = count - count % worldSize;
            return examples % (batchSize * worldSize) == worldSize && examples > worldSize ? examples - worldSize : examples;
        }

        /// <summary>
        /// Holds out floor(count × fraction) random examples for validation. Null when that leaves nothing to hold out
        /// or fewer than two training examples.
        /// </summary>
        public static (int[] Train, int[] Validation)? HoldOut(int count, double fraction, int seed)
        {
            int validationCount = (int)Math.Floor(count * fraction);
            if (validationCount == 0 || count - validationCount < 2)
                return null;
            var order = Shuffled(count, new Random(seed ^ 0x5eed));
            return (order.Skip(validationCount).ToArray(), order.Take(validationCount).ToArray());
        }
    }
}
