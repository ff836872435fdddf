using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Kernels
{
    /// <summary>
    /// NHWC ("channels_last") strides for a 4-D tensor, made explicitly. TorchSharp 0.107 has no memory_format, and the
    /// usual permute → contiguous → permute keeps NCHW strides whenever a dimension has size 1: a one-channel tensor
    /// already counts as contiguous, so contiguous() copies nothing. libtorch then reads the stem's [32, 1, 3, 3] weight as
    /// NCHW, runs that convolution in NCHW and leaves NCHW activations for the layers after it to convert.
    /// </summary>
    internal static class ChannelsLast
    {
        /// <summary>A copy of <paramref name="tensor"/> [N, C, H, W] with strides (C·H·W, 1, W·C, C), as PyTorch's
        /// <c>to(memory_format=torch.channels_last)</c> lays it out.</summary>
        public static Tensor Copy(Tensor tensor) => Strided(tensor, channelsLast: true);

        /// <summary>A copy with the default NCHW strides (C·H·W, H·W, W, 1), whatever the size-1 dimensions.</summary>
        public static Tensor NchwCopy(Tensor tensor) => Strided(tensor, channelsLast: false);

        /// <summary>True when <paramref name="tensor"/> has exactly the strides <see cref="Copy"/> gives.</summary>
        public static bool Has(Tensor tensor)
        {
            long[] s = tensor.shape, strides = tensor.stride();
            return s.Length == 4 && strides[0] == s[1] * s[2] * s[3] && strides[1] == 1 && strides[2] == s[3] * s[1] && strides[3] == s[1];
        }

        private static Tensor Strided(Tensor tensor, bool channelsLast)
        {
            long[] s = tensor.shape;
            if (s.Length != 4)
                throw new System.ArgumentException($"Expected a 4-D [N, C, H, W] tensor, got {s.Length} dimensions.", nameof(tensor));
            long[] strides = channelsLast
                ? new[] { s[1] * s[2] * s[3], 1, s[3] * s[1], s[1] }
                : new[] { s[1] * s[2] * s[3], s[2] * s[3], s[3], 1 };
            var copy = empty_strided(s, strides, tensor.dtype, tensor.device);
            using (no_grad())
                copy.copy_(tensor);
            return copy;
        }
    }
}
