using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.MixedPrecision.Distributed;
using Microsoft.ML.MixedPrecision.Training.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// What keeps the ranks of a data-parallel fit equal (docs/distributed.md), called by the training loop at fixed points
    /// whatever the precision, and a no-op for one process: the gradients averaged after backward (after accumulation) and
    /// before unscale → clip → step, so every rank steps with the same gradient (and a GradScaler finds the same infs and
    /// skips the same steps); floating-point buffers (BatchNorm's running statistics, kept per rank while an epoch trains)
    /// averaged at each epoch's end; metric counts summed.
    /// </summary>
    internal sealed class ReplicaSync
    {
        /// <summary>Elements per allreduce: gradients are flattened into buckets of at most this many float32s (64 MiB).</summary>
        public const int BucketElements = 16 << 20;

        private readonly ProcessGroup _group;
        private readonly Stopwatch _clock = new Stopwatch(), _waiting = new Stopwatch();

        public ReplicaSync(ProcessGroup group) => _group = group;

        public ProcessGroup Group => _group;

        /// <summary>Optimizer steps whose gradients were averaged, and the gradient bytes each rank contributes per step.</summary>
        public long Steps { get; private set; }
        public long BytesPerStep { get; private set; }

        /// <summary>Time this rank waited for the slowest one before averaging (an uneven load, not the network).</summary>
        public TimeSpan Waiting => _waiting.Elapsed;

        /// <summary>Time the allreduce itself took (flattening, the transfer and the sums, copying back).</summary>
        public TimeSpan Elapsed => _clock.Elapsed;

        /// <summary>Starts the statistics afresh (at each training phase, whose time <see cref="Describe"/> divides by).</summary>
        public void ResetStatistics()
        {
            _clock.Reset();
            _waiting.Reset();
            Steps = 0;
        }

        /// <summary>Replaces every parameter's gradient by its mean over the ranks (parameters without one are left as they are).</summary>
        public void AverageGradients(IReadOnlyList<TorchSharp.Modules.Parameter> parameters)
        {
            if (!_group.IsDistributed)
                return;
            // A barrier first, so the log tells waiting for a slower rank apart from communication (it costs one latency).
            _waiting.Start();
            _group.Barrier();
            _waiting.Stop();
            _clock.Start();
            using (NewDisposeScope())
            using (no_grad())
            {
                var grads = parameters.Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToList();
                long bytes = 0;
                foreach (var bucket in Buckets(grads))
                    bytes += Average(bucket);
                BytesPerStep = bytes;
            }
            Steps++;
            _clock.Stop();
        }

        /// <summary>Averages the model's floating-point buffers (BatchNorm's running mean and variance) over the ranks.</summary>
        public void AverageBuffers(Module model)
        {
            if (!_group.IsDistributed)
                return;
            using (NewDisposeScope())
            using (no_grad())
            {
                var buffers = model.buffers().Where(b => b.is_floating_point()).ToList();
                foreach (var bucket in Buckets(buffers))
                    Average(bucket);
            }
        }

        /// <summary>
        /// Copies rank 0's parameters and buffers into every rank's model: at the start of a fit, and at each epoch's end,
        /// where it changes nothing when the ranks' allreduce returned the same sums (as it does for two ranks: a + b = b + a)
        /// and guarantees equal models when a larger world's reduction order differs per rank.
        /// </summary>
        public void BroadcastFromFirst(Module model)
        {
            if (!_group.IsDistributed)
                return;
            using (NewDisposeScope())
            using (no_grad())
            {
                foreach (var tensor in model.state_dict().Values)
                {
                    if (tensor.device_type == DeviceType.CPU && tensor.is_contiguous())
                    {
                        _group.Broadcast(tensor);
                        continue;
                    }
                    var host = tensor.cpu().contiguous();
                    _group.Broadcast(host);
                    tensor.copy_(host);
                }
            }
        }

        /// <summary>The ranks' counts summed (every rank gets the same sums).</summary>
        public ClassificationCountsState Sum(ClassificationCountsState state)
        {
            if (!_group.IsDistributed)
                return state;
            int classes = state.CorrectPerClass.Length;
            var values = new double[1 + 2 * classes];
            values[0] = state.LossSum;
            for (int c = 0; c < classes; c++)
                (values[1 + c], values[1 + classes + c]) = (state.CorrectPerClass[c], state.SeenPerClass[c]);
            _group.SumInPlace(values);
            return new ClassificationCountsState
            {
                LossSum = values[0],
                CorrectPerClass = values.Skip(1).Take(classes).Select(v => (long)Math.Round(v)).ToArray(),
                SeenPerClass = values.Skip(1 + classes).Select(v => (long)Math.Round(v)).ToArray(),
            };
        }

        /// <summary>Sums <paramref name="counts"/> over the ranks, so every rank reports and decides on the same numbers.</summary>
        public void SumInPlace(ClassificationCounts counts)
        {
            if (_group.IsDistributed)
                counts.LoadState(Sum(counts.GetState()));
        }

        /// <summary>"gradient allreduce: 1.69 MB per optimizer step, 3.4 ms per step (2.1 % of the phase's time), …" for the log.</summary>
        public string Describe(TimeSpan phase)
        {
            double steps = Math.Max(1, Steps), seconds = Math.Max(1e-9, phase.TotalSeconds);
            return $"gradient allreduce over {_group.Size} processes: {BytesPerStep / 1e6:F2} MB per optimizer step from each, " +
                   $"{Elapsed.TotalMilliseconds / steps:F1} ms per step ({Elapsed.TotalSeconds / seconds:P1} of the phase's time); " +
                   $"waiting for the slowest process before it {Waiting.TotalMilliseconds / steps:F1} ms per step ({Waiting.TotalSeconds / seconds:P1})";
        }

        /// <summary>Sums a bucket of same-typed tensors over the ranks through one flat float32 copy, divides by the size; returns its bytes.</summary>
        private long Average(List<Tensor> bucket)
        {
            var flat = cat(bucket.Select(t => t.reshape(-1).to(ScalarType.Float32)).ToList());
            _group.SumInPlace(flat);
            flat.div_(_group.Size);
            long offset = 0;
            foreach (var t in bucket)
            {
                long n = t.numel();
                t.copy_(flat.narrow(0, offset, n).view_as(t));
                offset += n;
            }
            return flat.numel() * sizeof(float);
        }

        private static IEnumerable<List<Tensor>> Buckets(IEnumerable<Tensor> tensors)
        {
            var bucket = new List<Tensor>();
            long elements = 0;
            foreach (var t in tensors)
            {
                if (bucket.Count > 0 && elements + t.numel() > BucketElements)
                {
                    yield return bucket;
                    (bucket, elements) = (new List<Tensor>(), 0);
                }
                bucket.Add(t);
                elements += t.numel();
            }
            if (bucket.Count > 0)
                yield return bucket;
        }
    }
}
