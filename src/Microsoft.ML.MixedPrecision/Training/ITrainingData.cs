using System;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// In-memory training examples the shared loop draws batches from. <see cref="CreateBatch"/> runs on the prefetch
    /// worker (managed code only: gather, augment); <see cref="ToTensors"/> runs on the training thread (one copy into
    /// native memory), so the math never waits for data preparation.
    /// </summary>
    internal interface ITrainingData<TBatch> where TBatch : HostBatch
    {
        int Count { get; }

        /// <summary>Class index (0-based) of every example.</summary>
        long[] Labels { get; }

        /// <summary>Gathers the examples at <paramref name="indices"/> into a host batch, augmenting when asked.</summary>
        TBatch CreateBatch(ReadOnlySpan<int> indices, Random? random, bool augment);

        /// <summary>The network input for a host batch, on <paramref name="device"/>.</summary>
        Tensor ToTensors(TBatch batch, Device device);

        /// <summary>
        /// Reorders an epoch's shuffled examples before the loop cuts them into batches of <paramref name="batchSize"/>
        /// (e.g. to group similar lengths). Default: as shuffled, drawing nothing from <paramref name="random"/>.
        /// </summary>
        int[] ArrangeBatches(int[] order, int batchSize, Random random) => order;

        /// <summary>
        /// <paramref name="count"/> examples whose batch is the largest this data makes (repeating examples when there are
        /// fewer): what a memory probe measures. Default: the first ones, for data whose examples are all the same size.
        /// </summary>
        int[] LargestExamples(int count)
        {
            var indices = new int[count];
            for (int i = 0; i < count; i++)
                indices[i] = i % Count;
            return indices;
        }
    }

    /// <summary>A batch prepared on the host: the class indices; each kind of data adds its own payload.</summary>
    internal abstract class HostBatch
    {
        protected HostBatch(long[] labels)
        {
            Labels = labels;
        }

        public long[] Labels { get; }
        public int Count => Labels.Length;
    }
}
