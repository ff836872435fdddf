using System;
using System.Collections.Generic;
using System.IO;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Training.Checkpoints
{
    /// <summary>
    /// The optimizer's per-parameter state as named tensors: AdamW's step, exp_avg and exp_avg_sq, SGD's momentum
    /// buffer. Not TorchSharp's own <c>save_state_dict</c>: it serializes through <c>Tensor.bytes</c>, which refuses the
    /// channels-last moment tensors of the image networks (a non-contiguous layout), so those would not save at all.
    /// </summary>
    internal static class OptimizerCheckpoint
    {
        private const string Prefix = "optimizer/";

        /// <summary>The state tensors of <paramref name="optimizer"/>, in parameter order (the caller writes them before they change).</summary>
        public static IEnumerable<KeyValuePair<string, Tensor>> Tensors(optim.Optimizer optimizer)
        {
            var states = ((OptimizerHelper)optimizer).state_dict().State;
            for (int i = 0; i < states.Count; i++)
            {
                string key = $"{Prefix}{i}/";
                switch (states[i])
                {
                    case AdamW.State adam:
                        yield return KeyValuePair.Create(key + "step", tensor(adam.step));
                        yield return KeyValuePair.Create(key + "exp_avg", adam.exp_avg);
                        yield return KeyValuePair.Create(key + "exp_avg_sq", adam.exp_avg_sq);
                        if (adam.max_exp_avg_sq is not null)
                            yield return KeyValuePair.Create(key + "max_exp_avg_sq", adam.max_exp_avg_sq);
                        break;
                    case SGD.State sgd:
                        if (sgd.momentum_buffer is not null)
                            yield return KeyValuePair.Create(key + "momentum_buffer", sgd.momentum_buffer);
                        break;
                    default:
                        throw new NotSupportedException($"Checkpoints do not know the state of optimizer {optimizer.GetType().Name}.");
                }
            }
        }

        public static bool IsOptimizerTensor(string name) => name.StartsWith(Prefix, StringComparison.Ordinal);

        /// <summary>
        /// Copies saved state into <paramref name="optimizer"/>'s (momentum buffers onto <paramref name="device"/>),
        /// checking that every parameter's is there and of its shape.
        /// </summary>
        public static void Load(optim.Optimizer optimizer, IReadOnlyDictionary<string, Tensor> saved, Device device)
        {
            var states = ((OptimizerHelper)optimizer).state_dict().State;
            int used = 0;
            using var _ = no_grad();
            for (int i = 0; i < states.Count; i++)
            {
                string key = $"{Prefix}{i}/";
                switch (states[i])
                {
                    case AdamW.State adam:
                        adam.step = Get(saved, key + "step", null).item<long>();
                        adam.exp_avg.copy_(Get(saved, key + "exp_avg", adam.exp_avg));
                        adam.exp_avg_sq.copy_(Get(saved, key + "exp_avg_sq", adam.exp_avg_sq));
                        used += 3;
                        if (adam.max_exp_avg_sq is not null)
                        {
                            adam.max_exp_avg_sq.copy_(Get(saved, key + "max_exp_avg_sq", adam.max_exp_avg_sq));
                            used++;
                        }
                        break;
                    case SGD.State sgd:
                        if (saved.TryGetValue(key + "momentum_buffer", out var momentum))
                        {
                            sgd.momentum_buffer?.Dispose();
                            sgd.momentum_buffer = momentum.to(device, copy: true).DetachFromDisposeScope();
                            used++;
                        }
                        break;
                    default:
                        throw new NotSupportedException($"Checkpoints do not know the state of optimizer {optimizer.GetType().Name}.");
                }
            }
            int savedCount = 0;
            foreach (var name in saved.Keys)
                savedCount += IsOptimizerTensor(name) ? 1 : 0;
            if (savedCount != used)
                throw new InvalidDataException($"The checkpoint holds {savedCount} optimizer state tensors; this optimizer's parameters take {used}.");
        }

        private static Tensor Get(IReadOnlyDictionary<string, Tensor> saved, string name, Tensor? like)
        {
            if (!saved.TryGetValue(name, out var t))
                throw new InvalidDataException($"The checkpoint lacks the optimizer state '{name}'.");
            if (like is not null && !t.shape.AsSpan().SequenceEqual(like.shape))
                throw new InvalidDataException($"The checkpoint's optimizer state '{name}' has shape [{string.Join(", ", t.shape)}], " +
                                               $"not the parameter's [{string.Join(", ", like.shape)}].");
            return t;
        }
    }
}
