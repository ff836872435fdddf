using System;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// Learning rate as a function of the optimizer step. The loop advances it only after a real optimizer step, never
    /// after one the grad scaler skipped (pytorch #44511).
    /// </summary>
    internal sealed class LearningRateScheduler
    {
        private readonly LearningRateScheduleKind _kind;
        private readonly double _peak;
        private readonly long _totalSteps;
        private readonly long _warmupSteps;

        public LearningRateScheduler(LearningRateScheduleKind kind, double peak, long totalSteps, double warmupFraction)
        {
            _kind = kind;
            _peak = peak;
            _totalSteps = Math.Max(1, totalSteps);
            _warmupSteps = kind == LearningRateScheduleKind.Constant ? 0 : (long)Math.Round(warmupFraction * _totalSteps);
        }

        /// <summary>The learning rate for optimizer step <paramref name="step"/> (0-based).</summary>
        public double At(long step)
        {
            if (_kind == LearningRateScheduleKind.Constant)
                return _peak;
            if (step < _warmupSteps)
            {
                // One-cycle starts at peak/25 like PyTorch's OneCycleLR; the plain warm-up starts near zero.
                double start = _kind == LearningRateScheduleKind.OneCycle ? _peak / 25.0 : _peak / _warmupSteps;
                return start + (_peak - start) * step / Math.Max(1, _warmupSteps - 1);
            }
            double progress = Math.Min(1.0, (double)(step - _warmupSteps) / Math.Max(1, _totalSteps - _warmupSteps));
            if (_kind == LearningRateScheduleKind.LinearWithWarmup)
                return _peak * (1 - progress);
            double floor = _kind == LearningRateScheduleKind.OneCycle ? _peak / 1e4 : 0.0;
            return floor + (_peak - floor) * 0.5 * (1 + Math.Cos(Math.PI * progress));
        }
    }
}
