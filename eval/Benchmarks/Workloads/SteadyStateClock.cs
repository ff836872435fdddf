using System;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Workloads
{
    /// <summary>
    /// Times an estimator's epoch from its <see cref="ClassificationTrainerOptionsBase.MetricsCallback"/>: the clock
    /// starts at the report after the warm-up batches and stops at the epoch's end, so one-time costs (decoding,
    /// first-call kernel selection) stay out of the figure.
    /// </summary>
    internal sealed class SteadyStateClock
    {
        private readonly int _warmupBatches;
        private TimeSpan? _start;
        private TimeSpan? _end;

        public SteadyStateClock(int warmupBatches)
        {
            _warmupBatches = warmupBatches;
        }

        public double TrainingLoss { get; private set; } = double.NaN;

        /// <summary>Set <see cref="ClassificationTrainerOptionsBase.MetricsEveryBatches"/> to this.</summary>
        public int ReportEvery => _warmupBatches;

        public void OnMetrics(TrainingMetrics m)
        {
            if (m.Epoch != 1)
                return;
            if (!m.IsEpochEnd && m.BatchesProcessed == _warmupBatches)
                _start = m.Elapsed;
            if (m.IsEpochEnd)
            {
                _end = m.Elapsed;
                TrainingLoss = m.TrainingLoss;
            }
        }

        /// <summary>Examples per second after the warm-up batches, for an epoch of <paramref name="examples"/> in batches of <paramref name="batchSize"/>.</summary>
        public double SamplesPerSecond(int examples, int batchSize)
        {
            if (_start is null || _end is null)
                throw new InvalidOperationException($"The epoch was too short to time: it needs more than {_warmupBatches} batches.");
            return (examples - _warmupBatches * batchSize) / (_end.Value - _start.Value).TotalSeconds;
        }
    }
}
