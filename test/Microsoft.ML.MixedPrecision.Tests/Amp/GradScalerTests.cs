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
    public class GradScalerTests
    {
        [TestInitialize]
        public void Init()
        {
            TorchRuntime.EnsureAvailable();
            torch.manual_seed(7);
        }

        /// <summary>One parameter vector w and loss = sum(w * x): the gradient of w is exactly x.</summary>
        private sealed class Probe : IDisposable
        {
            public readonly TorchSharp.Modules.Parameter W = new TorchSharp.Modules.Parameter(ones(4));
            public readonly optim.Optimizer Optimizer;
            public Probe(double lr = 0.1) { Optimizer = optim.SGD(new[] { W }, lr); }

            public void Backward(GradScaler scaler, float[] x)
            {
                Optimizer.zero_grad();
                using var scope = NewDisposeScope();
                var loss = (W * tensor(x)).sum();
                scaler.Scale(loss).backward();
            }

            public float[] Weights => W.detach().data<float>().ToArray();
            public float[] Grad { get { using var g = W.grad; return g.data<float>().ToArray(); } }
            public void Dispose() { Optimizer.Dispose(); W.Dispose(); }
        }

        [TestMethod]
        public void Defaults_match_torch_amp_grad_scaler()
        {
            using var scaler = new GradScaler();
            scaler.GetScale().Should().Be(65536.0);
            scaler.GrowthFactor.Should().Be(2.0);
            scaler.BackoffFactor.Should().Be(0.5);
            scaler.GrowthInterval.Should().Be(2000);
            scaler.IsEnabled.Should().BeTrue();
            scaler.UsesFusedKernels.Should().BeTrue("libtorch 2.10 exports the fused AMP kernels");
        }

        [TestMethod]
        public void Scale_multiplies_the_loss_by_the_current_scale()
        {
            using var scaler = new GradScaler(initScale: 1024);
            using var loss = tensor(0.5f);
            using var scaled = scaler.Scale(loss);
            scaled.item<float>().Should().Be(512f);
        }

        [TestMethod]
        public void Clean_step_unscales_gradients_and_updates_parameters()
        {
            foreach (bool fused in new[] { true, false })
            {
                using var scaler = new GradScaler(initScale: 1024) { PreferFusedKernels = fused };
                using var probe = new Probe(lr: 0.5);
                probe.Backward(scaler, new[] { 1f, 2f, 3f, 4f });
                probe.Grad.Should().Equal(1024f, 2048f, 3072f, 4096f);
                scaler.Step(probe.Optimizer).Should().BeTrue();
                probe.Grad.Should().Equal(1f, 2f, 3f, 4f);
                probe.Weights.Should().Equal(0.5f, 0f, -0.5f, -1f);
                scaler.LastStepSkipped.Should().BeFalse();
                scaler.Update();
                scaler.GetScale().Should().Be(1024.0);
                scaler.GetGrowthTracker().Should().Be(1);
            }
        }

        [TestMethod]
        public void Inf_gradient_skips_the_step_and_halves_the_scale()
        {
            foreach (bool fused in new[] { true, false })
            {
                using var scaler = new GradScaler(initScale: 1024) { PreferFusedKernels = fused };
                using var probe = new Probe();
                probe.Backward(scaler, new[] { 1f, float.PositiveInfinity, 3f, 4f });
                scaler.Step(probe.Optimizer).Should().BeFalse();
                probe.Weights.Should().Equal(1f, 1f, 1f, 1f);
                scaler.LastStepSkipped.Should().BeTrue();
                scaler.SkippedSteps.Should().Be(1);
                scaler.Update();
                scaler.GetScale().Should().Be(512.0);
                scaler.GetGrowthTracker().Should().Be(0);
            }
        }

        [TestMethod]
        public void NaN_gradient_skips_the_step_and_halves_the_scale()
        {
            foreach (bool fused in new[] { true, false })
            {
                using var scaler = new GradScaler(initScale: 256) { PreferFusedKernels = fused };
                using var probe = new Probe();
                probe.Backward(scaler, new[] { float.NaN, 1f, 1f, 1f });
                scaler.Step(probe.Optimizer).Should().BeFalse();
                probe.Weights.Should().Equal(1f, 1f, 1f, 1f);
                scaler.Update();
                scaler.GetScale().Should().Be(128.0);
            }
        }

        [TestMethod]
        public void Overflow_of_the_scaled_gradient_itself_is_caught()
        {
            // 1e35 * 65536 overflows float32 during backward: the classic fp16/large-scale case.
            using var scaler = new GradScaler();
            using var probe = new Probe();
            probe.Backward(scaler, new[] { 1e35f, 1f, 1f, 1f });
            scaler.Step(probe.Optimizer).Should().BeFalse();
            scaler.Update();
            scaler.GetScale().Should().Be(32768.0);
        }

        [TestMethod]
        public void Scale_grows_after_growth_interval_clean_steps()
        {
            foreach (bool fused in new[] { true, false })
            {
                using var scaler = new GradScaler(initScale: 8, growthInterval: 3) { PreferFusedKernels = fused };
                using var probe = new Probe(lr: 0.001);
                var scales = Enumerable.Range(0, 7).Select(_ =>
                {
                    probe.Backward(scaler, new[] { 1f, 1f, 1f, 1f });
                    scaler.Step(probe.Optimizer);
                    scaler.Update();
                    return scaler.GetScale();
                }).ToArray();
                scales.Should().Equal(8, 8, 16, 16, 16, 32, 32);
            }
        }

        [TestMethod]
        public void Skipped_step_resets_the_growth_tracker()
        {
            using var scaler = new GradScaler(initScale: 8, growthInterval: 2);
            using var probe = new Probe();
            probe.Backward(scaler, new[] { 1f, 1f, 1f, 1f }); scaler.Step(probe.Optimizer); scaler.Update();
            scaler.GetGrowthTracker().Should().Be(1);
            probe.Backward(scaler, new[] { float.NaN, 1f, 1f, 1f }); scaler.Step(probe.Optimizer); scaler.Update();
            scaler.GetGrowthTracker().Should().Be(0);
            scaler.GetScale().Should().Be(4);
            probe.Backward(scaler, new[] { 1f, 1f, 1f, 1f }); scaler.Step(probe.Optimizer); scaler.Update();
            probe.Backward(scaler, new[] { 1f, 1f, 1f, 1f }); scaler.Step(probe.Optimizer); scaler.Update();
            scaler.GetScale().Should().Be(8);
        }

        [TestMethod]
        public void Unscale_lets_gradients_be_clipped_before_the_step()
        {
            using var scaler = new GradScaler(initScale: 4096);
            using var probe = new Probe(lr: 1.0);
            probe.Backward(scaler, new[] { 3f, 4f, 0f, 0f });
            scaler.Unscale(probe.Optimizer);
            probe.Grad.Should().Equal(3f, 4f, 0f, 0f);
            nn.utils.clip_grad_norm_(new[] { probe.W }, 1.0);
            scaler.Step(probe.Optimizer).Should().BeTrue();
            probe.Weights[0].Should().BeApproximately(1f - 0.6f, 1e-5f);
            probe.Weights[1].Should().BeApproximately(1f - 0.8f, 1e-5f);
            scaler.Update();
        }

        [TestMethod]
        public void Unscale_twice_before_update_is_refused()
        {
            using var scaler = new GradScaler();
            using var probe = new Probe();
            probe.Backward(scaler, new[] { 1f, 1f, 1f, 1f });
            scaler.Unscale(probe.Optimizer);
            Action again = () => scaler.Unscale(probe.Optimizer);
            again.Should().Throw<InvalidOperationException>().WithMessage("*already been called on this optimizer since the last Update()*");
        }

        [TestMethod]
        public void Unscale_after_step_is_refused()
        {
            using var scaler = new GradScaler();
            using var probe = new Probe();
            probe.Backward(scaler, new[] { 1f, 1f, 1f, 1f });
            scaler.Step(probe.Optimizer);
            Action late = () => scaler.Unscale(probe.Optimizer);
            late.Should().Throw<InvalidOperationException>().WithMessage("*called after Step()*");
        }

        [TestMethod]
        public void Float16_gradients_are_refused_like_pytorch()
        {
            using var scaler = new GradScaler();
            using var w = new TorchSharp.Modules.Parameter(ones(4, ScalarType.Float16));
            using var optimizer = optim.SGD(new[] { w }, 0.1);
            using (var scope = NewDisposeScope())
                scaler.Scale((w * tensor(new float[] { 1, 2, 3, 4 }).to(ScalarType.Float16)).sum().to(ScalarType.Float32)).backward();
            Action unscale = () => scaler.Unscale(optimizer);
            unscale.Should().Throw<InvalidOperationException>().WithMessage("*Float16 gradients*");
        }

        [TestMethod]
        public void Step_twice_before_update_is_refused()
        {
            using var scaler = new GradScaler();
            using var probe = new Probe();
            probe.Backward(scaler, new[] { 1f, 1f, 1f, 1f });
            scaler.Step(probe.Optimizer);
            Action again = () => scaler.Step(probe.Optimizer);
            again.Should().Throw<InvalidOperationException>().WithMessage("*already been called*");
        }

        [TestMethod]
        public void State_round_trips_into_a_new_scaler()
        {
            using var scaler = new GradScaler(initScale: 64, growthFactor: 4, backoffFactor: 0.25, growthInterval: 5);
            using var probe = new Probe();
            probe.Backward(scaler, new[] { float.NaN, 1f, 1f, 1f }); scaler.Step(probe.Optimizer); scaler.Update();
            probe.Backward(scaler, new[] { 1f, 1f, 1f, 1f }); scaler.Step(probe.Optimizer); scaler.Update();
            probe.Backward(scaler, new[] { 1f, 1f, 1f, 1f }); scaler.Step(probe.Optimizer); scaler.Update();
            var state = scaler.GetState();
            state.Scale.Should().Be(16);
            state.GrowthTracker.Should().Be(2);
            state.SkippedSteps.Should().Be(1);

            var json = System.Text.Json.JsonSerializer.Serialize(state);
            using var restored = new GradScaler();
            restored.LoadState(System.Text.Json.JsonSerializer.Deserialize<GradScalerState>(json));
            restored.GetScale().Should().Be(16);
            restored.GetGrowthTracker().Should().Be(2);
            restored.GrowthFactor.Should().Be(4);
            restored.BackoffFactor.Should().Be(0.25);
            restored.GrowthInterval.Should().Be(5);
            restored.SkippedSteps.Should().Be(1);
        }

        [TestMethod]
        public void Disabled_scaler_saves_an_empty_state_that_round_trips_and_an_enabled_scaler_refuses()
        {
            using var disabled = new GradScaler(enabled: false);
            var json = System.Text.Json.JsonSerializer.Serialize(disabled.GetState());
            var state = System.Text.Json.JsonSerializer.Deserialize<GradScalerState>(json);
            state.Enabled.Should().BeFalse("a disabled scaler's state is empty, like PyTorch's {}");
            using var otherDisabled = new GradScaler(enabled: false);
            otherDisabled.LoadState(state); // ignored, as PyTorch's disabled scaler does
            using var enabled = new GradScaler();
            Action load = () => enabled.LoadState(state);
            load.Should().Throw<ArgumentException>().WithMessage("*empty*disabled scaler*");
        }

        [TestMethod]
        public void Loading_a_damaged_state_names_the_bad_value_and_changes_nothing()
        {
            using var scaler = new GradScaler(initScale: 128);
            var good = scaler.GetState();
            foreach (var (bad, what) in new (Action<GradScalerState>, string)[]
                     {
                         (s => s.Scale = double.NaN, "scale"), (s => s.Scale = -1, "scale"), (s => s.GrowthFactor = 0.5, "growth factor"),
                         (s => s.BackoffFactor = 1.5, "backoff factor"), (s => s.GrowthInterval = 0, "growth interval"),
                         (s => s.GrowthTracker = 5000, "growth tracker"), (s => s.SkippedSteps = -3, "skipped-step count"),
                     })
            {
                var damaged = System.Text.Json.JsonSerializer.Deserialize<GradScalerState>(System.Text.Json.JsonSerializer.Serialize(good));
                bad(damaged);
                Action load = () => scaler.LoadState(damaged);
                load.Should().Throw<ArgumentException>().WithMessage($"*invalid*{what}*");
                scaler.GetScale().Should().Be(128, "a refused state leaves the scaler as it was");
            }
        }

        [TestMethod]
        public void Disabled_scaler_is_a_pass_through()
        {
            using var scaler = new GradScaler(enabled: false);
            using var probe = new Probe(lr: 1.0);
            using var loss = tensor(2f);
            scaler.Scale(loss).Should().BeSameAs(loss);
            probe.Backward(scaler, new[] { 1f, 2f, 3f, 4f });
            probe.Grad.Should().Equal(1f, 2f, 3f, 4f);
            scaler.Unscale(probe.Optimizer);
            scaler.Step(probe.Optimizer).Should().BeTrue();
            scaler.Update();
            probe.Weights.Should().Equal(0f, -1f, -2f, -3f);
            scaler.GetScale().Should().Be(1.0);
        }

        [TestMethod]
        public void Float16_training_on_cpu_with_the_scaler_reduces_the_loss()
        {
            using var scope = NewDisposeScope();
            // Two Gaussian blobs per class in 16 dimensions: separable, so the loss must fall.
            var centers = randn(3, 16) * 3;
            var labels = randint(0, 3, new long[] { 256 });
            var x = centers.index_select(0, labels) + randn(256, 16);
            var model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3));
            using var optimizer = optim.SGD(model.parameters(), 0.1);
            using var scaler = new GradScaler();
            float first = 0, last = 0;
            for (int step = 0; step < 40; step++)
            {
                using var stepScope = NewDisposeScope();
                optimizer.zero_grad();
                Tensor loss;
                using (new Autocast(DeviceType.CPU, ScalarType.Float16))
                {
                    var logits = model.forward(x);
                    logits.dtype.Should().Be(ScalarType.Float16);
                    loss = nn.functional.cross_entropy(logits, labels);
                }
                scaler.Scale(loss).backward();
                scaler.Step(optimizer);
                scaler.Update();
                float value = loss.item<float>();
                if (step == 0) first = value;
                last = value;
            }
            last.Should().BeLessThan(first * 0.5f, "float16 training with loss scaling must learn separable blobs");
            scaler.GetScale().Should().BeGreaterThan(1.0, "a scale collapsing below 1 means every step overflowed");
            model.parameters().All(p => p.dtype == ScalarType.Float32).Should().BeTrue();
        }
    }
}
