using System;
using System.Collections.Generic;
using Microsoft.ML.MixedPrecision.Kernels;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// One run of the training loop within a fit: how many epochs, where their numbering starts, which parameters the
    /// optimizer trains and at what rates. A fine-tune is two phases (head only, then all layers); a fit from scratch one.
    /// </summary>
    internal sealed class TrainingPhase
    {
        /// <summary>Shown in the log ("all layers", "head only").</summary>
        public string Name { get; init; } = "all layers";

        public int Epochs { get; init; }

        /// <summary>The schedule when the options leave it to the trainer (<see cref="ClassificationTrainerOptionsBase.LearningRateSchedule"/> null).</summary>
        public LearningRateScheduleKind DefaultSchedule { get; init; } = LearningRateScheduleKind.OneCycle;

        /// <summary>The 1-based number of the phase's first epoch, so a fit's epochs count on across phases.</summary>
        public int FirstEpoch { get; init; } = 1;

        /// <summary>What the optimizer trains; null: every parameter of the model at the scheduled rate, all decayed.</summary>
        public IReadOnlyList<ParameterGroup>? ParameterGroups { get; init; }

        /// <summary>Whether batches are augmented (off for cached features, which no augmentation can reach).</summary>
        public bool Augment { get; init; } = true;

        /// <summary>Reads the network's activation dtype after the first forward (bf16 under CPU autocast).</summary>
        public Func<string?>? ActivationProbe { get; init; }
    }
}
