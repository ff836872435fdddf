using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Vision;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Workloads
{
    /// <summary>A ResNet's convolutions at their real shapes (channels_last, as the trainer runs them), one case per distinct shape.</summary>
    internal static class ResNetLayerCases
    {
        public static IEnumerable<LayerCase> Convolutions(ResNet model, int height, int width, int batchSize)
        {
            var convs = FlopCounter.ResNetConvInputs(model, height, width);
            var stem = convs[0].Conv;
            return convs
                .GroupBy(c => (In: c.Conv.weight.shape[1], Out: c.Conv.weight.shape[0], Kernel: c.Conv.weight.shape[2], Stride: c.Conv.stride[0],
                    Padding: c.Conv.padding[0], c.H, c.W, IsStem: ReferenceEquals(c.Conv, stem)))
                .Select(g => new LayerCase(
                    $"conv {g.Key.Kernel}x{g.Key.Kernel} {g.Key.In}->{g.Key.Out}{(g.Key.Stride > 1 ? $" /{g.Key.Stride}" : "")} at {g.Key.H}px",
                    g.Count(),
                    dtype =>
                    {
                        var k = g.Key;
                        // The stem's input needs no gradient, as in training.
                        var x = LayerSpeed.Leaf(new[] { batchSize, k.In, k.H, k.W }, dtype, channelsLast: true).requires_grad_(!k.IsStem);
                        var w = LayerSpeed.Leaf(new[] { k.Out, k.In, k.Kernel, k.Kernel }, dtype, channelsLast: true);
                        return () =>
                        {
                            using var scope = NewDisposeScope();
                            // 1×1: what the network runs (in float32 a matrix product, see PointwiseConvolution).
                            var y = k.Kernel == 1 && k.Padding == 0
                                ? PointwiseConvolution.Forward(x, w, null, k.Stride)
                                : nn.functional.conv2d(x, w, strides: new[] { k.Stride, k.Stride }, padding: new[] { k.Padding, k.Padding });
                            LayerSpeed.Backward(y, x, w);
                        };
                    }))
                .ToList();
        }
    }
}
