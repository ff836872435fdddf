using System;
using System.Collections.Generic;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Native;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>
    /// The fused AdamW against TorchSharp's AdamW on the same weights and gradients: two groups (learning rates, weight
    /// decay on one), a channels-last 4-d weight as the image networks have, a vector, and a parameter that misses its
    /// gradient for the first steps (its step count lags, as a frozen-then-unfrozen layer's does).
    /// </summary>
    [TestClass]
    public class FusedAdamWTests
    {
        private const int Steps = 6;

        [TestMethod]
        public void Fused_steps_follow_TorchSharps_AdamW_to_float_rounding()
        {
            if (!LibTorchAmpNative.HasFusedAdamW)
                Assert.Inconclusive("This libtorch has no fused AdamW kernel.");
            var (fused, fusedParams) = Run(p => new FusedAdamW(Groups(p), 1e-2, 0.05), DenseParameters);
            var (reference, referenceParams) = Run(p => new AdamW(Groups(p), 1e-2, weight_decay: 0.05), DenseParameters);

            ((FusedAdamW)fused).FallbackSteps.Should().Be(0, "every parameter is dense (contiguous or channels-last)");
            for (int i = 0; i < fusedParams.Length; i++)
            {
                double scale = referenceParams[i].abs().max().item<float>();
                double diff = (fusedParams[i] - referenceParams[i]).abs().max().item<float>();
                diff.Should().BeLessThanOrEqualTo(1e-6 * Math.Max(1, scale), $"parameter {i} after {Steps} steps");
                (fusedParams[i] - Initial(i, DenseParameters)).abs().max().item<float>().Should().BeGreaterThan(1e-4f, $"parameter {i} was updated");
            }
            StepCounts(fused).Should().Equal(StepCounts(reference));
            StepCounts(fused).Should().Contain(Steps / 2, "the lagging parameter had no gradient for the first half of the steps");
            fusedParams[0].stride().Should().Equal(new long[] { 36, 1, 12, 4 }, "the update keeps the channels-last layout");
        }

        [TestMethod]
        public void A_parameter_that_is_not_one_dense_layout_makes_the_whole_step_fall_back_to_TorchSharps_update()
        {
            if (!LibTorchAmpNative.HasFusedAdamW)
                Assert.Inconclusive("This libtorch has no fused AdamW kernel.");
            var (fused, fusedParams) = Run(p => new FusedAdamW(Groups(p), 1e-2, 0.05), StridedParameters);
            var (_, referenceParams) = Run(p => new AdamW(Groups(p), 1e-2, weight_decay: 0.05), StridedParameters);

            ((FusedAdamW)fused).FallbackSteps.Should().Be(Steps, "the every-other-column view cannot be walked as one flat array");
            for (int i = 0; i < fusedParams.Length; i++)
                (fusedParams[i] - referenceParams[i]).abs().max().item<float>().Should().Be(0f, $"parameter {i}: the fallback is TorchSharp's own step");
        }

        [TestMethod]
        [DataRow(ResNetArchitecture.ResNetSmall, 3)]
        [DataRow(ResNetArchitecture.ResNetSmall, 1)] // the gray stem: a [32, 1, 3, 3] weight with NHWC strides
        [DataRow(ResNetArchitecture.ResNet18, 3)]
        public void The_image_networks_in_channels_last_step_through_the_fused_kernel(ResNetArchitecture architecture, int channels)
        {
            if (!LibTorchAmpNative.HasFusedAdamW)
                Assert.Inconclusive("This libtorch has no fused AdamW kernel.");
            using var model = new ResNet(channels, 10, architecture);
            model.SetChannelsLast(true);
            model.train();
            var groups = ParameterGroup.DecayMatricesOnly(model.parameters(), 1.0)
                .Select(g => new AdamW.ParamGroup(g.Parameters, lr: 1e-3, weight_decay: g.WeightDecay ? 0.01 : 0));
            using var optimizer = new FusedAdamW(groups, 1e-3, 0.01);
            manual_seed(3);
            for (int step = 0; step < 2; step++)
            {
                optimizer.zero_grad();
                using (var scope = NewDisposeScope())
                    nn.functional.cross_entropy(model.forward(randn(2, channels, 32, 32)), randint(0, 10, 2)).backward();
                optimizer.step();
            }
            optimizer.FallbackSteps.Should().Be(0, "every weight, 1x1 kernels included, is one dense layout with its gradient and moments");
        }

        [TestMethod]
        public void The_layout_check_refuses_tensors_of_another_layout_or_dtype()
        {
            using var scope = NewDisposeScope();
            var p = randn(4, 6);
            LibTorchAmpNative.IsFusedAdamWLayout(p, randn(4, 6), zeros_like(p), zeros_like(p)).Should().BeTrue();
            LibTorchAmpNative.IsFusedAdamWLayout(p, randn(6, 4).t(), zeros_like(p), zeros_like(p)).Should().BeFalse("the gradient's strides differ");
            LibTorchAmpNative.IsFusedAdamWLayout(p, randn(4, 6, dtype: ScalarType.BFloat16), zeros_like(p), zeros_like(p)).Should().BeFalse();
            var kernel1x1 = randn(8, 1, 1, 4).permute(0, 3, 1, 2); // channels-last [8, 4, 1, 1]
            LibTorchAmpNative.IsFusedAdamWLayout(kernel1x1, randn(8, 4, 1, 1), zeros_like(kernel1x1), zeros_like(kernel1x1))
                .Should().BeTrue("a 1x1 kernel is laid out alike whatever the strides of its size-1 dimensions");
            var gappy = randn(4, 12)[.., TensorIndex.Slice(step: 2)];
            LibTorchAmpNative.IsFusedAdamWLayout(gappy, zeros_like(gappy), zeros_like(gappy), zeros_like(gappy)).Should().BeFalse("a view with gaps");
        }

        private static Tensor[] DenseParameters()
        {
            manual_seed(7);
            return new[]
            {
                randn(8, 3, 3, 4).permute(0, 3, 1, 2), // [8, 4, 3, 3] in channels-last order
                randn(16, 5),
                randn(16),
                randn(5, 5),                           // no gradient before the second half of the steps
            };
        }

        private static Tensor[] StridedParameters()
        {
            var dense = DenseParameters();
            dense[1] = randn(16, 10)[.., TensorIndex.Slice(step: 2)];
            return dense;
        }

        private static Tensor Initial(int index, Func<Tensor[]> make) => make()[index];

        /// <summary>Weights (decayed, full rate) and the vector (no decay, a tenth of the rate), as fine-tuning groups them.</summary>
        private static IEnumerable<AdamW.ParamGroup> Groups(Parameter[] p) => new[]
        {
            new AdamW.ParamGroup(new[] { p[0], p[1], p[3] }, lr: 1e-2, weight_decay: 0.05),
            new AdamW.ParamGroup(new[] { p[2] }, lr: 1e-3, weight_decay: 0),
        };

        private static (optim.Optimizer Optimizer, Tensor[] Final) Run(Func<Parameter[], optim.Optimizer> create, Func<Tensor[]> make)
        {
            var parameters = make().Select(t => new Parameter(t.detach().clone_preserving_strides())).ToArray();
            var optimizer = create(parameters);
            manual_seed(11);
            for (int step = 0; step < Steps; step++)
            {
                optimizer.zero_grad();
                using (var scope = NewDisposeScope())
                {
                    Tensor loss = zeros(1);
                    for (int i = 0; i < parameters.Length; i++)
                    {
                        var direction = randn(parameters[i].shape);
                        if (i == 3 && step < Steps / 2)
                            continue;
                        loss = loss + (parameters[i] * direction).sum();
                    }
                    loss.backward();
                }
                optimizer.step();
            }
            return (optimizer, parameters.Select(p => p.detach().clone()).ToArray());
        }

        private static List<long> StepCounts(optim.Optimizer optimizer) =>
            ((OptimizerHelper)optimizer).state_dict().State.Cast<AdamW.State>().Select(s => s.step).ToList();
    }

    internal static class StridedCloneExtensions
    {
        /// <summary>A copy with the source's strides (clone() would make a strided view contiguous in TorchSharp 0.107).</summary>
        public static Tensor clone_preserving_strides(this Tensor t) =>
            empty_strided(t.shape, t.stride()).copy_(t);
    }
}
