using System;
using Microsoft.ML.MixedPrecision.Training;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>
    /// A frozen backbone's pooled features, computed once, so a linear head trains on them at the cost of a linear
    /// model (what the stock DnnFeaturizeImage pipeline does), instead of running the backbone every epoch. With the
    /// features of the mirrored images as well, an augmented batch takes each row's mirror at random: the left-right flip
    /// of the fine-tune, at the cost of one more backbone pass.
    /// </summary>
    internal sealed class FeatureTrainingData : ITrainingData<FeatureTrainingData.FeatureBatch>
    {
        private readonly float[] _features;
        private readonly float[]? _mirroredFeatures;
        private readonly int _width;

        /// <param name="features">Pooled features [count, width], row-major.</param>
        /// <param name="mirroredFeatures">The features of the mirrored images, in the same order, or null.</param>
        /// <param name="labels">Class index of each row.</param>
        /// <param name="width">Feature width.</param>
        public FeatureTrainingData(float[] features, float[]? mirroredFeatures, long[] labels, int width)
        {
            if (features.Length != (long)labels.Length * width || (mirroredFeatures != null && mirroredFeatures.Length != features.Length))
                throw new ArgumentException("Feature buffers and label count disagree.");
            _features = features;
            _mirroredFeatures = mirroredFeatures;
            _width = width;
            Labels = labels;
        }

        public int Count => Labels.Length;
        public long[] Labels { get; }

        public FeatureBatch CreateBatch(ReadOnlySpan<int> indices, Random? random, bool augment)
        {
            var batch = new float[indices.Length * _width];
            var labels = new long[indices.Length];
            for (int b = 0; b < indices.Length; b++)
            {
                bool mirrored = augment && _mirroredFeatures != null && random!.Next(2) == 1;
                Array.Copy(mirrored ? _mirroredFeatures! : _features, (long)indices[b] * _width, batch, (long)b * _width, _width);
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
