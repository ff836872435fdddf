using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json.Serialization;

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>Rows of one data set a fit skipped for one reason.</summary>
    /// <param name="Data">"training data" or "validation set".</param>
    /// <param name="Reason">Why, e.g. "label 'Label' missing (key 0)".</param>
    /// <param name="Count">How many rows.</param>
    public sealed record SkippedRows(string Data, string Reason, long Count);

    /// <summary>What a training run did: the precision it used, its per-epoch metrics, loss-scaling events.</summary>
    public sealed class TrainingSummary
    {
        public TrainingPrecision Precision { get; internal init; }
        public string Device { get; internal init; }
        public int EpochsRun { get; internal init; }
        public bool StoppedEarly { get; internal init; }
        public int? BestEpoch { get; internal init; }
        public double? BestValidationAccuracy { get; internal init; }
        /// <summary>Validation macro accuracy (mean per-class accuracy) at <see cref="BestEpoch"/>.</summary>
        public double? BestValidationMacroAccuracy { get; internal init; }
        public long OptimizerSteps { get; internal init; }
        public long SkippedSteps { get; internal init; }
        public double FinalLossScale { get; internal init; }
        public double MeanSamplesPerSecond { get; internal init; }
        [JsonInclude]
        public TimeSpan Elapsed { get; internal set; }
        /// <summary>The dtype the network's first layer produced in the last training forward pass (BFloat16 under bf16 autocast).</summary>
        public string ObservedActivationType { get; internal init; }
        /// <summary>The metrics reported at the end of each epoch.</summary>
        public IReadOnlyList<TrainingMetrics> Epochs { get; internal init; }

        /// <summary>Rows of the input the fit did not use, with why (e.g. a missing label); empty when every row was used.</summary>
        public IReadOnlyList<SkippedRows> SkippedRows { get; internal set; } = Array.Empty<SkippedRows>();

        /// <summary>This summary with the rows the fit's reads skipped.</summary>
        internal TrainingSummary WithSkippedRows(IReadOnlyList<SkippedRows> skipped)
        {
            var copy = (TrainingSummary)MemberwiseClone();
            copy.SkippedRows = skipped.ToArray();
            return copy;
        }

        /// <summary>This summary with another wall time (a phase's preparation included).</summary>
        internal TrainingSummary WithElapsed(TimeSpan elapsed)
        {
            var copy = (TrainingSummary)MemberwiseClone();
            copy.Elapsed = elapsed;
            return copy;
        }

        /// <summary>
        /// One summary of two phases run one after the other (head only, then all layers): counts add up, epochs are
        /// listed in order, the outcome (best epoch, precision, loss scale) is the later phase's.
        /// </summary>
        internal static TrainingSummary Concat(TrainingSummary first, TrainingSummary then)
        {
            var epochs = first.Epochs.Concat(then.Epochs).ToList();
            return new TrainingSummary
            {
                Precision = then.Precision,
                Device = then.Device,
                EpochsRun = epochs.Count,
                StoppedEarly = then.StoppedEarly,
                BestEpoch = then.BestEpoch,
                BestValidationAccuracy = then.BestValidationAccuracy,
                BestValidationMacroAccuracy = then.BestValidationMacroAccuracy,
                OptimizerSteps = first.OptimizerSteps + then.OptimizerSteps,
                SkippedSteps = then.SkippedSteps, // the precision plugin counts over the whole fit
                FinalLossScale = then.FinalLossScale,
                MeanSamplesPerSecond = epochs.Count == 0 ? 0 : epochs.Average(e => e.SamplesPerSecond),
                Elapsed = first.Elapsed + then.Elapsed,
                ObservedActivationType = then.ObservedActivationType ?? first.ObservedActivationType,
                Epochs = epochs,
            };
        }
    }
}
