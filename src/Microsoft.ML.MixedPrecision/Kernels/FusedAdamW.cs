using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Native;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Kernels
{
    /// <summary>
    /// AdamW whose step is libtorch's fused kernel (<c>torch.optim.AdamW(fused=True)</c>): one pass over each
    /// parameter's weights, gradient and two moments, where TorchSharp's AdamW runs about ten tensor ops a parameter,
    /// each a pass over memory, and allocates two temporaries (on MiniLM's 11 M trainable weights that was ~20 ms a step).
    /// Same state (<see cref="AdamW.State"/>), options and checkpoints as TorchSharp's; the update agrees with it to
    /// float rounding (the kernel forms the first moment as a lerp). Falls back to TorchSharp's step for a whole step
    /// when the kernel is missing, for AMSGrad, for a closure, or when any parameter's tensors are not one dense layout.
    /// </summary>
    internal sealed class FusedAdamW : AdamW
    {
        public FusedAdamW(IEnumerable<ParamGroup> groups, double lr, double weightDecay)
            : base(groups, lr, weight_decay: weightDecay)
        {
        }

        /// <summary>
        /// The optimizer of a fit: each group at <paramref name="lr"/> × its scale, with <paramref name="weightDecay"/> or
        /// without (what TrainingLoop trains with, and what the benchmark's bare loop must match).
        /// </summary>
        internal static FusedAdamW Create(IEnumerable<ParameterGroup> groups, double lr, double weightDecay) =>
            new FusedAdamW(groups.Select(g => new ParamGroup(g.Parameters, lr: lr * g.LearningRateScale,
                weight_decay: g.WeightDecay ? weightDecay : 0)), lr, weightDecay);

        /// <summary>Steps that ran TorchSharp's per-op update instead of the fused kernel (tests read it).</summary>
        internal int FallbackSteps { get; private set; }

        public override Tensor? step(Func<Tensor>? closure = null)
        {
            if (closure != null || !LibTorchAmpNative.HasFusedAdamW)
                return Fallback(closure);

            using var _ = no_grad();
            using var scope = NewDisposeScope();
            // Check every group before changing anything, so a fallback still sees the state untouched.
            var work = new List<(Options Options, List<(Parameter Param, Tensor Grad, State State)> Items)>();
            foreach (ParamGroup group in _parameter_groups)
            {
                var options = (Options)group.Options;
                if (options.amsgrad == true)
                    return Fallback(null);
                var items = new List<(Parameter, Tensor, State)>();
                foreach (var param in group.Parameters)
                {
                    var grad = param.grad;
                    if (grad is null)
                        continue;
                    var state = (State)_state[param.Handle];
                    if (!LibTorchAmpNative.IsFusedAdamWLayout(param, grad, state.exp_avg, state.exp_avg_sq))
                        return Fallback(null);
                    items.Add((param, grad, state));
                }
                work.Add((options, items));
            }

            // One float step tensor per distinct count (parameters that missed a gradient lag behind).
            var steps = new Dictionary<long, Tensor>();
            foreach (var (options, items) in work)
            {
                if (items.Count == 0)
                    continue;
                foreach (var item in items)
                    item.State.step += 1;
                LibTorchAmpNative.FusedAdamW(
                    items.Select(i => (Tensor)i.Param).ToArray(),
                    items.Select(i => i.Grad).ToArray(),
                    items.Select(i => i.State.exp_avg).ToArray(),
                    items.Select(i => i.State.exp_avg_sq).ToArray(),
                    items.Select(i => StepTensor(steps, i.State.step)).ToArray(),
                    options.LearningRate!.Value, options.beta1!.Value, options.beta2!.Value, options.weight_decay!.Value,
                    options.eps!.Value, options.maximize == true);
            }
            return null;
        }

        private static Tensor StepTensor(Dictionary<long, Tensor> steps, long step)
        {
            if (!steps.TryGetValue(step, out var t))
                steps[step] = t = tensor((float)step);
            return t;
        }

        private Tensor? Fallback(Func<Tensor>? closure)
        {
            FallbackSteps++;
            return base.step(closure);
        }
    }
}
