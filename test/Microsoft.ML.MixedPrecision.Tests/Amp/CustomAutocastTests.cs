using System;
using System.Collections.Generic;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Amp
{
    [TestClass]
    public class CustomAutocastTests
    {
        /// <summary>a·b as a custom autograd function that records the autocast state and input dtype its forward and backward saw.</summary>
        private sealed class RecordingMatmul : autograd.SingleTensorFunction<RecordingMatmul>
        {
            public static ScalarType? CastInputs;
            public static (bool Autocast, ScalarType InputDtype) SeenInForward;
            public static (bool Autocast, ScalarType Dtype)? SeenInBackward;

            public override string Name => nameof(RecordingMatmul);

            public override Tensor forward(autograd.AutogradContext ctx, params object[] vars) =>
                CustomAutocast.Forward(ctx, DeviceType.CPU, CastInputs, vars, v =>
                {
                    var a = (Tensor)v[0];
                    var b = (Tensor)v[1];
                    SeenInForward = (Autocast.IsEnabled(DeviceType.CPU), a.dtype);
                    ctx.save_for_backward(new List<Tensor> { a, b });
                    return a.matmul(b);
                });

            public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad) =>
                CustomAutocast.Backward(ctx, () =>
                {
                    SeenInBackward = (Autocast.IsEnabled(DeviceType.CPU), Autocast.GetDtype(DeviceType.CPU));
                    var saved = ctx.get_saved_variables();
                    return new List<Tensor> { grad.matmul(saved[1].t()), saved[0].t().matmul(grad) };
                });
        }

        [TestInitialize]
        public void Init()
        {
            TorchRuntime.EnsureAvailable();
            torch.manual_seed(5);
            RecordingMatmul.SeenInBackward = null;
        }

        [TestMethod]
        public void With_cast_inputs_the_forward_runs_in_float32_with_autocast_off_and_so_does_the_backward()
        {
            using var scope = NewDisposeScope();
            RecordingMatmul.CastInputs = ScalarType.Float32;
            var a = randn(4, 6, requires_grad: true);
            var b = randn(6, 3, requires_grad: true);
            Tensor output;
            using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
            {
                output = RecordingMatmul.apply(a.to(ScalarType.BFloat16), b.to(ScalarType.BFloat16));
                Autocast.IsEnabled(DeviceType.CPU).Should().BeTrue("the function's region closed with its forward");
            }
            RecordingMatmul.SeenInForward.Should().Be((false, ScalarType.Float32));
            output.dtype.Should().Be(ScalarType.Float32);
            output.sum().backward();
            RecordingMatmul.SeenInBackward!.Value.Autocast.Should().BeFalse();

            // The same product in float32 on the bf16-rounded inputs, and its gradients.
            var ra = a.detach().to(ScalarType.BFloat16).to(ScalarType.Float32).requires_grad_();
            var rb = b.detach().to(ScalarType.BFloat16).to(ScalarType.Float32).requires_grad_();
            var reference = ra.matmul(rb);
            reference.sum().backward();
            output.allclose(reference, rtol: 0, atol: 0).Should().BeTrue();
            a.grad!.allclose(rb.sum(1).to(ScalarType.BFloat16).to(ScalarType.Float32).expand(4, 6), rtol: 0, atol: 0)
                .Should().BeTrue("the gradient reaches the bf16 input's float32 leaf, rounded to bf16 on the way");
            b.grad.Should().NotBeNull();
            b.grad!.abs().sum().item<float>().Should().BeGreaterThan(0);
        }

        [TestMethod]
        public void Without_cast_inputs_the_backward_runs_in_the_forwards_autocast_state_after_the_region_closed()
        {
            using var scope = NewDisposeScope();
            RecordingMatmul.CastInputs = null;
            var a = randn(4, 6, requires_grad: true);
            var b = randn(6, 3, requires_grad: true);
            Tensor output;
            using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
                output = RecordingMatmul.apply(a, b);
            RecordingMatmul.SeenInForward.Should().Be((true, ScalarType.Float32), "no cast: the inputs as given, autocast on");
            output.dtype.Should().Be(ScalarType.BFloat16, "matmul ran under autocast");
            Autocast.IsEnabled(DeviceType.CPU).Should().BeFalse();
            output.sum().backward();
            RecordingMatmul.SeenInBackward.Should().Be((true, ScalarType.BFloat16));
            Autocast.IsEnabled(DeviceType.CPU).Should().BeFalse("the backward's region restored the state");
            a.grad.Should().NotBeNull();
        }

        [TestMethod]
        public void Outside_an_autocast_region_nothing_is_cast_and_both_passes_run_with_autocast_off()
        {
            using var scope = NewDisposeScope();
            RecordingMatmul.CastInputs = ScalarType.Float32;
            var a = randn(4, 6).to(ScalarType.BFloat16).requires_grad_();
            var b = randn(6, 3).to(ScalarType.BFloat16).requires_grad_();
            var output = RecordingMatmul.apply(a, b);
            RecordingMatmul.SeenInForward.Should().Be((false, ScalarType.BFloat16), "custom_fwd casts only inside an autocast region");
            output.dtype.Should().Be(ScalarType.BFloat16);
            output.sum().backward();
            RecordingMatmul.SeenInBackward!.Value.Autocast.Should().BeFalse();
        }

        [TestMethod]
        public void Null_arguments_are_refused_with_their_names()
        {
            Action forward = () => CustomAutocast.Forward<Tensor>(null!, DeviceType.CPU, null, Array.Empty<object>(), _ => null!);
            forward.Should().Throw<ArgumentNullException>().WithParameterName("ctx");
        }
    }
}
