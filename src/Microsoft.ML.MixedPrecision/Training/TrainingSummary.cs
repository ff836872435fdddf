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
        /// <summary>The precision training ran in (<see cref="TrainingPrecision.Auto"/> resolved): BFloat16, Float16 or Float32.</summary>
        public TrainingPrecision Precision { get; init; }
        /// <summary>The device trained on, e.g. "cpu".</summary>
        public string Device { get; init; } = "";
        /// <summary>Epochs trained, over all phases (fewer than asked for when early stopping ended the fit).</summary>
        public int EpochsRun { get; init; }
        /// <summary>Whether early stopping (EarlyStoppingPatience) ended the fit.</summary>
        public bool StoppedEarly { get; init; }
        /// <summary>The epoch with the best validation accuracy; null without validation data.</summary>
        public int? BestEpoch { get; init; }
        /// <summary>Validation accuracy at <see cref="BestEpoch"/>; null without validation data.</summary>
        public double? BestValidationAccuracy { get; init; }
        /// <summary>Validation macro accuracy (mean per-class accuracy) at <see cref="BestEpoch"/>.</summary>
        public double? BestValidationMacroAccuracy { get; init; }
        /// <summary>
        /// Examples per batch the (last phase of) training ran with: BatchSize, or the batch MemoryBudgetMegabytes chose.
        /// 0 in a summary saved before it was recorded.
        /// </summary>
        public int BatchSize { get; init; }

        /// <summary>Batches per optimizer step the (last phase of) training ran with: GradientAccumulationSteps, or as MemoryBudgetMegabytes raised it.</summary>
        public int GradientAccumulationSteps { get; init; }

        /// <summary>Optimizer steps taken (skipped float16 steps not counted).</summary>
        public long OptimizerSteps { get; init; }
        /// <summary>Steps the GradScaler skipped because gradients overflowed (float16 only; 0 in bf16 and float32).</summary>
        public long SkippedSteps { get; init; }
        /// <summary>The loss scale at the end (1 when loss scaling is off).</summary>
        public double FinalLossScale { get; init; }
        /// <summary>Training throughput, the mean over the epochs.</summary>
        public double MeanSamplesPerSecond { get; init; }
        /// <summary>Training time, featurization of a frozen backbone included (not reading the data or exporting).</summary>
        [JsonInclude]
        public TimeSpan Elapsed { get; internal set; }
        /// <summary>The dtype the network's first layer produced in the last training forward pass (BFloat16 under bf16 autocast).</summary>
        public string? ObservedActivationType { get; init; }
        /// <summary>The metrics reported at the end of each epoch.</summary>
        public IReadOnlyList<TrainingMetrics> Epochs { get; init; } = Array.Empty<TrainingMetrics>();

        /// <summary>Processes the fit trained data-parallel with (mpirun -np N; docs/distributed.md); 1 when it trained alone.</summary>
        public int WorldSize { get; init; } = 1;

        /// <summary>This process's rank among them (0 when alone): a program saves the model, which every rank holds, where Rank is 0.</summary>
        public int Rank { get; init; }

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
                BatchSize = then.BatchSize,
                GradientAccumulationSteps = then.GradientAccumulationSteps,
                OptimizerSteps = first.OptimizerSteps + then.OptimizerSteps,
                SkippedSteps = then.SkippedSteps, // the precision plugin counts over the whole fit
                FinalLossScale = then.FinalLossScale,
                MeanSamplesPerSecond = epochs.Count == 0 ? 0 : epochs.Average(e => e.SamplesPerSecond),
                Elapsed = first.Elapsed + then.Elapsed,
                ObservedActivationType = then.ObservedActivationType ?? first.ObservedActivationType,
                Epochs = epochs,
                WorldSize = then.WorldSize,
                Rank = then.Rank,
            };
        }
    }
}
