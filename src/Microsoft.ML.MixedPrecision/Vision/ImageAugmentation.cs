using System;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>
    /// Random training-time changes of one 8-bit planar CHW image: a random-resized crop (a random part of the image, of at
    /// least <see cref="MinCropArea"/> of its area and aspect 3:4 to 4:3, stretched back to full size, bilinear), a random
    /// shift by up to <see cref="ShiftPixels"/> (zero padding) and a left-right mirror, in that order.
    /// </summary>
    internal sealed record ImageAugmentation(int ShiftPixels, bool HorizontalFlip, double MinCropArea = 1.0)
    {
        public static readonly ImageAugmentation None = new(0, false);

        private static readonly double LogMinAspect = Math.Log(3.0 / 4.0), LogMaxAspect = Math.Log(4.0 / 3.0);

        public bool IsNone => ShiftPixels == 0 && !HorizontalFlip && !Crops;

        private bool Crops => MinCropArea < 1.0;

        /// <summary>For the log: "random-resized crop (25–100 % of the area), shift up to 10 px, left-right mirror", or "none".</summary>
        public string Description
        {
            get
            {
                var parts = new System.Collections.Generic.List<string>();
                if (Crops)
                    parts.Add($"random-resized crop ({MinCropArea * 100:0.#}–100 % of the area)");
                if (ShiftPixels > 0)
                    parts.Add($"shift up to {ShiftPixels} px");
                if (HorizontalFlip)
                    parts.Add("left-right mirror");
                return parts.Count == 0 ? "none" : string.Join(", ", parts);
            }
        }

        /// <summary>Writes an augmented copy of <paramref name="source"/> to <paramref name="target"/>; <paramref name="scratch"/> is one image's size.</summary>
        public void Apply(ReadOnlySpan<byte> source, Span<byte> target, Span<byte> scratch, int channels, int height, int width, Random random)
        {
            if (Crops)
            {
                CropResize(source, scratch, channels, height, width, random);
                source = scratch;
            }
            // Drawn in this order whatever is on, so a fit without the crop keeps the random stream it always had.
            int dx = ShiftPixels == 0 ? 0 : random.Next(-ShiftPixels, ShiftPixels + 1);
            int dy = ShiftPixels == 0 ? 0 : random.Next(-ShiftPixels, ShiftPixels + 1);
            bool flip = HorizontalFlip && random.Next(2) == 1;
            ShiftAndFlip(source, target, channels, height, width, dx, dy, flip);
        }

        /// <summary>As torchvision's RandomResizedCrop: up to ten draws for a crop that fits, else the whole image.</summary>
        private void CropResize(ReadOnlySpan<byte> source, Span<byte> target, int channels, int height, int width, Random random)
        {
            for (int attempt = 0; attempt < 10; attempt++)
            {
                double area = height * width * (MinCropArea + (1.0 - MinCropArea) * random.NextDouble());
                double aspect = Math.Exp(LogMinAspect + (LogMaxAspect - LogMinAspect) * random.NextDouble());
                double cropWidth = Math.Sqrt(area * aspect), cropHeight = Math.Sqrt(area / aspect);
                if (cropWidth > width || cropHeight > height)
                    continue;
                double left = (width - cropWidth) * random.NextDouble(), top = (height - cropHeight) * random.NextDouble();
                Resample(source, target, channels, height, width, left, top, cropWidth, cropHeight);
                return;
            }
            source.CopyTo(target);
        }

        /// <summary>Bilinear resampling of the crop (pixel centers, edges clamped) to the full height and width.</summary>
        private static void Resample(ReadOnlySpan<byte> source, Span<byte> target, int channels, int height, int width,
            double left, double top, double cropWidth, double cropHeight)
        {
            Span<int> x0 = stackalloc int[width], x1 = stackalloc int[width];
            Span<float> wx = stackalloc float[width];
            for (int x = 0; x < width; x++)
                Interpolation(left + (x + 0.5) * cropWidth / width - 0.5, width, out x0[x], out x1[x], out wx[x]);
            int plane = height * width;
            for (int y = 0; y < height; y++)
            {
                Interpolation(top + (y + 0.5) * cropHeight / height - 0.5, height, out int y0, out int y1, out float wy);
                for (int c = 0; c < channels; c++)
                {
                    var row0 = source.Slice(c * plane + y0 * width, width);
                    var row1 = source.Slice(c * plane + y1 * width, width);
                    var output = target.Slice(c * plane + y * width, width);
                    for (int x = 0; x < width; x++)
                    {
                        float above = row0[x0[x]] + wx[x] * (row0[x1[x]] - row0[x0[x]]);
                        float below = row1[x0[x]] + wx[x] * (row1[x1[x]] - row1[x0[x]]);
                        output[x] = (byte)(above + wy * (below - above) + 0.5f);
                    }
                }
            }
        }

        private static void Interpolation(double position, int size, out int lower, out int upper, out float weight)
        {
            position = Math.Clamp(position, 0, size - 1);
            lower = (int)position;
            upper = Math.Min(lower + 1, size - 1);
            weight = (float)(position - lower);
        }

        /// <summary>Pads by zeros and crops (a shift by dx, dy), optionally mirrored left-right, per channel plane.</summary>
        private static void ShiftAndFlip(ReadOnlySpan<byte> source, Span<byte> target, int channels, int height, int width, int dx, int dy, bool flip)
        {
            if (dx == 0 && dy == 0 && !flip)
            {
                source.CopyTo(target);
                return;
            }
            target.Clear();
            int plane = height * width;
            for (int c = 0; c < channels; c++)
            {
                for (int y = 0; y < height; y++)
                {
                    int sy = y + dy;
                    if (sy < 0 || sy >= height)
                        continue;
                    int rowTarget = c * plane + y * width;
                    int rowSource = c * plane + sy * width;
                    for (int x = 0; x < width; x++)
                    {
                        int sx = (flip ? width - 1 - x : x) + dx;
                        if (sx < 0 || sx >= width)
                            continue;
                        target[rowTarget + x] = source[rowSource + sx];
                    }
                }
            }
        }
    }
}
