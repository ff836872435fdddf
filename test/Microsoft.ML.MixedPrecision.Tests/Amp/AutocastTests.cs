using System;
using System.Threading;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Native;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Amp
{
    [TestClass]
    public class AutocastTests
    {
        [TestInitialize]
        public void Init()
        {
            TorchRuntime.EnsureAvailable();
            torch.manual_seed(1);
        }

        [TestMethod]
        public void Linear_conv2d_and_matmul_run_in_bfloat16_under_cpu_autocast()
        {
            using var scope = NewDisposeScope();
            var linear = nn.Linear(8, 4);
            var conv = nn.Conv2d(3, 4, 3);
            var x = randn(2, 8);
            var image = randn(1, 3, 8, 8);
            using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
            {
                linear.forward(x).dtype.Should().Be(ScalarType.BFloat16);
                conv.forward(image).dtype.Should().Be(ScalarType.BFloat16);
                x.matmul(x.t()).dtype.Should().Be(ScalarType.BFloat16);
                nn.functional.conv2d(image, randn(4, 3, 3, 3)).dtype.Should().Be(ScalarType.BFloat16);
            }
        }

        [TestMethod]
        public void Cross_entropy_runs_in_float32_under_cpu_autocast()
        {
            using var scope = NewDisposeScope();
            var linear = nn.Linear(8, 4);
            var target = tensor(new long[] { 0, 3 });
            using (new Autocast(DeviceType.CPU))
            {
                var logits = linear.forward(randn(2, 8));
                logits.dtype.Should().Be(ScalarType.BFloat16);
                nn.functional.cross_entropy(logits, target).dtype.Should().Be(ScalarType.Float32);
            }
        }

        [TestMethod]
        public void Everything_is_float32_outside_a_region()
        {
            using var scope = NewDisposeScope();
            var linear = nn.Linear(8, 4);
            var x = randn(2, 8);
            Autocast.IsEnabled(DeviceType.CPU).Should().BeFalse();
            linear.forward(x).dtype.Should().Be(ScalarType.Float32);
            using (new Autocast(DeviceType.CPU)) { }
            Autocast.IsEnabled(DeviceType.CPU).Should().BeFalse();
            linear.forward(x).dtype.Should().Be(ScalarType.Float32);
            x.matmul(x.t()).dtype.Should().Be(ScalarType.Float32);
        }

        [TestMethod]
        public void Nested_disabled_region_runs_float32_and_outer_region_resumes()
        {
            using var scope = NewDisposeScope();
            var x = randn(4, 4);
            using (new Autocast(DeviceType.CPU))
            {
                using (var inner = new Autocast(DeviceType.CPU, enabled: false))
                {
                    inner.IsActive.Should().BeFalse();
                    Autocast.IsEnabled(DeviceType.CPU).Should().BeFalse();
                    x.matmul(x).dtype.Should().Be(ScalarType.Float32);
                }
                Autocast.IsEnabled(DeviceType.CPU).Should().BeTrue();
                x.matmul(x).dtype.Should().Be(ScalarType.BFloat16);
            }
        }

        [TestMethod]
        public void Autocast_restores_state_when_body_throws()
        {
            var previousDtype = Autocast.GetDtype(DeviceType.CPU);
            Action body = () =>
            {
                using (new Autocast(DeviceType.CPU, ScalarType.Float16, cacheEnabled: false))
                {
                    Autocast.IsEnabled(DeviceType.CPU).Should().BeTrue();
                    throw new InvalidOperationException("boom");
                }
            };
            body.Should().Throw<InvalidOperationException>().WithMessage("boom");
            Autocast.IsEnabled(DeviceType.CPU).Should().BeFalse();
            Autocast.GetDtype(DeviceType.CPU).Should().Be(previousDtype);
            LibTorchAmpNative.IsCacheEnabled().Should().BeTrue();
            using var x = randn(3, 3);
            using var y = x.matmul(x);
            y.dtype.Should().Be(ScalarType.Float32);
        }

        [TestMethod]
        public void Another_thread_sees_autocast_off()
        {
            bool otherThreadEnabled = true;
            ScalarType otherThreadResult = ScalarType.BFloat16;
            using (new Autocast(DeviceType.CPU))
            {
                var thread = new Thread(() =>
                {
                    otherThreadEnabled = Autocast.IsEnabled(DeviceType.CPU);
                    using var x = randn(4, 4);
                    using var y = x.matmul(x);
                    otherThreadResult = y.dtype;
                });
                thread.Start();
                thread.Join();
                Autocast.IsEnabled(DeviceType.CPU).Should().BeTrue();
            }
            otherThreadEnabled.Should().BeFalse();
            otherThreadResult.Should().Be(ScalarType.Float32);
        }

        [TestMethod]
        public void Backward_through_autocast_forward_gives_float32_gradients_on_float32_parameters()
        {
            using var scope = NewDisposeScope();
            var model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3));
            var x = randn(5, 8);
            var target = tensor(new long[] { 0, 1, 2, 1, 0 });
            Tensor loss;
            using (new Autocast(DeviceType.CPU))
            {
                loss = nn.functional.cross_entropy(model.forward(x), target);
            }
            loss.backward();
            foreach (var p in model.parameters())
            {
                p.dtype.Should().Be(ScalarType.Float32);
                p.grad.Should().NotBeNull();
                p.grad.dtype.Should().Be(ScalarType.Float32);
                p.grad.abs().sum().item<float>().Should().BeGreaterThan(0f);
            }
        }

        [TestMethod]
        public void Float16_region_on_cpu_lowers_matmul_to_float16()
        {
            using var scope = NewDisposeScope();
            var x = randn(4, 4);
            using (new Autocast(DeviceType.CPU, ScalarType.Float16))
            {
                Autocast.GetDtype(DeviceType.CPU).Should().Be(ScalarType.Float16);
                x.matmul(x).dtype.Should().Be(ScalarType.Float16);
            }
        }

        [TestMethod]
        public void Disposing_a_region_on_another_thread_is_refused()
        {
            var region = new Autocast(DeviceType.CPU);
            Exception error = null;
            var thread = new Thread(() =>
            {
                try { region.Dispose(); }
                catch (Exception e) { error = e; }
            });
            thread.Start();
            thread.Join();
            region.Dispose();
            error.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Contain("thread");
            Autocast.IsEnabled(DeviceType.CPU).Should().BeFalse();
        }

        [TestMethod]
        public void Cuda_region_without_cuda_is_inactive_and_leaves_cpu_alone()
        {
            AmpCapabilities.IsCudaAvailable.Should().BeFalse("this test machine is CPU-only");
            using var scope = NewDisposeScope();
            var x = randn(4, 4);
            using (var region = new Autocast(DeviceType.CUDA))
            {
                region.IsActive.Should().BeFalse();
                region.Dtype.Should().Be(ScalarType.Float16);
                Autocast.IsEnabled(DeviceType.CPU).Should().BeFalse();
                x.matmul(x).dtype.Should().Be(ScalarType.Float32);
            }
        }

        [TestMethod]
        public void Unsupported_dtype_is_rejected_with_its_name()
        {
            Action act = () => new Autocast(DeviceType.CPU, ScalarType.Float64).Dispose();
            act.Should().Throw<ArgumentException>().Which.Message.Should().Contain("Float64");
            Autocast.IsEnabled(DeviceType.CPU).Should().BeFalse();
        }

        [TestMethod]
        public void Nesting_depth_returns_to_zero_after_regions()
        {
            using (new Autocast(DeviceType.CPU))
            using (new Autocast(DeviceType.CPU, enabled: false))
            {
            }
            // increment then decrement again: a balanced enter/exit leaves depth 0.
            LibTorchAmpNative.IncrementNesting().Should().Be(1);
            LibTorchAmpNative.DecrementNesting().Should().Be(0);
        }
    }
}
