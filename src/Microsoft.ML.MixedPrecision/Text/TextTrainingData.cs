using System;
using Microsoft.ML.MixedPrecision.Training;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>
    /// Tokenized examples: one id sequence per example ([CLS] … [SEP], not padded). A batch is padded only to its
    /// longest sequence (the model masks padding, so this changes no logit, only the work done).
    /// </summary>
    internal sealed class TextTrainingData : ITrainingData
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

        public HostBatch CreateBatch(ReadOnlySpan<int> indices, Random random, bool augment)
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
            return new HostBatch(new PaddedIds(ids, length), labels);
        }

        public Tensor ToTensors(HostBatch batch, Device device)
        {
            var payload = (PaddedIds)batch.Payload;
            return tensor(payload.Ids, new long[] { batch.Count, payload.Length }, device: device);
        }

        private sealed class PaddedIds
        {
            public PaddedIds(long[] ids, int length)
            {
                Ids = ids;
                Length = length;
            }

            public long[] Ids { get; }
            public int Length { get; }
        }
    }
}
