using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Native;
using Microsoft.ML.MixedPrecision.Training.Precision;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// Measures what one training step at a batch size takes: the process's peak resident memory over a forward in the
    /// training precision, the loss and a backward on the data's largest examples, with the optimizer's state allocated
    /// beside it (<see cref="StateCopies"/> tensors per trained parameter, as the optimizer keeps them through every step).
    /// The model is left as it was: no optimizer step, gradients cleared, its buffers (BatchNorm's running statistics) and
    /// libtorch's random state (dropout) put back, so a fit that probes trains as one that does not. Each probe starts from
    /// a trimmed heap (<see cref="StartClean"/>), so measurements do not depend on their order.
    /// </summary>
    internal sealed class TrainingStepMemory<TBatch> where TBatch : HostBatch
    {
        private readonly Module _model;
        private readonly ITrainingData<TBatch> _data;
        private readonly PrecisionPlugin _precision;
        private readonly Device _device;
        private readonly TorchSharp.Modules.Parameter[] _trained;
        private readonly int _stateCopies;

        public TrainingStepMemory(Module model, ITrainingData<TBatch> data, PrecisionPlugin precision, Device device,
            IReadOnlyList<ParameterGroup> groups, OptimizerKind optimizer)
        {
            (_model, _data, _precision, _device) = (model, data, precision, device);
            _trained = groups.SelectMany(g => g.Parameters).ToArray();
            _stateCopies = StateCopies(optimizer);
        }

        /// <summary>Tensors the optimizer keeps per parameter: AdamW's two moments, SGD's momentum buffer.</summary>
        public static int StateCopies(OptimizerKind optimizer) => optimizer == OptimizerKind.AdamW ? 2 : 1;

        /// <summary>The process's peak resident memory in bytes over one training step at <paramref name="batchSize"/> examples.</summary>
        public long PeakBytes(int batchSize)
        {
            var host = _data.CreateBatch(_data.LargestExamples(batchSize), random: null, augment: false);
            // The probe's dropout draws from the fit's own generator (the thread's ambient one), or libtorch's default
            // outside a fit: either way its state is put back, so the fit draws as it would without the probe.
            using var defaultGenerator = AmbientGenerator.Current is null ? torch.Generator.Default : null;
            var generator = AmbientGenerator.Current ?? defaultGenerator!;
            var randomState = generator.get_state();
            var buffers = SaveBuffers();
            try
            {
                StartClean();
                var peak = PeakResidentMemory.Start();
                Step(host);
                return peak.PeakBytes();
            }
            finally
            {
                _model.zero_grad();
                RestoreBuffers(buffers);
                generator.set_state(randomState);
                randomState.Dispose();
            }
        }

        /// <summary>
        /// Gives the heap's free memory back and collects managed garbage before a probe: the heap keeps what earlier
        /// steps freed, so without it a probe after a larger one reads the larger one's peak, and a smaller one's after
        /// it reads nothing new; trimmed, each probe reads its own step (what the heap keeps over many steps is what the
        /// finder's headroom is for). A full suite run on ML.NET 5 once read 1258 → 1386 MiB for batches 2 → 16 before this
        /// waited for finalizers, and 640 → 1194 MiB in the next fit of the same test.
        /// </summary>
        private static void StartClean()
        {
            // Finalizers free native memory (tensors, ONNX Runtime sessions of earlier work) only after a collection:
            // collect, let them run, collect what they released, then trim.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            if (NativeHeap.IsTunable)
                NativeHeap.GiveBackFreeMemory();
        }

        private void Step(TBatch host)
        {
            using var scope = NewDisposeScope();
            var state = _trained.SelectMany(p => Enumerable.Range(0, _stateCopies).Select(_ => zeros_like(p))).ToList();
            var input = _data.ToTensors(host, _device);
            var target = tensor(host.Labels, device: _device);
            Tensor loss;
            using (_precision.ForwardContext())
                loss = nn.functional.cross_entropy(_model.forward(input), target);
            loss.backward();
        }

        private List<(Tensor Buffer, Tensor Saved)> SaveBuffers()
        {
            using var _ = no_grad();
            return _model.buffers().Select(b => (b, b.clone().DetachFromDisposeScope())).ToList();
        }

        private static void RestoreBuffers(List<(Tensor Buffer, Tensor Saved)> buffers)
        {
            using var _ = no_grad();
            foreach (var (buffer, saved) in buffers)
            {
                buffer.copy_(saved);
                saved.Dispose();
            }
        }
    }
}
