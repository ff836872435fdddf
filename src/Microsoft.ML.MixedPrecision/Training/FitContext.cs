using Microsoft.ML.MixedPrecision.Precision;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>What one fit has resolved before training starts: options, precision, device, log, seed, classes.</summary>
    internal sealed class FitContext
    {
        public FitContext(ClassificationTrainerOptionsBase options, PrecisionPlugin precision, Device device, TrainingLog log, int seed, int classCount)
        {
            Options = options;
            Precision = precision;
            Device = device;
            Log = log;
            Seed = seed;
            ClassCount = classCount;
        }

        public ClassificationTrainerOptionsBase Options { get; }
        public PrecisionPlugin Precision { get; }
        public Device Device { get; }
        public TrainingLog Log { get; }
        public int Seed { get; }
        public int ClassCount { get; }

        /// <summary>Runs the shared training loop over <paramref name="train"/> (one phase; null: all epochs, all parameters).</summary>
        public TrainingSummary Train<TBatch>(Module model, ITrainingData<TBatch> train, ITrainingData<TBatch> validation, TrainingPhase phase = null)
            where TBatch : HostBatch
            => new TrainingLoop(Options, Precision, Device, Log, ClassCount).Run(model, train, validation, Seed, phase);
    }
}
