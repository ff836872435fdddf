using System;
using System.Collections.Generic;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>What a training run did: the precision it used, its per-epoch metrics, loss-scaling events.</summary>
    public sealed class TrainingSummary
    {
        public TrainingPrecision Precision { get; init; }
        public string Device { get; init; }
        public int EpochsRun { get; init; }
        public bool StoppedEarly { get; init; }
        public int? BestEpoch { get; init; }
        public double? BestValidationAccuracy { get; init; }
        public long OptimizerSteps { get; init; }
        public long SkippedSteps { get; init; }
        public double FinalLossScale { get; init; }
        public double MeanSamplesPerSecond { get; init; }
        public TimeSpan Elapsed { get; init; }
        /// <summary>The dtype the network's first layer produced in the last training forward pass (BFloat16 under bf16 autocast).</summary>
        public string ObservedActivationType { get; init; }
        /// <summary>The metrics reported at the end of each epoch.</summary>
        public IReadOnlyList<TrainingMetrics> Epochs { get; init; }
    }
}
