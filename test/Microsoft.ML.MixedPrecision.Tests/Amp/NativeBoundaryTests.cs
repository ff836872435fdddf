using System;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Native;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Amp
{
    /// <summary>
    /// Misuse of libtorch's AMP kernels gives a .NET exception instead of a libtorch TORCH_CHECK unwinding through the
    /// P/Invoke frame (which would abort the test process), and long gradient lists do not overflow the stack.
    /// </summary>
    [TestClass]
    public class NativeBoundaryTests
    {
        [TestMethod]
        public void Unscale_with_wrong_found_inf_or_scale_or_mixed_gradients_throws_an_argument_exception()
        {
            using var grad = ones(3);
            using var foundInf = zeros(1);
            using var invScale = full(1, 0.5f);
            using var intFlag = zeros(1, dtype: ScalarType.Int32);
            using var twoScales = full(2, 0.5f);
            using var doubles = ones(3, dtype: ScalarType.Float64);
            Action[] misuse =
            {
                () => LibTorchAmpNative.NonFiniteCheckAndUnscale(Array.Empty<Tensor>(), foundInf, invScale),
                () => LibTorchAmpNative.NonFiniteCheckAndUnscale(new[] { grad }, intFlag, invScale),
                () => LibTorchAmpNative.NonFiniteCheckAndUnscale(new[] { grad }, foundInf, twoScales),
                () => LibTorchAmpNative.NonFiniteCheckAndUnscale(new[] { grad, doubles }, foundInf, invScale),
                () => LibTorchAmpNative.NonFiniteCheckAndUnscale(new Tensor[] { grad, null }, foundInf, invScale),
            };
            foreach (var call in misuse)
                call.Should().Throw<ArgumentException>();
        }

        [TestMethod]
        public void Disposed_gradient_is_refused_before_the_native_call()
        {
            var grad = ones(3);
            grad.Dispose();
            using var foundInf = zeros(1);
            using var invScale = full(1, 0.5f);
            Action call = () => LibTorchAmpNative.NonFiniteCheckAndUnscale(new[] { grad }, foundInf, invScale);
            call.Should().Throw<ArgumentException>().WithMessage("*disposed*");
        }

        [TestMethod]
        public void Update_scale_with_a_float_growth_tracker_or_zero_interval_throws()
        {
            using var scale = full(1, 1024f);
            using var floatTracker = zeros(1);
            using var tracker = zeros(1, dtype: ScalarType.Int32);
            using var foundInf = zeros(1);
            Action wrongTracker = () => LibTorchAmpNative.UpdateScale(scale, floatTracker, foundInf, 2, 0.5, 10);
            wrongTracker.Should().Throw<ArgumentException>().WithMessage("*growthTracker*Int32*");
            Action zeroInterval = () => LibTorchAmpNative.UpdateScale(scale, tracker, foundInf, 2, 0.5, 0);
            zeroInterval.Should().Throw<ArgumentOutOfRangeException>();
        }

        [TestMethod]
        public void Autocast_dtype_other_than_half_types_is_refused()
        {
            Action call = () => LibTorchAmpNative.SetAutocastDtype(DeviceType.CPU, ScalarType.Int64);
            call.Should().Throw<ArgumentException>().WithMessage("*bfloat16 or float16*");
        }

        [TestMethod]
        public void Thousands_of_gradients_are_unscaled_without_overflowing_the_stack()
        {
            if (!LibTorchAmpNative.HasFusedAmpKernels)
                Assert.Inconclusive("This libtorch build exports no fused AMP kernels.");
            var grads = Enumerable.Range(0, 20_000).Select(_ => full(2, 4f)).ToArray();
            try
            {
                using var foundInf = zeros(1);
                using var invScale = full(1, 0.25f);
                LibTorchAmpNative.NonFiniteCheckAndUnscale(grads, foundInf, invScale);
                grads.Should().OnlyContain(g => g.data<float>().All(v => v == 1f));
                foundInf.item<float>().Should().Be(0f);
            }
            finally
            {
                foreach (var g in grads)
                    g.Dispose();
            }
        }
    }
}
