namespace Microsoft.ML.MixedPrecision.Amp
{
    /// <summary>
    /// A <see cref="GradScaler"/>'s checkpointable state: the keys of <c>torch.amp.GradScaler.state_dict()</c>
    /// (scale, growth_factor, backoff_factor, growth_interval, _growth_tracker) plus the skipped-step count.
    /// A plain object so it serializes with System.Text.Json into a training checkpoint.
    /// </summary>
    public sealed class GradScalerState
    {
        public double Scale { get; set; }
        public double GrowthFactor { get; set; }
        public double BackoffFactor { get; set; }
        public int GrowthInterval { get; set; }
        public int GrowthTracker { get; set; }
        public long SkippedSteps { get; set; }
    }
}
