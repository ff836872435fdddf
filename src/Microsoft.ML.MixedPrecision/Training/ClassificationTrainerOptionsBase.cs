using System;
using System.Threading;

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>The optimizer the shared training loop uses.</summary>
    public enum OptimizerKind
    {
        /// <summary>AdamW (decoupled weight decay). A good default for from-scratch training.</summary>
        AdamW,
        /// <summary>SGD with Nesterov momentum.</summary>
        SgdMomentum,
    }

    /// <summary>How the learning rate moves over training (stepped only when the optimizer really stepped).</summary>
    public enum LearningRateScheduleKind
    {
        /// <summary>Constant learning rate.</summary>
        Constant,
        /// <summary>Linear warm-up, then cosine decay to zero.</summary>
        CosineWithWarmup,
        /// <summary>One-cycle: warm-up to the maximum, then cosine annealing towards zero.</summary>
        OneCycle,
        /// <summary>Linear warm-up, then linear decay to zero (BERT's fine-tuning schedule).</summary>
        LinearWithWarmup,
    }

    /// <summary>How the loss weighs the classes.</summary>
    public enum ClassWeighting
    {
        /// <summary>Every example counts the same: rare classes weigh little (best micro accuracy).</summary>
        None,
        /// <summary>Each class weighs the same in total (weights N / (classes × n_c)): favours macro accuracy on imbalanced data.</summary>
        Balanced,
    }

    /// <summary>Options every classification trainer of this library shares (image and text).</summary>
    public abstract class ClassificationTrainerOptionsBase
    {
        /// <summary>Only this library's trainers derive options from this class.</summary>
        private protected ClassificationTrainerOptionsBase()
        {
        }

        /// <summary>The label column: a key (from MapValueToKey) with at least two classes. Default "Label".</summary>
        public string LabelColumnName { get; set; } = "Label";

        /// <summary>Output column of class probabilities, one slot per class named by the class. Default "Score".</summary>
        public string ScoreColumnName { get; set; } = "Score";

        /// <summary>Output key column of the predicted class, with the label's key values. Default "PredictedLabel".</summary>
        public string PredictedLabelColumnName { get; set; } = "PredictedLabel";

        /// <summary>
        /// Passes over the training data. Null (default): the trainer's choice for the network it trains — 10, or 3 for the
        /// pretrained text encoder (a pretrained encoder needs few passes and overfits after more).
        /// </summary>
        public int? Epochs { get; set; }

        /// <summary>What <see cref="Epochs"/> null means unless a trainer says otherwise.</summary>
        internal const int DefaultEpochs = 10;

        /// <summary>Samples per optimizer micro-batch. Default 64.</summary>
        public int BatchSize { get; set; } = 64;

        /// <summary>Peak learning rate. Default 0.002.</summary>
        public double LearningRate { get; set; } = 0.002;

        /// <summary>
        /// Learning-rate schedule. Null (default): the trainer's choice — <see cref="LearningRateScheduleKind.OneCycle"/>, or
        /// <see cref="LearningRateScheduleKind.LinearWithWarmup"/> for the pretrained text encoder (BERT's fine-tuning recipe).
        /// </summary>
        public LearningRateScheduleKind? LearningRateSchedule { get; set; }

        /// <summary>Fraction of the optimizer steps spent warming up (CosineWithWarmup and OneCycle). Default 0.15.</summary>
        public double WarmupFraction { get; set; } = 0.15;

        /// <summary>Optimizer. Default AdamW.</summary>
        public OptimizerKind Optimizer { get; set; } = OptimizerKind.AdamW;

        /// <summary>Momentum for <see cref="OptimizerKind.SgdMomentum"/>. Default 0.9.</summary>
        public double Momentum { get; set; } = 0.9;

        /// <summary>Weight decay (decoupled for AdamW). Default 0.05.</summary>
        public double WeightDecay { get; set; } = 0.05;

        /// <summary>Clip the gradients' global L2 norm to this value; null turns clipping off. Default 5.</summary>
        public double? GradientClipNorm { get; set; } = 5.0;

        /// <summary>Micro-batches whose gradients are accumulated before one optimizer step. Default 1.</summary>
        public int GradientAccumulationSteps { get; set; } = 1;

        /// <summary>
        /// A bound in MiB (1 MiB = 2^20 bytes) on the process's resident memory while the fit trains; null (default): no
        /// bound, every batch holds <see cref="BatchSize"/> examples. Set, the trainer finds the batch size before each
        /// training phase, as Lightning's batch-size finder does: it measures the process's peak resident memory over one
        /// training step at 2, 4, 8, … examples (the longest texts), stops before a step would exceed the budget, and trains
        /// with the largest ⌈BatchSize / k⌉ that the measurements predict within 90 % of the budget and a measured step
        /// confirms; <see cref="GradientAccumulationSteps"/> is multiplied by k, so an optimizer step still sees about
        /// BatchSize × GradientAccumulationSteps examples. The log states the batch chosen and the measurements behind it.
        /// The budget counts the whole process (data, runtime, other fits), so set it below the memory the process may
        /// use. A fit throws when a step of one example does not fit. Linux only (it reads /proc).
        /// </summary>
        public int? MemoryBudgetMegabytes { get; set; }

        /// <summary>How the loss weighs the classes. Default <see cref="ClassWeighting.None"/>.</summary>
        public ClassWeighting ClassWeighting { get; set; } = ClassWeighting.None;

        /// <summary>Validation data (same schema as the training data). When null, <see cref="ValidationSetFraction"/> is held out.</summary>
        public IDataView? ValidationSet { get; set; }

        /// <summary>
        /// Fraction of the training data held out for validation when no <see cref="ValidationSet"/> is given (0 = none).
        /// Default null: 0.1 when the network learns from scratch and for the text trainer; 0 for the pretrained image
        /// backbone, which trains on every row with its fixed schedule and keeps the last epoch (on two small image sets
        /// that scored higher and varied less between seeds than a 10 % hold-out; docs/decisions/2026-12-02-pretrained-holdout-default.md).
        /// </summary>
        public double? ValidationSetFraction { get; set; }

        /// <summary>The hold-out of a trainer that does not say otherwise (<see cref="ValidationSetFraction"/> null).</summary>
        internal const double DefaultValidationSetFraction = 0.1;

        /// <summary>Stop when validation accuracy has not improved by <see cref="EarlyStoppingMinDelta"/> for this many epochs; null = never. Default null.</summary>
        public int? EarlyStoppingPatience { get; set; }

        /// <summary>Smallest validation-accuracy gain that counts as an improvement. Default 0.001.</summary>
        public double EarlyStoppingMinDelta { get; set; } = 0.001;

        /// <summary>Keep the weights of the epoch with the best validation accuracy (when there is validation data). Default true.</summary>
        public bool RestoreBestWeights { get; set; } = true;

        /// <summary>Random seed for initialization, shuffling and augmentation; null takes one from the MLContext's seed.</summary>
        public int? Seed { get; set; }

        /// <summary>Optional path of a TorchSharp weights file (Module.save) to start from instead of random weights.</summary>
        public string? InitialWeightsPath { get; set; }

        /// <summary>Called with progress every <see cref="MetricsEveryBatches"/> batches and at each epoch's end.</summary>
        public Action<TrainingMetrics>? MetricsCallback { get; set; }

        /// <summary>How often <see cref="MetricsCallback"/> hears about batches. Default 20.</summary>
        public int MetricsEveryBatches { get; set; } = 20;

        /// <summary>Stops training cleanly (the fit throws <see cref="OperationCanceledException"/>).</summary>
        public CancellationToken CancellationToken { get; set; }

        /// <summary>
        /// A folder for training checkpoints; null (default) writes none. A checkpoint holds everything needed to continue
        /// exactly where the fit stopped (weights, optimizer, loss scaling, learning-rate position, random state, epoch,
        /// batch and data order, early-stopping record). A Fit with the same options and data resumes from the newest one
        /// there (and logs it); one written by other options, data or classes is refused with a message saying which. A
        /// fit that succeeds deletes its checkpoints, so rerunning it trains again from the start.
        /// </summary>
        public string? CheckpointDirectory { get; set; }

        /// <summary>
        /// With <see cref="CheckpointDirectory"/>: also checkpoint every this many optimizer steps within an epoch (a
        /// checkpoint is always written at each epoch's end); null: at epoch ends only. Default 200.
        /// </summary>
        public int? CheckpointEverySteps { get; set; } = 200;

        /// <summary>With <see cref="CheckpointDirectory"/>: how many of the newest checkpoints are kept. Default 2.</summary>
        public int CheckpointsToKeep { get; set; } = 2;

        /// <summary>
        /// Data-parallel training over the processes of an MPI job (docs/distributed.md). <see cref="DataParallelMode.Auto"/>
        /// (default): when Open MPI's <c>mpirun -np N</c> started the program (N &gt; 1), every process trains its share of
        /// each epoch and the gradients are averaged before each optimizer step; <see cref="BatchSize"/> counts per process, so
        /// a step sees BatchSize × GradientAccumulationSteps × N examples. Without a launcher nothing changes and MPI is
        /// not loaded. <see cref="DataParallelMode.Off"/>: each process trains alone; <see cref="DataParallelMode.Required"/>:
        /// fail when not launched by mpirun.
        /// </summary>
        public DataParallelMode DataParallel { get; set; } = DataParallelMode.Auto;

        internal virtual void Validate()
        {
            Check(!string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), "must name the label column");
            Check(!string.IsNullOrWhiteSpace(ScoreColumnName), nameof(ScoreColumnName), "must name the score column");
            Check(!string.IsNullOrWhiteSpace(PredictedLabelColumnName), nameof(PredictedLabelColumnName), "must name the predicted label column");
            Check(Epochs is null || Epochs > 0, nameof(Epochs), $"must be positive or null for the trainer's default (was {Epochs})");
            Check(BatchSize > 0, nameof(BatchSize), $"must be positive (was {BatchSize}; the default is 64)");
            Check(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), $"must be positive and finite (was {LearningRate})");
            Check(WarmupFraction >= 0 && WarmupFraction < 1, nameof(WarmupFraction), $"must be in [0, 1) (was {WarmupFraction})");
            Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), nameof(WeightDecay), $"must be zero or positive and finite (was {WeightDecay})");
            Check(Momentum >= 0 && Momentum < 1, nameof(Momentum), $"must be in [0, 1) (was {Momentum})");
            Check(GradientClipNorm is null || (GradientClipNorm > 0 && double.IsFinite(GradientClipNorm.Value)), nameof(GradientClipNorm),
                $"must be positive and finite, or null to turn clipping off (was {GradientClipNorm})");
            Check(GradientAccumulationSteps > 0, nameof(GradientAccumulationSteps), $"must be positive (was {GradientAccumulationSteps}; 1 turns accumulation off)");
            Check(MemoryBudgetMegabytes is null || MemoryBudgetMegabytes > 0, nameof(MemoryBudgetMegabytes),
                $"must be positive (MiB of resident memory the fit may use), or null for no bound (was {MemoryBudgetMegabytes})");
            Check(ValidationSetFraction is null || (ValidationSetFraction >= 0 && ValidationSetFraction < 1), nameof(ValidationSetFraction),
                $"must be in [0, 1), or null for the trainer's default (was {ValidationSetFraction}; 0 holds nothing out)");
            Check(EarlyStoppingPatience is null || EarlyStoppingPatience > 0, nameof(EarlyStoppingPatience),
                $"must be positive, or null to never stop early (was {EarlyStoppingPatience})");
            Check(EarlyStoppingMinDelta >= 0 && double.IsFinite(EarlyStoppingMinDelta), nameof(EarlyStoppingMinDelta),
                $"must be zero or positive and finite (was {EarlyStoppingMinDelta})");
            Check(MetricsEveryBatches > 0, nameof(MetricsEveryBatches), $"must be positive (was {MetricsEveryBatches})");
            Check(Enum.IsDefined(Optimizer), nameof(Optimizer), $"must be one of {string.Join(", ", Enum.GetNames<OptimizerKind>())} (was {Optimizer})");
            Check(LearningRateSchedule is null || Enum.IsDefined(LearningRateSchedule.Value), nameof(LearningRateSchedule),
                $"must be null or one of {string.Join(", ", Enum.GetNames<LearningRateScheduleKind>())} (was {LearningRateSchedule})");
            Check(Enum.IsDefined(ClassWeighting), nameof(ClassWeighting), $"must be one of {string.Join(", ", Enum.GetNames<ClassWeighting>())} (was {ClassWeighting})");
            Check(InitialWeightsPath is null || System.IO.File.Exists(InitialWeightsPath), nameof(InitialWeightsPath),
                $"names a file that does not exist ('{InitialWeightsPath}')");
            Check(CheckpointDirectory is null || !string.IsNullOrWhiteSpace(CheckpointDirectory), nameof(CheckpointDirectory), "must name a folder or be null");
            Check(CheckpointDirectory is null || !System.IO.File.Exists(CheckpointDirectory), nameof(CheckpointDirectory),
                $"names a file, not a folder ('{CheckpointDirectory}')");
            Check(CheckpointEverySteps is null || CheckpointEverySteps > 0, nameof(CheckpointEverySteps), $"must be positive or null (was {CheckpointEverySteps})");
            Check(Enum.IsDefined(DataParallel), nameof(DataParallel), $"must be one of {string.Join(", ", Enum.GetNames<DataParallelMode>())} (was {DataParallel})");
            Check(CheckpointsToKeep > 0, nameof(CheckpointsToKeep), $"must be positive (was {CheckpointsToKeep})");
        }

        private protected static void Check(bool condition, string option, string problem)
        {
            if (!condition)
                throw new ArgumentOutOfRangeException(option, $"Option {option} {problem}.");
        }
    }
}
