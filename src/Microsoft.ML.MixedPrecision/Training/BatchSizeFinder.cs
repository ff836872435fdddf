using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// Picks the batch size of a training phase from a memory budget, in the manner of Lightning's batch-size finder
    /// (probe, back off, then train), with gradient accumulation keeping the optimizer's batch. It measures the peak memory
    /// of one training step at 2, 4, 8, … examples and stops before a step the last two measurements predict, by the line
    /// peak(b) = a + c·b through them, to exceed the target (so it rarely runs a step over the budget). Below the batch asked for, it trains at the largest
    /// ⌈BatchSize / k⌉ the line allows, confirmed by a measured step when larger than every batch measured, and multiplies the
    /// accumulation by k.
    /// </summary>
    internal sealed class BatchSizeFinder
    {
        /// <summary>The share of the budget a measured or predicted step may take: the rest is headroom for the heap's growth over many steps.</summary>
        public const double TargetFraction = 0.9;

        /// <summary>Verification steps before the finder settles for the largest batch it measured.</summary>
        private const int MaxVerifications = 2;

        private readonly BatchPlan _asked;
        private readonly Func<int, long> _peakBytesAt;
        private readonly SortedDictionary<int, long> _measured = new SortedDictionary<int, long>();

        /// <param name="asked">The options' batch size and accumulation.</param>
        /// <param name="budgetBytes">The budget.</param>
        /// <param name="reserveBytes">Memory the phase takes later whatever the batch (e.g. a copy of the best epoch's weights).</param>
        /// <param name="peakBytesAt">The process's peak resident memory over one training step at a batch size.</param>
        public BatchSizeFinder(BatchPlan asked, long budgetBytes, long reserveBytes, Func<int, long> peakBytesAt)
        {
            _asked = asked;
            BudgetBytes = budgetBytes;
            ReserveBytes = reserveBytes;
            _peakBytesAt = peakBytesAt;
        }

        public long BudgetBytes { get; }
        public long ReserveBytes { get; }

        /// <summary>What a step may take: <see cref="TargetFraction"/> of the budget less the reserve.</summary>
        public long TargetBytes => (long)(BudgetBytes * TargetFraction) - ReserveBytes;

        /// <summary>Batch size → measured peak bytes, in the order of batch size.</summary>
        public IReadOnlyDictionary<int, long> Measured => _measured;

        /// <summary>Probes, backs off and returns the plan; throws <see cref="ArgumentOutOfRangeException"/> when not even one example fits.</summary>
        public BatchPlan Find()
        {
            int fits = SmallestThatFits();
            while (fits < _asked.BatchSize)
            {
                int next = Math.Min(_asked.BatchSize, fits * 2);
                if (_measured.Count >= 2 && Predict(next) > TargetBytes)
                    break;
                if (Measure(next) > TargetBytes)
                    break;
                fits = next;
            }
            return fits == _asked.BatchSize ? _asked : BackOff(fits);
        }

        /// <summary>The largest batch the line predicts within the target, as ⌈BatchSize / k⌉, verified by a step when it is larger than <paramref name="fits"/>.</summary>
        private BatchPlan BackOff(int fits)
        {
            int largest = PredictedLargest();
            for (int attempt = 0; attempt < MaxVerifications; attempt++)
            {
                var plan = Split(Math.Max(largest, fits));
                if (plan.BatchSize <= fits || Measure(plan.BatchSize) <= TargetBytes)
                    return plan;
                largest = Math.Min(PredictedLargest(), plan.BatchSize - 1);
            }
            return Split(fits);
        }

        /// <summary>The smallest k with ⌈BatchSize / k⌉ ≤ <paramref name="largest"/>: that batch, and the accumulation times k.</summary>
        private BatchPlan Split(int largest)
        {
            int asked = _asked.BatchSize;
            int k = (asked + largest - 1) / largest;
            return new BatchPlan((asked + k - 1) / k, _asked.AccumulationSteps * k);
        }

        /// <summary>Two examples (one when two do not fit or only one was asked for); throws when one does not fit.</summary>
        private int SmallestThatFits()
        {
            int first = Math.Min(2, _asked.BatchSize);
            if (Measure(first) <= TargetBytes)
                return first;
            if (first > 1 && Measure(1) <= TargetBytes)
                return 1;
            throw TooSmall();
        }

        private long Measure(int batchSize)
        {
            long bytes = _peakBytesAt(batchSize);
            _measured[batchSize] = bytes;
            return bytes;
        }

        /// <summary>The line through the two largest measurements: (intercept, bytes per example, never negative).</summary>
        private (double A, double C) Line()
        {
            var top = _measured.Reverse().Take(2).ToArray();
            if (top.Length < 2)
                return (top[0].Value, 0);
            double c = Math.Max(0, (double)(top[0].Value - top[1].Value) / (top[0].Key - top[1].Key));
            return (top[0].Value - c * top[0].Key, c);
        }

        /// <summary>The line's peak at <paramref name="batchSize"/>.</summary>
        public long Predict(int batchSize)
        {
            var (a, c) = Line();
            return (long)(a + c * batchSize);
        }

        private int PredictedLargest()
        {
            var (a, c) = Line();
            if (c <= 0)
                return _asked.BatchSize;
            return (int)Math.Clamp(Math.Floor((TargetBytes - a) / c), 1, _asked.BatchSize);
        }

        private ArgumentOutOfRangeException TooSmall()
        {
            long needed = _measured.Values.Min() + ReserveBytes;
            long suggestion = (long)Math.Ceiling(needed / TargetFraction / (1 << 20)) + 1;
            string reserve = ReserveBytes > 0 ? $", less {Mib(ReserveBytes)} MiB kept for the best epoch's weights" : "";
            return new ArgumentOutOfRangeException(nameof(ClassificationTrainerOptionsBase.MemoryBudgetMegabytes),
                $"Option MemoryBudgetMegabytes: a training step of {_measured.Keys.Min()} example(s) took the process to {Mib(_measured.Values.Min())} MiB " +
                $"of resident memory, more than the {Mib(TargetBytes)} MiB a step may take ({TargetFraction:P0} of the budget of {Mib(BudgetBytes)} MiB{reserve}). " +
                $"Set MemoryBudgetMegabytes to at least {suggestion}, or to null for no bound; or make the network or its input smaller.");
        }

        /// <summary>"2 → 612, 4 → 640, 8 → 700 MiB" for the log.</summary>
        public string DescribeMeasurements() =>
            string.Join(", ", _measured.Select(m => $"{m.Key} → {Mib(m.Value)}")) + " MiB";

        internal static long Mib(long bytes) => bytes >> 20;
    }
}
