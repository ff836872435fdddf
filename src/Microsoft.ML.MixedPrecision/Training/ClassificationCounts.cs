using System;
using System.Linq;
using Microsoft.ML.MixedPrecision.Training.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// Running loss, accuracy and per-class hits of a pass over batches. The sums stay on the device (reading them is
    /// a host sync, done only when reporting); the per-class counts of examples seen are known on the host.
    /// </summary>
    internal sealed class ClassificationCounts : IDisposable
    {
        private readonly Tensor _lossSum;
        private readonly Tensor _correctPerClass;
        private readonly long[] _seenPerClass;

        public ClassificationCounts(int classCount, Device device)
        {
            _lossSum = zeros(1, ScalarType.Float64, device: device).DetachFromDisposeScope();
            _correctPerClass = zeros(classCount, ScalarType.Int64, device: device).DetachFromDisposeScope();
            _seenPerClass = new long[classCount];
        }

        public int Seen { get; private set; }

        /// <summary>Adds a batch; <paramref name="batchLoss"/> is the batch's mean loss.</summary>
        public void Add(Tensor batchLoss, Tensor logits, Tensor target, long[] labels)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            // Scalars in variables: TorchSharp does not keep a Scalar alive across the native call that reads its handle.
            using Scalar count = labels.Length, one = 1;
            _lossSum.add_(batchLoss.detach().to(ScalarType.Float64).mul(count));
            _correctPerClass.index_add_(0, target, logits.argmax(1).eq(target).to(ScalarType.Int64), one);
            foreach (long label in labels)
                _seenPerClass[label]++;
            Seen += labels.Length;
        }

        public void Reset()
        {
            _lossSum.zero_();
            _correctPerClass.zero_();
            Array.Clear(_seenPerClass);
            Seen = 0;
        }

        /// <summary>A host copy of the sums (for a checkpoint taken mid-epoch).</summary>
        public ClassificationCountsState GetState()
        {
            using var scope = NewDisposeScope();
            return new ClassificationCountsState
            {
                LossSum = _lossSum.item<double>(),
                CorrectPerClass = _correctPerClass.cpu().data<long>().ToArray(),
                SeenPerClass = (long[])_seenPerClass.Clone(),
            };
        }

        /// <summary>Restores sums saved by <see cref="GetState"/>, after checking they are for as many classes.</summary>
        public void LoadState(ClassificationCountsState state)
        {
            if (state.CorrectPerClass?.Length != _seenPerClass.Length || state.SeenPerClass?.Length != _seenPerClass.Length)
                throw new System.IO.InvalidDataException($"The checkpoint's epoch counts are not for {_seenPerClass.Length} classes.");
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            using Scalar lossSum = state.LossSum;
            _lossSum.fill_(lossSum);
            _correctPerClass.copy_(tensor(state.CorrectPerClass));
            Array.Copy(state.SeenPerClass, _seenPerClass, _seenPerClass.Length);
            Seen = (int)state.SeenPerClass.Sum();
        }

        public double Loss => Seen == 0 ? double.NaN : _lossSum.item<double>() / Seen;

        public double Accuracy
        {
            get
            {
                if (Seen == 0)
                    return double.NaN;
                using var correct = _correctPerClass.sum();
                return (double)correct.item<long>() / Seen;
            }
        }

        /// <summary>Mean over the classes seen of each class's accuracy (its recall), as ML.NET's MacroAccuracy.</summary>
        public double MacroAccuracy
        {
            get
            {
                if (Seen == 0)
                    return double.NaN;
                using var scope = NewDisposeScope();
                long[] correct = _correctPerClass.cpu().data<long>().ToArray();
                var recalls = _seenPerClass.Select((seen, c) => seen == 0 ? (double?)null : (double)correct[c] / seen).Where(r => r.HasValue);
                return recalls.Average(r => r!.Value);
            }
        }

        public void Dispose()
        {
            _lossSum.Dispose();
            _correctPerClass.Dispose();
        }
    }
}
