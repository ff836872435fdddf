using System;
using Microsoft.ML.MixedPrecision.Training;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>
    /// A frozen backbone's pooled features, computed once, so a linear head trains on them at the cost of a linear
    /// model (what the stock DnnFeaturizeImage pipeline does), instead of running the backbone every epoch.
    /// </summary>
    internal sealed class FeatureTrainingData : ITrainingData<FeatureTrainingData.FeatureBatch>
    {
        private readonly float[] _features;
        private readonly int _width;

        public FeatureTrainingData(float[] features, long[] labels, int width)
        {
            if (features.Length != (long)labels.Length * width)
                throw new ArgumentException("Feature buffer and label count disagree.");
            _features = features;
            _width = width;
            Labels = labels;
        }

        public int Count => Labels.Length;
        public long[] Labels { get; }

        public FeatureBatch CreateBatch(ReadOnlySpan<int> indices, Random random, bool augment)
        {
            var batch = new float[indices.Length * _width];
            var labels = new long[indices.Length];
            for (int b = 0; b < indices.Length; b++)
            {
                Array.Copy(_features, (long)indices[b] * _width, batch, (long)b * _width, _width);
                labels[b] = Labels[indices[b]];
            }
            return new FeatureBatch(batch, labels);
        }

        public Tensor ToTensors(FeatureBatch batch, Device device)
            => tensor(batch.Features, new long[] { batch.Count, _width }, device: device);

        /// <summary>Features [count, width].</summary>
        internal sealed class FeatureBatch : HostBatch
        {
            public FeatureBatch(float[] features, long[] labels) : base(labels)
            {
                Features = features;
            }

            public float[] Features { get; }
        }
    }
}
