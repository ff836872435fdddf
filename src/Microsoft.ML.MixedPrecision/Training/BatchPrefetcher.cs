using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// Prepares an epoch's host batches on a background worker, a few ahead of the training thread. The order is fixed
    /// by the seed, so a run is reproducible whatever the timing.
    /// </summary>
    internal sealed class BatchPrefetcher<TBatch> : IDisposable where TBatch : HostBatch
    {
        private readonly BlockingCollection<TBatch> _queue;
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly Task _worker;

        public BatchPrefetcher(ITrainingData<TBatch> data, int[] order, int batchSize, Random random, bool augment, int depth = 4)
        {
            _queue = new BlockingCollection<TBatch>(depth);
            BatchCount = (order.Length + batchSize - 1) / batchSize;
            _worker = Task.Run(() =>
            {
                try
                {
                    for (int start = 0; start < order.Length && !_stop.IsCancellationRequested; start += batchSize)
                    {
                        int count = Math.Min(batchSize, order.Length - start);
                        var batch = data.CreateBatch(new ReadOnlySpan<int>(order, start, count), random, augment);
                        _queue.Add(batch, _stop.Token);
                    }
                }
                catch (OperationCanceledException)
                {
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
                yield return batch;
            if (_worker.IsFaulted)
                throw _worker.Exception.GetBaseException();
        }

        public void Dispose()
        {
            _stop.Cancel();
            try
            {
                _worker.Wait();
            }
            catch (AggregateException)
            {
            }
            _queue.Dispose();
            _stop.Dispose();
        }
    }
}
