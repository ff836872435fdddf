using System.Collections.Generic;
using System.Diagnostics;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Measurement
{
    /// <summary>
    /// The machine's measured matrix-multiply rate (FLOP/s) for one dtype: a square n×n×n GEMM, the reference that
    /// model FLOPs utilization (MFU) is expressed against.
    /// </summary>
    internal static class GemmRate
    {
        public static double Measure(ScalarType dtype, int n, int warmup = 3, int repetitions = 9)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var generator = new Generator(1234);
            var a = randn(new long[] { n, n }, generator: generator).to(dtype);
            var b = randn(new long[] { n, n }, generator: generator).to(dtype);
            for (int i = 0; i < warmup; i++)
                a.matmul(b).Dispose();
            var seconds = new List<double>();
            for (int i = 0; i < repetitions; i++)
            {
                var clock = Stopwatch.StartNew();
                a.matmul(b).Dispose();
                seconds.Add(clock.Elapsed.TotalSeconds);
            }
            return 2.0 * n * n * (double)n / Stats.Median(seconds);
        }
    }
}
