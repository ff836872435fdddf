using System;
using Microsoft.ML.MixedPrecision.Training;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>
    /// Tokenized examples: one id sequence per example ([CLS] … [SEP], not padded). A batch is padded only to its
    /// longest sequence (the model masks padding, so this changes no logit, only the work done).
    /// </summary>
    internal sealed class TextTrainingData : ITrainingData<TextTrainingData.PaddedIds>
    {
        /// <summary>Batches per window sorted by length when bucketing: wide enough to group lengths, narrow enough to stay random.</summary>
        private const int BucketWindowBatches = 50;

        private readonly long[][] _sequences;
        private readonly bool _bucketByLength;

        public TextTrainingData(long[][] sequences, long[] labels, bool bucketByLength = false)
        {
            if (sequences.Length != labels.Length)
                throw new ArgumentException("Sequence and label counts disagree.");
            _sequences = sequences;
            Labels = labels;
            _bucketByLength = bucketByLength;
        }

        public int Count => Labels.Length;
        public long[] Labels { get; }

        public TextTrainingData Subset(int[] indices)
        {
            var sequences = new long[indices.Length][];
            var labels = new long[indices.Length];
            for (int i = 0; i < indices.Length; i++)
            {
                sequences[i] = _sequences[indices[i]];
                labels[i] = Labels[indices[i]];
            }
            return new TextTrainingData(sequences, labels, _bucketByLength);
        }

        /// <summary>
        /// Length bucketing: sorts the shuffled order by length within windows of <see cref="BucketWindowBatches"/> batches,
        /// then shuffles the full batches (a last partial batch stays last, where the loop expects it).
        /// </summary>
        public int[] ArrangeBatches(int[] order, int batchSize, Random random)
        {
            if (!_bucketByLength || order.Length <= batchSize)
                return order;
            var sorted = (int[])order.Clone();
            var lengths = new int[sorted.Length];
            for (int i = 0; i < sorted.Length; i++)
                lengths[i] = _sequences[sorted[i]].Length;
            int window = batchSize * BucketWindowBatches;
            for (int start = 0; start < sorted.Length; start += window)
                Array.Sort(lengths, sorted, start, Math.Min(window, sorted.Length - start));
            int fullBatches = sorted.Length / batchSize;
            int[] batchOrder = ExampleOrder.Shuffled(fullBatches, random);
            var arranged = new int[sorted.Length];
            for (int b = 0; b < fullBatches; b++)
                Array.Copy(sorted, batchOrder[b] * batchSize, arranged, b * batchSize, batchSize);
            Array.Copy(sorted, fullBatches * batchSize, arranged, fullBatches * batchSize, sorted.Length - fullBatches * batchSize);
            return arranged;
        }

        /// <summary>The longest sequences (repeated when there are fewer than <paramref name="count"/>): a batch padded to the longest length.</summary>
        public int[] LargestExamples(int count)
        {
            var byLength = new int[_sequences.Length];
            var lengths = new int[_sequences.Length];
            for (int i = 0; i < byLength.Length; i++)
            {
                byLength[i] = i;
                lengths[i] = -_sequences[i].Length;
            }
            Array.Sort(lengths, byLength);
            var indices = new int[count];
            for (int i = 0; i < count; i++)
                indices[i] = byLength[i % byLength.Length];
            return indices;
        }

        public PaddedIds CreateBatch(ReadOnlySpan<int> indices, Random? random, bool augment)
        {
            int length = 1;
            foreach (int index in indices)
                length = Math.Max(length, _sequences[index].Length);
            var ids = new long[indices.Length * length]; // zeros = padding
            var labels = new long[indices.Length];
            for (int b = 0; b < indices.Length; b++)
            {
                long[] sequence = _sequences[indices[b]];
                Array.Copy(sequence, 0, ids, b * length, sequence.Length);
                labels[b] = Labels[indices[b]];
            }
            return new PaddedIds(ids, length, labels);
        }

        public Tensor ToTensors(PaddedIds batch, Device device)
            => tensor(batch.Ids, new long[] { batch.Count, batch.Length }, device: device);

        /// <summary>Token ids [count, length], zero-padded to the batch's longest sequence.</summary>
        internal sealed class PaddedIds : HostBatch
        {
            public PaddedIds(long[] ids, int length, long[] labels) : base(labels)
            {
                Ids = ids;
                Length = length;
            }

            public long[] Ids { get; }
            public int Length { get; }
        }
    }
}
