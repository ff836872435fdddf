using System;
using System.Security.Cryptography;
using Microsoft.ML.MixedPrecision.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>
    /// Decoded, resized images held as 8-bit planar CHW pixels (a quarter of float32's memory). Batches are gathered and
    /// augmented (<see cref="ImageAugmentation"/>) on the prefetch worker; the training thread only copies and scales.
    /// </summary>
    internal sealed class ImageTrainingData : ITrainingData<ImageTrainingData.PixelBatch>, IExampleSet<ImageTrainingData>
    {
        private readonly byte[] _pixels;
        private readonly int _channels, _height, _width, _imageSize;
        private readonly ImageAugmentation _augmentation;

        public ImageTrainingData(byte[] pixels, long[] labels, int channels, int height, int width, ImageAugmentation augmentation)
        {
            _channels = channels;
            _height = height;
            _width = width;
            _imageSize = channels * height * width;
            if (pixels.Length != (long)labels.Length * _imageSize)
                throw new ArgumentException("Pixel buffer and label count disagree.");
            _pixels = pixels;
            Labels = labels;
            _augmentation = augmentation;
        }

        public int Count => Labels.Length;
        public long[] Labels { get; }
        public int Channels => _channels;
        public int Height => _height;
        public int Width => _width;

        public void HashFeatures(IncrementalHash hash)
        {
            foreach (int dimension in new[] { _channels, _height, _width })
                hash.AppendData(BitConverter.GetBytes(dimension));
            hash.AppendData(_pixels);
        }

        /// <summary>A view over some of the examples (copied), keeping the augmentation settings.</summary>
        public ImageTrainingData Subset(int[] indices)
        {
            var pixels = new byte[(long)indices.Length * _imageSize];
            var labels = new long[indices.Length];
            for (int i = 0; i < indices.Length; i++)
            {
                Buffer.BlockCopy(_pixels, indices[i] * _imageSize, pixels, i * _imageSize, _imageSize);
                labels[i] = Labels[indices[i]];
            }
            return new ImageTrainingData(pixels, labels, _channels, _height, _width, _augmentation);
        }

        public PixelBatch CreateBatch(ReadOnlySpan<int> indices, Random? random, bool augment)
        {
            var batch = new byte[indices.Length * _imageSize];
            var labels = new long[indices.Length];
            var scratch = augment && !_augmentation.IsNone ? new byte[_imageSize] : null;
            for (int b = 0; b < indices.Length; b++)
            {
                int index = indices[b];
                labels[b] = Labels[index];
                var source = new ReadOnlySpan<byte>(_pixels, index * _imageSize, _imageSize);
                var target = new Span<byte>(batch, b * _imageSize, _imageSize);
                if (scratch == null)
                    source.CopyTo(target);
                else
                    _augmentation.Apply(source, target, scratch, _channels, _height, _width, random!); // the loop gives every augmented batch its generator
            }
            return new PixelBatch(batch, labels);
        }

        // A rooted Scalar: TorchSharp passes a Scalar's handle to libtorch without keeping the Scalar alive, so an
        // implicit-conversion temporary (div_(255f)) can be finalized while the native call still reads it.
        private static readonly Scalar ByteRange = 255f;

        public Tensor ToTensors(PixelBatch batch, Device device)
        {
            using var raw = tensor(batch.Pixels, new long[] { batch.Count, _channels, _height, _width });
            using var onDevice = raw.to(device);
            return onDevice.to(ScalarType.Float32).div_(ByteRange);
        }

        /// <summary>8-bit planar pixels [count, channels, height, width].</summary>
        internal sealed class PixelBatch : HostBatch
        {
            public PixelBatch(byte[] pixels, long[] labels) : base(labels)
            {
                Pixels = pixels;
            }

            public byte[] Pixels { get; }
        }
    }
}
