namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// The batches a training phase runs: <see cref="BatchSize"/> examples each, an optimizer step every
    /// <see cref="AccumulationSteps"/> of them. Without a memory budget, the options' BatchSize and GradientAccumulationSteps.
    /// </summary>
    internal readonly record struct BatchPlan(int BatchSize, int AccumulationSteps)
    {
        /// <summary>Examples an optimizer step sees (the epoch's last group may hold fewer).</summary>
        public int EffectiveBatchSize => BatchSize * AccumulationSteps;

        /// <summary>The plan the options ask for.</summary>
        public static BatchPlan Of(ClassificationTrainerOptionsBase options) => new BatchPlan(options.BatchSize, options.GradientAccumulationSteps);
    }
}
