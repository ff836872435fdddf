using Microsoft.ML.MixedPrecision.Amp;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Kernels
{
    /// <summary>
    /// A wide 1×1 convolution (no padding) on a channels_last float32 input, computed as a matrix product over the channels.
    /// libtorch 2.10's oneDNN (3.7.1) picks its <c>brgconv_1x1</c> kernel for such a forward, and on a Zen 5 EPYC (family
    /// 26) that kernel returned wrong values: max error about half the output's range for 512 output channels (the
    /// pretrained ResNet18's last shortcut; 64–256 outputs were right), and a 1024-channel one killed the process with SIGFPE
    /// (measured 2026-12-03, 1×1 convolutions from 32–512 to 64–1024 channels at 8 and 16 px, strides 1 and 2: every
    /// wrong one had 512 or more output channels). The backward passes and the bf16 kernels were right; NCHW runs another
    /// kernel. The product is the same sum but slower (fwd + bwd 6.1 against 5.0 ms for 256 → 512 at 8 px, 14.9 against
    /// 7.0 for 64 → 128 at 32 px), so only those shapes take it; PointwiseConvolutionTests checks every shortcut shape of
    /// our networks against a float64 convolution, so a CPU that gets another shape wrong fails the suite.
    /// </summary>
    internal static class PointwiseConvolution
    {
        /// <summary><paramref name="conv"/>'s output for <paramref name="input"/>: <see cref="Forward(Tensor, Tensor, Tensor, long)"/>
        /// with its weight, bias and stride.</summary>
        public static Tensor Forward(Conv2d conv, Tensor input) => Forward(input, conv.weight, conv.bias, conv.stride[0]);

        /// <summary>conv2d(<paramref name="input"/>, <paramref name="weight"/> [out, in, 1, 1], stride), NHWC in, NHWC out.</summary>
        public static Tensor Forward(Tensor input, Tensor weight, Tensor? bias, long stride)
        {
            if (!TakesTheProduct(input, weight))
                return nn.functional.conv2d(input, weight, bias, strides: new[] { stride, stride });
            using var scope = NewDisposeScope();
            // A 1×1 convolution with stride s reads every s-th pixel; on the [N, H, W, C] view it is x · Wᵀ per pixel, and
            // the [N, H, W, out] result permuted back is channels_last, as the convolution's would be.
            Tensor sampled = stride == 1 ? input : input[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(null, null, stride), TensorIndex.Slice(null, null, stride)];
            Tensor pixels = nn.functional.linear(sampled.permute(0, 2, 3, 1), weight.flatten(1), bias);
            return pixels.permute(0, 3, 1, 2).MoveToOuterDisposeScope();
        }

        /// <summary>The widest output that kernel got right in every measured case.</summary>
        internal const long WidestTrustedOutput = 256;

        /// <summary>Only where the faulty kernel would run: float32 (autocast off), channels_last, 1×1 weight with more
        /// than <see cref="WidestTrustedOutput"/> outputs, CPU.</summary>
        internal static bool TakesTheProduct(Tensor input, Tensor weight)
            => input.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32 && input.device_type == DeviceType.CPU
               && weight.shape.Length == 4 && weight.shape[2] == 1 && weight.shape[3] == 1 && weight.shape[0] > WidestTrustedOutput
               && ChannelsLast.Has(input) && !Autocast.IsEnabled(DeviceType.CPU);
    }
}
