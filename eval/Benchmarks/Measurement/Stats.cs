using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Measurement
{
    internal static class Stats
    {
        public static double Median(IEnumerable<double> values)
        {
            var sorted = values.OrderBy(v => v).ToArray();
            if (sorted.Length == 0)
                return double.NaN;
            int mid = sorted.Length / 2;
            return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
        }

        /// <summary>FP32 first on even repetitions, AMP first on odd ones, so a drift in machine speed hits both alike.</summary>
        public static bool[] InterleavedOrder(int repetition) => repetition % 2 == 0 ? new[] { false, true } : new[] { true, false };

        public static double Ratio(double numerator, double denominator) => denominator > 0 ? numerator / denominator : double.NaN;
    }
}
