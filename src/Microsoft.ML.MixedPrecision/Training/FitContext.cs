using Microsoft.ML.MixedPrecision.Training.Checkpoints;
using Microsoft.ML.MixedPrecision.Training.Precision;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>What one fit has resolved before training starts: options, epochs, precision, device, log, seed, classes, checkpoints.</summary>
    internal sealed class FitContext
    {
        private int _phases;

        public FitContext(ClassificationTrainerOptionsBase options, PrecisionPlugin precision, Device device, TrainingLog log, int seed, int classCount,
            int epochs, CheckpointSession? checkpoints = null, ReplicaSync? sync = null)
        {
            Sync = sync ?? new ReplicaSync(Distributed.ProcessGroup.Alone);
            Options = options;
            Precision = precision;
            Device = device;
            Log = log;
            Seed = seed;
            ClassCount = classCount;
            Epochs = epochs;
            Checkpoints = checkpoints;
        }

        public ClassificationTrainerOptionsBase Options { get; }
        public PrecisionPlugin Precision { get; }
        public Device Device { get; }
        public TrainingLog Log { get; }
        public int Seed { get; }
        public int ClassCount { get; }

        /// <summary>The fit's epochs: <see cref="ClassificationTrainerOptionsBase.Epochs"/>, or the trainer's default when it is null.</summary>
        public int Epochs { get; }

        /// <summary>The fit's checkpoints; null when <see cref="ClassificationTrainerOptionsBase.CheckpointDirectory"/> is.</summary>
        public CheckpointSession? Checkpoints { get; }

        /// <summary>What keeps the ranks of a data-parallel fit equal; a no-op for a fit alone.</summary>
        public ReplicaSync Sync { get; }

        /// <summary>
        /// Runs the shared training loop over <paramref name="train"/> (one phase: its epochs, usually <see cref="Epochs"/>, and parameters). The
        /// phases of a fit are numbered in the order they run, which is how a checkpoint says where a fit stopped.
        /// </summary>
        public TrainingSummary Train<TBatch>(Module model, ITrainingData<TBatch> train, ITrainingData<TBatch>? validation, TrainingPhase phase)
            where TBatch : HostBatch
            => new TrainingLoop(Options, Precision, Device, Log, ClassCount, Sync).Run(model, train, validation, Seed, phase, Checkpoints, _phases++);
    }
}
