using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.ML.Data;

namespace Microsoft.ML.MixedPrecision.Tests.Vision
{
    /// <summary>
    /// Small labelled PNG images made in the test: horizontal stripes, vertical stripes, or a bright centre blob, with
    /// random phase, contrast and noise. Separable, but only by looking at spatial structure.
    /// </summary>
    internal sealed class SyntheticImages : IDisposable
    {
        public static readonly string[] ClassNames = { "horizontal", "vertical", "blob" };

        public sealed class Row
        {
            public byte[] ImageSource { get; set; }
            public string ImagePath { get; set; }
            public string Label { get; set; }
        }

        public SyntheticImages(int count, int size = 16, int seed = 1, bool color = false, int classes = 3)
        {
            Folder = Path.Combine(Path.GetTempPath(), "mp-images-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Folder);
            var random = new Random(seed);
            for (int i = 0; i < count; i++)
            {
                int label = i % classes;
                var rgba = Draw(label, size, random, color);
                string path = Path.Combine(Folder, $"{ClassNames[label]}_{i}.png");
                using (var image = MLImage.CreateFromPixels(size, size, MLPixelFormat.Rgba32, rgba))
                    image.Save(path);
                Rows.Add(new Row { ImageSource = File.ReadAllBytes(path), ImagePath = path, Label = ClassNames[label] });
            }
        }

        public string Folder { get; }
        public List<Row> Rows { get; } = new List<Row>();

        private static byte[] Draw(int label, int size, Random random, bool color)
        {
            var rgba = new byte[size * size * 4];
            int period = 4;
            int phase = random.Next(period);
            int contrast = 120 + random.Next(100);
            for (int y = 0; y < size; y++)
            {
                for (int x = 0; x < size; x++)
                {
                    double v = label switch
                    {
                        0 => ((y + phase) % period) < period / 2 ? 1 : 0,
                        1 => ((x + phase) % period) < period / 2 ? 1 : 0,
                        _ => Math.Exp(-((x - size / 2.0) * (x - size / 2.0) + (y - size / 2.0) * (y - size / 2.0)) / (size * size / 10.0)),
                    };
                    int value = Math.Clamp((int)(20 + v * contrast + random.Next(-15, 16)), 0, 255);
                    int p = (y * size + x) * 4;
                    rgba[p] = (byte)value;
                    rgba[p + 1] = (byte)(color ? 255 - value : value);
                    rgba[p + 2] = (byte)(color ? value / 2 : value);
                    rgba[p + 3] = 255;
                }
            }
            return rgba;
        }

        public void Dispose()
        {
            try
            {
                Directory.Delete(Folder, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
