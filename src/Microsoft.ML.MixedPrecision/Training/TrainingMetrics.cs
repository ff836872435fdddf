using System;

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>Progress of a training run, as given to the metrics callback.</summary>
    public sealed class TrainingMetrics
    {
        /// <summary>1-based epoch.</summary>
        public int Epoch { get; init; }
        /// <summary>Micro-batches processed in this epoch so far.</summary>
        public int BatchesProcessed { get; init; }
        /// <summary>Micro-batches in one epoch.</summary>
        public int BatchesPerEpoch { get; init; }
        /// <summary>Optimizer steps taken since training started (skipped steps not counted).</summary>
        public long OptimizerSteps { get; init; }
        /// <summary>Mean cross-entropy of this epoch's batches so far.</summary>
        public double TrainingLoss { get; init; }
        /// <summary>Accuracy on this epoch's training batches so far.</summary>
        public double TrainingAccuracy { get; init; }
        /// <summary>Mean over classes of each class's accuracy on this epoch's training batches so far (ML.NET's MacroAccuracy).</summary>
        public double TrainingMacroAccuracy { get; init; }
        /// <summary>Validation cross-entropy at the end of an epoch (null mid-epoch or without validation data).</summary>
        public double? ValidationLoss { get; init; }
        /// <summary>Validation accuracy at the end of an epoch (null mid-epoch or without validation data).</summary>
        public double? ValidationAccuracy { get; init; }
        /// <summary>Validation macro accuracy (mean per-class accuracy) at the end of an epoch; null mid-epoch or without validation data.</summary>
        public double? ValidationMacroAccuracy { get; init; }
        /// <summary>Learning rate of the latest step.</summary>
        public double LearningRate { get; init; }
        /// <summary>Current loss scale (1 when loss scaling is off).</summary>
        public double LossScale { get; init; }
        /// <summary>Optimizer steps skipped because gradients overflowed, since training started.</summary>
        public long SkippedSteps { get; init; }
        /// <summary>Training throughput of this epoch so far.</summary>
        public double SamplesPerSecond { get; init; }
        /// <summary>The precision training runs in (Auto resolved).</summary>
        public TrainingPrecision Precision { get; init; }
        /// <summary>True for the report at the end of an epoch.</summary>
        public bool IsEpochEnd { get; init; }
        /// <summary>Wall time since training started.</summary>
        public TimeSpan Elapsed { get; init; }

        /// <summary>One log line: epoch, batch, loss, accuracies, learning rate, loss scale, skipped steps, samples/s, precision.</summary>
        public override string ToString() =>
            $"epoch {Epoch} batch {BatchesProcessed}/{BatchesPerEpoch}: loss {TrainingLoss:F4} acc {TrainingAccuracy:P2} macro {TrainingMacroAccuracy:P2}" +
            (ValidationAccuracy.HasValue ? $" val_loss {ValidationLoss:F4} val_acc {ValidationAccuracy:P2} val_macro {ValidationMacroAccuracy:P2}" : "") +
            $" lr {LearningRate:G3} scale {LossScale:G4} skipped {SkippedSteps} {SamplesPerSecond:F0} samples/s [{Precision}]";
    }
}
