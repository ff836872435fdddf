using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>
    /// How a pretrained network expects its input pixels: channel order, pixel range and per-channel mean and standard
    /// deviation, i.e. the network reads <c>(pixel × PixelRange − Mean) / Std</c> per channel, channels in the order
    /// <see cref="Bgr"/> says. The trainer folds it into the network's first layer, so the fitted model still takes the
    /// stock scoring chain's R, G, B pixels. Set it with <c>ImageClassificationTrainer.Options.PretrainedInputConvention</c>
    /// when the ONNX file does not say it (see that option).
    /// </summary>
    public sealed class ImageInputConvention
    {
        /// <summary>Creates a convention.</summary>
        /// <param name="bgr">True when the network reads blue, green, red; false for red, green, blue.</param>
        /// <param name="pixelRange">1 when the network's pixels are in [0, 1], 255 when in [0, 255].</param>
        /// <param name="mean">Per-channel mean subtracted, in the network's channel order and in the pixel range's units (3 values, or 1 for all).</param>
        /// <param name="std">Per-channel standard deviation divided by, likewise (3 values, or 1 for all; positive).</param>
        public ImageInputConvention(bool bgr, float pixelRange, float[] mean, float[] std)
        {
            if (!(pixelRange == 1f || pixelRange == 255f))
                throw new ArgumentOutOfRangeException(nameof(pixelRange), $"Must be 1 (pixels in [0, 1]) or 255 (pixels in [0, 255]), was {pixelRange}.");
            Bgr = bgr;
            PixelRange = pixelRange;
            Mean = Channels(mean, nameof(mean), positive: false);
            Std = Channels(std, nameof(std), positive: true);
        }

        /// <summary>torchvision's ImageNet convention: R, G, B in [0, 1], mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).</summary>
        public static ImageInputConvention TorchVision { get; } = new(false, 1f, new[] { 0.485f, 0.456f, 0.406f }, new[] { 0.229f, 0.224f, 0.225f });

        /// <summary>CNTK's ImageNet ResNet18 (Microsoft.ML.DnnImageFeaturizer.ResNet18): B, G, R in [0, 255] minus the channel means of its mean image.</summary>
        internal static ImageInputConvention Cntk { get; } = new(true, 255f, new[] { 103.06f, 115.90f, 123.15f }, new[] { 1f });

        /// <summary>True when the network reads blue, green, red.</summary>
        public bool Bgr { get; }

        /// <summary>1 (pixels in [0, 1]) or 255 (pixels in [0, 255]).</summary>
        public float PixelRange { get; }

        /// <summary>Per-channel mean, in the network's channel order and the pixel range's units.</summary>
        public IReadOnlyList<float> Mean { get; }

        /// <summary>Per-channel standard deviation, in the network's channel order and the pixel range's units.</summary>
        public IReadOnlyList<float> Std { get; }

        /// <summary>E.g. "RGB in [0, 1], mean 0.485/0.456/0.406, std 0.229/0.224/0.225".</summary>
        public override string ToString()
            => $"{(Bgr ? "BGR" : "RGB")} in [0, {PixelRange.ToString(CultureInfo.InvariantCulture)}], mean {Join(Mean)}, std {Join(Std)}";

        /// <summary>
        /// The same network input as (x − mean) / std on R, G, B pixels x in [0, 1]: (range·x − m) / s = (x − m/range) / (s/range),
        /// channels put in R, G, B order (the network's first convolution is flipped separately for BGR).
        /// </summary>
        internal (float[] Mean, float[] Std) OnRgbUnitPixels()
        {
            int[] order = Bgr ? new[] { 2, 1, 0 } : new[] { 0, 1, 2 };
            return (order.Select(c => Mean[c] / PixelRange).ToArray(), order.Select(c => Std[c] / PixelRange).ToArray());
        }

        private static IReadOnlyList<float> Channels(float[] values, string name, bool positive)
        {
            if (values is null)
                throw new ArgumentNullException(name);
            if (values.Length != 1 && values.Length != 3)
                throw new ArgumentException($"Expected 3 values (one per channel) or 1 (for all), got {values.Length}.", name);
            if (values.Any(v => float.IsNaN(v) || float.IsInfinity(v) || (positive && v <= 0)))
                throw new ArgumentException($"Values must be finite{(positive ? " and positive" : "")}: {Join(values)}.", name);
            return Array.AsReadOnly(values.Length == 3 ? (float[])values.Clone() : new[] { values[0], values[0], values[0] });
        }

        private static string Join(IEnumerable<float> values) => string.Join("/", values.Select(v => v.ToString("0.###", CultureInfo.InvariantCulture)));
    }
}
