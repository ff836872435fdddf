using System;
using System.Collections.Generic;

namespace Microsoft.ML.MixedPrecision.Training.Checkpoints
{
    /// <summary>
    /// Where one phase of the training loop stands, as plain values: what a checkpoint stores besides tensors, so a
    /// resumed loop continues with the same counters, learning rate, early-stopping record and epoch metrics.
    /// </summary>
    internal sealed class TrainingProgress
    {
        /// <summary>The epoch under way, or the next one at an epoch boundary (1-based, counted across phases).</summary>
        public int Epoch { get; set; }

        /// <summary>
        /// Examples per batch and batches per optimizer step the phase trains with (a memory budget may have chosen them):
        /// a resumed phase keeps them rather than probing again. 0 in checkpoints written before they were recorded.
        /// </summary>
        public int BatchSize { get; set; }

        /// <inheritdoc cref="BatchSize"/>
        public int AccumulationSteps { get; set; }

        /// <summary>Micro-batches of <see cref="Epoch"/> already trained (0 at an epoch boundary).</summary>
        public int Batch { get; set; }

        /// <summary>The epoch's example order, cut into batches by the loop; null at an epoch boundary.</summary>
        public int[]? EpochOrder { get; set; }

        /// <summary>The epoch's running training loss and hits so far; null at an epoch boundary.</summary>
        public ClassificationCountsState? EpochCounts { get; set; }

        /// <summary>Non-finite losses in a row when the checkpoint was taken (<see cref="DivergenceGuard"/>).</summary>
        public int NonFiniteLossesInARow { get; set; }

        /// <summary>Real optimizer steps so far: the learning-rate schedule's position.</summary>
        public long OptimizerSteps { get; set; }

        /// <summary>The learning rate of the latest step (reported in the metrics).</summary>
        public double LearningRate { get; set; }

        public double BestAccuracy { get; set; } = double.NegativeInfinity;
        public double? BestMacroAccuracy { get; set; }
        public int? BestEpoch { get; set; }
        public int EpochsWithoutImprovement { get; set; }
        public bool StoppedEarly { get; set; }

        public double SamplesPerSecondSum { get; set; }
        public string? ObservedActivation { get; set; }

        /// <summary>The metrics of the phase's finished epochs.</summary>
        public List<TrainingMetrics> Epochs { get; set; } = new List<TrainingMetrics>();
    }

    /// <summary>The host copy of a <see cref="ClassificationCounts"/>: loss sum, hits and examples per class.</summary>
    internal sealed class ClassificationCountsState
    {
        public double LossSum { get; set; }
        public long[] CorrectPerClass { get; set; } = Array.Empty<long>();
        public long[] SeenPerClass { get; set; } = Array.Empty<long>();
    }
}
