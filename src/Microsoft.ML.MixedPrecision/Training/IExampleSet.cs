using System.Security.Cryptography;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>Labelled examples read from an IDataView, before the trainer turns them into training batches.</summary>
    internal interface IExampleSet<out TSelf>
    {
        int Count { get; }

        /// <summary>Class index (0-based) of every example.</summary>
        long[] Labels { get; }

        /// <summary>The examples at <paramref name="indices"/>, in that order.</summary>
        TSelf Subset(int[] indices);

        /// <summary>
        /// Appends the examples' features (not their labels), in order, to <paramref name="hash"/>: a checkpoint's fingerprint
        /// tells other data with the same labels apart by it.
        /// </summary>
        void HashFeatures(IncrementalHash hash);
    }
}
