using System;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    [TestClass]
    public class UniformMaskDropoutTests
    {
        [TestMethod]
        [DataRow(ScalarType.Float32)]
        [DataRow(ScalarType.BFloat16)]
        public void Drops_a_fraction_p_and_scales_the_rest_as_libtorch_does(ScalarType dtype)
        {
            using var scope = NewDisposeScope();
            const double p = 0.1;
            manual_seed(3);
            var x = rand(64, 59, 128).add_(0.5).to(dtype).requires_grad_(true);
            var y = UniformMaskDropout.Apply(x, p);
            y.dtype.Should().Be(dtype);

            var dropped = y.eq(0);
            double fraction = dropped.to(ScalarType.Float64).mean().item<double>();
            double sigma = Math.Sqrt(p * (1 - p) / x.numel());
            fraction.Should().BeApproximately(p, 5 * sigma);

            // Kept values: x times 1/(1-p) rounded to the dtype, as libtorch's noise.div_(1 - p) makes it.
            var scale = ones(1, dtype).div_(1 - p);
            var expected = x.detach().mul(scale).masked_fill(dropped, 0);
            y.detach().to(ScalarType.Float32).Equals(expected.to(ScalarType.Float32)).Should().BeTrue();

            y.sum().backward();
            var expectedGrad = ones_like(x).mul(scale).masked_fill(dropped, 0);
            x.grad.to(ScalarType.Float32).Equals(expectedGrad.to(ScalarType.Float32)).Should().BeTrue("the gradient is the same noise");
        }

        [TestMethod]
        public void The_seed_reproduces_the_mask_and_eval_mode_passes_the_input_through()
        {
            using var scope = NewDisposeScope();
            var x = ones(32, 40);
            manual_seed(7);
            var first = UniformMaskDropout.Apply(x, 0.3);
            manual_seed(7);
            var again = UniformMaskDropout.Apply(x, 0.3);
            first.Equals(again).Should().BeTrue();
            UniformMaskDropout.Apply(x, 0.3).Equals(first).Should().BeFalse("the generator moved on");

            var module = new UniformMaskDropout(0.3);
            module.eval();
            module.forward(x).Equals(x).Should().BeTrue();
            module.train();
            module.forward(x).eq(0).any().item<bool>().Should().BeTrue();
            UniformMaskDropout.Apply(x, 0).Equals(x).Should().BeTrue();
        }

        [TestMethod]
        public void Attention_written_out_for_dropout_equals_scaled_dot_product_attention_without_it()
        {
            using var scope = NewDisposeScope();
            manual_seed(5);
            var q = randn(3, 2, 9, 16);
            var k = randn(3, 2, 9, 16);
            var v = randn(3, 2, 9, 16);
            var keep = ones(3, 1, 1, 9, ScalarType.Bool);
            keep[0, 0, 0].narrow(0, 6, 3).fill_(false);
            keep[2, 0, 0].narrow(0, 2, 7).fill_(false);
            var fused = nn.functional.scaled_dot_product_attention(q, k, v, keep);

            // A dropout probability too small to drop any of these 486 weights (with this seed) takes the written-out path.
            var written = MultiHeadSelfAttention.Attend(q, k, v, keep, dropout: 1e-9);
            written.sub(fused).abs().max().item<float>().Should().BeLessThan(1e-5f);

            var dropped = MultiHeadSelfAttention.Attend(q, k, v, keep, dropout: 0.5);
            dropped.isfinite().all().item<bool>().Should().BeTrue();
            dropped.sub(fused).abs().max().item<float>().Should().BeGreaterThan(1e-3f, "half the attention weights are dropped");
        }

        [TestMethod]
        public void Attention_with_dropout_runs_its_matmuls_in_the_inputs_dtype_and_stays_close_to_float32()
        {
            using var scope = NewDisposeScope();
            manual_seed(6);
            var q = randn(4, 2, 11, 16);
            var k = randn(4, 2, 11, 16);
            var v = randn(4, 2, 11, 16);
            var keep = ones(4, 1, 1, 11, ScalarType.Bool);
            keep[1, 0, 0].narrow(0, 7, 4).fill_(false);

            manual_seed(8);
            var exact = MultiHeadSelfAttention.Attend(q, k, v, keep, dropout: 0.2);
            manual_seed(8);
            var bf16 = MultiHeadSelfAttention.Attend(q.to(ScalarType.BFloat16), k.to(ScalarType.BFloat16), v.to(ScalarType.BFloat16), keep, dropout: 0.2);

            bf16.dtype.Should().Be(ScalarType.BFloat16);
            // The same seed draws the same float32 mask; what differs is bf16 rounding (8 bits of mantissa: ~0.4 % per value).
            double error = bf16.to(ScalarType.Float32).sub(exact).abs().max().item<float>();
            double scale = exact.abs().max().item<float>();
            error.Should().BeLessThan(0.03 * scale);
        }
    }
}
