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
        /// Examples trained per epoch: all of them, except that a last batch of one would make BatchNorm fail in
        /// training mode, so one (random) example is left out instead.
        /// </summary>
        public static int ExamplesPerEpoch(int count, int batchSize) => count % batchSize == 1 && count > 1 ? count - 1 : count;

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
