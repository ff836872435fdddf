using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Native;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Measurement
{
    /// <summary>
    /// The same network trained without ML.NET: batches prebuilt as tensors, one DisposeScope per step, forward + loss in
    /// a bf16 autocast region (AMP) or in float32, backward, gradient clipping, AdamW, freed native memory kept for reuse
    /// (<see cref="NativeHeap"/>). The trainers' algorithm, minus
    /// the pipeline (data gathering, augmentation, metrics), so estimator / bare shows what the pipeline costs.
    /// Optional parameter groups give AdamW the trainer's per-group learning rates and weight decay (a pretrained
    /// backbone's lower rate, no decay on BatchNorm and biases), as TrainingLoop builds them.
    /// </summary>
    internal sealed class BareLoop : IDisposable
    {
        private readonly Module _model;
        private readonly bool _amp;
        private readonly IReadOnlyList<(Tensor Input, Tensor Target)> _batches;
        private readonly TorchSharp.Modules.Parameter[] _parameters;
        private readonly optim.Optimizer _optimizer;
        private readonly double _clipNorm;
        // Freed native memory is kept for the loop's whole life, as a Fit keeps it for all of its batches. Per Run it
        // would be given back (malloc_trim) at the end of every segment, so each segment's first step would fault
        // its activations in again and be timed doing so, where the estimator's clock leaves those batches out.
        private readonly IDisposable _heap = NativeHeap.RetainFreedMemory();
        private int _next;

        public BareLoop(Module model, bool amp, IReadOnlyList<(Tensor Input, Tensor Target)> batches, double learningRate, double weightDecay, double clipNorm,
            IReadOnlyList<ParameterGroup> parameterGroups = null)
        {
            _model = model;
            _amp = amp;
            _batches = batches;
            _clipNorm = clipNorm;
            _model.train();
            // The optimizer TrainingLoop creates (one group of every parameter unless given groups); clipping over all.
            parameterGroups ??= new[] { new ParameterGroup(model.parameters()) };
            _parameters = parameterGroups.SelectMany(g => g.Parameters).ToArray();
            _optimizer = FusedAdamW.Create(parameterGroups, learningRate, weightDecay);
        }

        /// <summary>Training loss of every step run so far, in order.</summary>
        public List<double> Losses { get; } = new List<double>();

        /// <summary>Milliseconds of every step so far: forward + loss, backward, clipping + optimizer step.</summary>
        public List<(double Forward, double Backward, double Optimizer)> PhaseMilliseconds { get; } = new List<(double, double, double)>();

        public long SamplesPerStep => _batches[0].Input.shape[0];

        /// <summary>Runs <paramref name="steps"/> steps and returns their wall-clock seconds.</summary>
        public double Run(int steps, Action afterForward = null)
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < steps; i++)
                Step(afterForward);
            return clock.Elapsed.TotalSeconds;
        }

        public void Step(Action afterForward = null)
        {
            NativeHeap.TrimIfGrown(); // as TrainingLoop after each batch (here: after the previous step's scope freed it)
            var (input, target) = _batches[_next++ % _batches.Count];
            using var scope = NewDisposeScope();
            // CPU kernels run synchronously, so a stopwatch between the calls times each phase.
            var clock = Stopwatch.StartNew();
            Tensor loss;
            using (_amp ? new Autocast(DeviceType.CPU, ScalarType.BFloat16) : null)
            {
                var logits = _model.forward(input);
                loss = nn.functional.cross_entropy(logits, target);
            }
            double forward = clock.Elapsed.TotalMilliseconds;
            afterForward?.Invoke();
            clock.Restart();
            loss.backward();
            double backward = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            nn.utils.clip_grad_norm_(_parameters, _clipNorm);
            _optimizer.step();
            _optimizer.zero_grad();
            PhaseMilliseconds.Add((forward, backward, clock.Elapsed.TotalMilliseconds));
            Losses.Add(loss.item<float>());
        }

        public void Dispose()
        {
            _optimizer.Dispose();
            _heap.Dispose();
        }
    }
}
