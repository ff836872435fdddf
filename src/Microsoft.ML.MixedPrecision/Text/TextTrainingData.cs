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
        private readonly long[][] _sequences;

        public TextTrainingData(long[][] sequences, long[] labels)
        {
            if (sequences.Length != labels.Length)
                throw new ArgumentException("Sequence and label counts disagree.");
            _sequences = sequences;
            Labels = labels;
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
            return new TextTrainingData(sequences, labels);
        }

        public PaddedIds CreateBatch(ReadOnlySpan<int> indices, Random random, bool augment)
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
