using FluentAssertions;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Vision
{
    /// <summary>
    /// The ResNet shortcuts' 1×1 convolutions in float32 channels_last: on a Zen 5 EPYC libtorch's own kernel returned
    /// wrong values for 512 output channels, so these compare with a float64 convolution (not with libtorch's float32 one),
    /// both the shapes that take the matrix product and those that keep libtorch's kernel.
    /// </summary>
    [TestClass]
    public sealed class PointwiseConvolutionTests
    {
        // Every shortcut's channel pair in our networks (ResNetTiny and ResNetSmall at 28 px, ResNet18 and the pretrained
        // one at 128 px), at a small batch; the last row is a stride-1 one for the product's unstrided path.
        [TestMethod]
        [DataRow(16, 32, 28, 2)]
        [DataRow(32, 64, 28, 2)]
        [DataRow(64, 128, 14, 2)]
        [DataRow(64, 128, 32, 2)]
        [DataRow(128, 256, 16, 2)]
        [DataRow(256, 512, 8, 2)]
        [DataRow(256, 512, 8, 1)]
        public void A_float32_channels_last_shortcut_matches_a_float64_convolution_forward_and_backward(int inChannels, int outChannels, int size, int stride)
        {
            manual_seed(11);
            using var scope = NewDisposeScope();
            var x = randn(4, inChannels, size, size);
            var w = randn(outChannels, inChannels, 1, 1) / System.Math.Sqrt(inChannels);
            var upstream = randn(4, outChannels, (size + stride - 1) / stride, (size + stride - 1) / stride);
            var x64 = x.to(float64).requires_grad_();
            var w64 = w.to(float64).requires_grad_();
            var reference = nn.functional.conv2d(x64, w64, strides: new long[] { stride, stride });
            reference.backward(new[] { upstream.to(float64) });

            var xs = ChannelsLast.Copy(x).requires_grad_();
            var ws = ChannelsLast.Copy(w).requires_grad_();
            var y = PointwiseConvolution.Forward(xs, ws, null, stride);
            y.backward(new[] { upstream });

            ChannelsLast.Has(y).Should().BeTrue("the layers after it run NHWC");
            RelativeError(y, reference).Should().BeLessThan(1e-5, "the forward");
            RelativeError(xs.grad, x64.grad).Should().BeLessThan(1e-5, "the input's gradient");
            RelativeError(ws.grad, w64.grad).Should().BeLessThan(1e-5, "the weight's gradient");
        }

        [TestMethod]
        public void A_shortcut_block_in_float32_channels_last_computes_what_it_computes_in_float64()
        {
            manual_seed(12);
            using var scope = NewDisposeScope();
            using var block = new BasicBlock(256, 512, stride: 2);
            using var block64 = new BasicBlock(256, 512, stride: 2);
            block64.load_state_dict(block.state_dict());
            block64.to(float64);
            foreach (var conv in block.modules())
                if (conv is TorchSharp.Modules.Conv2d c)
                    using (no_grad()) c.weight.set_(ChannelsLast.Copy(c.weight));
            var x = randn(8, 256, 8, 8);

            var y = block.forward(ChannelsLast.Copy(x));
            var reference = block64.forward(x.to(float64));

            RelativeError(y, reference).Should().BeLessThan(1e-4, "conv + BatchNorm + add + ReLU, both branches");
        }

        [TestMethod]
        public void Only_a_float32_channels_last_input_outside_autocast_takes_the_matrix_product()
        {
            using var scope = NewDisposeScope();
            var w = ChannelsLast.Copy(randn(512, 4, 1, 1));
            var nhwc = ChannelsLast.Copy(randn(2, 4, 6, 6));
            PointwiseConvolution.TakesTheProduct(nhwc, w).Should().BeTrue();
            PointwiseConvolution.TakesTheProduct(nhwc, ChannelsLast.Copy(randn(256, 4, 1, 1))).Should().BeFalse("up to 256 outputs the kernel was right");
            PointwiseConvolution.TakesTheProduct(randn(2, 4, 6, 6), w).Should().BeFalse("NCHW runs another, correct kernel");
            PointwiseConvolution.TakesTheProduct(nhwc, ChannelsLast.Copy(randn(512, 4, 3, 3))).Should().BeFalse("3×3 is not pointwise");
            PointwiseConvolution.TakesTheProduct(nhwc.to(bfloat16), w.to(bfloat16)).Should().BeFalse("the bf16 kernel was right");
            using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
            {
                PointwiseConvolution.TakesTheProduct(nhwc, w).Should().BeFalse("under autocast the convolution runs in bf16");
                PointwiseConvolution.Forward(nhwc, w, null, 2).dtype.Should().Be(ScalarType.BFloat16);
            }
        }

        private static double RelativeError(Tensor actual, Tensor reference)
            => ((actual.to(float64) - reference).abs().max() / reference.abs().max()).item<double>();
    }
}
