using System;
using System.Collections.Generic;
using System.Diagnostics;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Measurement
{
    /// <summary>
    /// One layer's forward + backward at the network's real shapes, run with float32 or bfloat16 tensors. The ceiling
    /// of a whole step's AMP speedup is set by how much faster its GEMM/conv kernels get at these (small) shapes, not
    /// by the large-GEMM figure.
    /// </summary>
    internal sealed class LayerCase
    {
        public LayerCase(string name, int count, Func<ScalarType, Action> prepare)
        {
            Name = name;
            Count = count;
            Prepare = prepare;
        }

        public string Name { get; }

        /// <summary>How many layers of the network have this shape.</summary>
        public int Count { get; }

        /// <summary>Creates the tensors in a dtype and returns one forward + backward pass over them.</summary>
        public Func<ScalarType, Action> Prepare { get; }
    }

    internal sealed class LayerTiming
    {
        public string Name { get; init; }
        public int Count { get; init; }
        public double Fp32Milliseconds { get; init; }
        public double Bf16Milliseconds { get; init; }
        public double Speedup => Fp32Milliseconds / Bf16Milliseconds;
    }

    internal static class LayerSpeed
    {
        public static List<LayerTiming> Measure(IEnumerable<LayerCase> cases, int warmup, int repetitions)
        {
            var timings = new List<LayerTiming>();
            foreach (var layer in cases)
            {
                using var scope = NewDisposeScope();
                var fp32 = layer.Prepare(ScalarType.Float32);
                var bf16 = layer.Prepare(ScalarType.BFloat16);
                var times = new Dictionary<bool, List<double>> { [false] = new List<double>(), [true] = new List<double>() };
                for (int i = 0; i < warmup; i++)
                {
                    fp32();
                    bf16();
                }
                for (int rep = 0; rep < repetitions; rep++)
                {
                    foreach (bool useBf16 in Stats.InterleavedOrder(rep))
                    {
                        var clock = Stopwatch.StartNew();
                        (useBf16 ? bf16 : fp32)();
                        times[useBf16].Add(clock.Elapsed.TotalMilliseconds);
                    }
                }
                timings.Add(new LayerTiming
                {
                    Name = layer.Name,
                    Count = layer.Count,
                    Fp32Milliseconds = Stats.Median(times[false]),
                    Bf16Milliseconds = Stats.Median(times[true]),
                });
            }
            return timings;
        }

        /// <summary>A leaf tensor of <paramref name="shape"/> in <paramref name="dtype"/> that collects a gradient.</summary>
        public static Tensor Leaf(long[] shape, ScalarType dtype, bool channelsLast = false)
        {
            using var noGrad = no_grad();
            var t = randn(shape).to(dtype);
            if (channelsLast)
                t = Kernels.ChannelsLast.Copy(t); // NHWC strides, as the trainer lays out convolutions
            return t.requires_grad_(true);
        }

        /// <summary>Runs backward from <paramref name="output"/> with a gradient of ones, then clears the leaves' gradients.</summary>
        public static void Backward(Tensor output, params Tensor[] leaves)
        {
            using var scope = NewDisposeScope();
            output.backward(new[] { ones_like(output) });
            foreach (var leaf in leaves)
                leaf.grad?.zero_();
        }
    }
}
