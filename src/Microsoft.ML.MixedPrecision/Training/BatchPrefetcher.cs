using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// Prepares an epoch's host batches on a background worker, a few ahead of the training thread. The order is fixed
    /// by the seed and each batch draws its augmentation from its own <see cref="Random"/> (by batch index), so a run is
    /// reproducible whatever the timing, and an epoch resumed at a later batch draws what it would have drawn.
    /// The worker refills the queue only once it has run down to <see cref="RefillAt"/> batches, then fills it up: woken
    /// once per batch, on 2 cores busy with libtorch's threads, it cost the text step about 4 % (docs/decisions/2026-12-03-prefetcher-bursts.md).
    /// </summary>
    internal sealed class BatchPrefetcher<TBatch> : IDisposable where TBatch : HostBatch
    {
        /// <summary>Queued batches at or below which the training thread wakes the worker.</summary>
        public const int RefillAt = 1;

        private readonly BlockingCollection<TBatch> _queue;
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        // No spinning before it blocks: a spinning worker takes a core from libtorch's threads.
        private readonly ManualResetEventSlim _refill = new ManualResetEventSlim(false, spinCount: 0);
        private readonly Task _worker;
        // Set before the queue completes: the task itself turns Faulted only after its finally block has run, so a
        // consumer that checked the task could find the queue complete and the failure not yet recorded (seen in CI).
        private volatile ExceptionDispatchInfo? _failure;

        /// <summary>
        /// Starts preparing the batches of <paramref name="order"/> from batch number <paramref name="firstBatch"/> on (a
        /// resumed epoch skips those already trained); <paramref name="batchRandom"/> gives each batch index its
        /// randomness (null: none, for unaugmented passes).
        /// </summary>
        public BatchPrefetcher(ITrainingData<TBatch> data, int[] order, int batchSize, Func<int, Random>? batchRandom, bool augment,
            int firstBatch = 0, int depth = 4)
        {
            _queue = new BlockingCollection<TBatch>(depth);
            BatchCount = (order.Length + batchSize - 1) / batchSize;
            _worker = Task.Run(() =>
            {
                try
                {
                    for (int b = firstBatch; b < BatchCount && !_stop.IsCancellationRequested; b++)
                    {
                        while (_queue.Count >= _queue.BoundedCapacity)
                        {
                            _refill.Wait(_stop.Token);
                            _refill.Reset();
                        }
                        int start = b * batchSize, count = Math.Min(batchSize, order.Length - start);
                        var batch = data.CreateBatch(new ReadOnlySpan<int>(order, start, count), batchRandom?.Invoke(b), augment);
                        _queue.Add(batch, _stop.Token);
                    }
                }
                catch (OperationCanceledException)
                {
                }
                catch (Exception e)
                {
                    _failure = ExceptionDispatchInfo.Capture(e);
                }
                finally
                {
                    _queue.CompleteAdding();
                }
            });
        }

        public int BatchCount { get; }

        /// <summary>Batches in order; rethrows a failure of the worker.</summary>
        public IEnumerable<TBatch> Batches()
        {
            foreach (var batch in _queue.GetConsumingEnumerable())
            {
                if (_queue.Count <= RefillAt)
                    _refill.Set();
                yield return batch;
            }
            _failure?.Throw();
        }

        public void Dispose()
        {
            _stop.Cancel();
            _worker.Wait(); // never faults: the worker records its failure for Batches()
            _queue.Dispose();
            _refill.Dispose();
            _stop.Dispose();
        }
    }
}
