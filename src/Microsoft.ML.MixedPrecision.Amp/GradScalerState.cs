namespace Microsoft.ML.MixedPrecision.Amp
{
    /// <summary>
    /// A <see cref="GradScaler"/>'s checkpointable state: the keys of <c>torch.amp.GradScaler.state_dict()</c>
    /// (scale, growth_factor, backoff_factor, growth_interval, _growth_tracker) plus the skipped-step count.
    /// A plain object so it serializes with System.Text.Json into a training checkpoint. A disabled scaler's state is
    /// empty (<see cref="Enabled"/> false), as PyTorch's <c>state_dict()</c> returns <c>{}</c>, so one checkpoint path serves
    /// every precision.
    /// </summary>
    public sealed class GradScalerState
    {
        /// <summary>False for the empty state of a disabled scaler (then the other values mean nothing).</summary>
        public bool Enabled { get; set; } = true;

        /// <summary>The empty state a disabled scaler saves.</summary>
        public static GradScalerState Empty => new GradScalerState { Enabled = false };

        /// <summary>The loss scale (PyTorch's <c>scale</c>).</summary>
        public double Scale { get; set; }
        /// <summary>The growth factor (<c>growth_factor</c>).</summary>
        public double GrowthFactor { get; set; }
        /// <summary>The backoff factor (<c>backoff_factor</c>).</summary>
        public double BackoffFactor { get; set; }
        /// <summary>The growth interval (<c>growth_interval</c>).</summary>
        public int GrowthInterval { get; set; }
        /// <summary>Steps without overflow since the last growth or backoff (<c>_growth_tracker</c>).</summary>
        public int GrowthTracker { get; set; }
        /// <summary>Optimizer steps skipped so far (not in PyTorch's state; kept so a resumed fit reports the same count).</summary>
        public long SkippedSteps { get; set; }
    }
}
