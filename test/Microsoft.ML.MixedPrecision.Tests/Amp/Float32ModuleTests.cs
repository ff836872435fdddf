using System;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Amp
{
    [TestClass]
    public class Float32ModuleTests
    {
        [TestInitialize]
        public void Init()
        {
            TorchRuntime.EnsureAvailable();
            torch.manual_seed(3);
        }

        [TestMethod]
        public void Wrapped_layer_computes_in_float32_inside_a_bfloat16_region_while_the_layers_around_it_do_not()
        {
            using var scope = NewDisposeScope();
            var before = nn.Linear(16, 32);
            var head = new Float32Module(nn.Linear(32, 8));
            var after = nn.Linear(8, 4);
            var x = randn(5, 16);
            using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
            {
                var hidden = before.forward(x);
                var logits = head.forward(hidden);
                var next = after.forward(logits);
                hidden.dtype.Should().Be(ScalarType.BFloat16);
                logits.dtype.Should().Be(ScalarType.Float32, "the wrapped layer ran with autocast off on a float32 input");
                next.dtype.Should().Be(ScalarType.BFloat16, "autocast is back on after the wrapped layer");
                Autocast.IsEnabled(DeviceType.CPU).Should().BeTrue();
            }
        }

        [TestMethod]
        public void Wrapped_layer_equals_the_float32_layer_on_the_same_input()
        {
            using var scope = NewDisposeScope();
            var linear = nn.Linear(32, 8);
            var head = new Float32Module(linear);
            var x = randn(5, 32).to(ScalarType.BFloat16);
            Tensor inside;
            using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
                inside = head.forward(x);
            var expected = linear.forward(x.to(ScalarType.Float32));
            inside.allclose(expected, rtol: 0, atol: 0).Should().BeTrue("the same float32 computation on the same values");
        }

        [TestMethod]
        public void Gradients_flow_through_the_wrapped_layer_to_its_weights_and_to_the_layers_before()
        {
            using var scope = NewDisposeScope();
            var before = nn.Linear(16, 32);
            var head = new Float32Module(nn.Linear(32, 8));
            var x = randn(5, 16);
            var target = randint(0, 8, new long[] { 5 });
            using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
            {
                var loss = nn.functional.cross_entropy(head.forward(before.forward(x)), target);
                loss.backward();
            }
            foreach (var p in head.parameters().Concat(before.parameters()))
            {
                p.grad.Should().NotBeNull();
                p.grad!.dtype.Should().Be(ScalarType.Float32, "master weights and their gradients stay float32");
                p.grad.abs().sum().item<float>().Should().BeGreaterThan(0f);
                p.grad.isfinite().all().item<bool>().Should().BeTrue();
            }
        }

        [TestMethod]
        public void Outside_an_autocast_region_the_wrapper_is_the_module_unchanged()
        {
            using var scope = NewDisposeScope();
            var linear = nn.Linear(8, 4);
            var wrapped = new Float32Module(linear);
            var x = randn(3, 8);
            wrapped.forward(x).allclose(linear.forward(x), rtol: 0, atol: 0).Should().BeTrue();
            wrapped.Module.Should().BeSameAs(linear);
            wrapped.state_dict().Keys.Should().BeEquivalentTo("module.weight", "module.bias");
            Autocast.IsEnabled(DeviceType.CPU).Should().BeFalse();
        }

        [TestMethod]
        public void Autocast_state_is_restored_when_the_wrapped_layer_throws()
        {
            using var scope = NewDisposeScope();
            var head = new Float32Module(nn.Linear(32, 8));
            using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
            {
                Action wrongShape = () => head.forward(randn(5, 7));
                wrongShape.Should().Throw<Exception>();
                Autocast.IsEnabled(DeviceType.CPU).Should().BeTrue("the float32 region closed although the forward threw");
            }
        }

        [TestMethod]
        public void A_null_module_is_refused()
        {
            Action create = () => new Float32Module(null!);
            create.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("module");
        }
    }
}
