using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using Microsoft.ML.Data;

namespace FashionMnist
{
    /// <summary>
    /// Turns Debian's dataset-fashion-mnist IDX files into PNG files in a folder per class, the layout Model Builder
    /// users have: data/{train,test}/{class}/{index}.png.
    /// </summary>
    internal static class FashionMnistImages
    {
        public const string DatasetFolder = "/usr/share/datasets/fashion-mnist";

        public static readonly string[] ClassNames =
            { "T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };

        public sealed class ImageFile
        {
            public string ImagePath { get; set; }
            public string Label { get; set; }
        }

        /// <summary>Writes (once) and lists the PNG files of a split ("train" or "t10k").</summary>
        public static List<ImageFile> Prepare(string split, string outputFolder, int? limit = null)
        {
            var (images, labels, rows, cols) = ReadIdx(split, limit);
            int take = labels.Length;
            string folder = Path.Combine(outputFolder, split == "t10k" ? "test" : "train");
            var files = new List<ImageFile>(take);
            var rgba = new byte[rows * cols * 4];
            for (int i = 0; i < take; i++)
            {
                string label = ClassNames[labels[i]];
                string path = Path.Combine(folder, label, $"{i:D5}.png");
                if (!File.Exists(path))
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(path));
                    int offset = i * rows * cols;
                    for (int p = 0; p < rows * cols; p++)
                    {
                        byte v = images[offset + p];
                        rgba[p * 4] = v;
                        rgba[p * 4 + 1] = v;
                        rgba[p * 4 + 2] = v;
                        rgba[p * 4 + 3] = 255;
                    }
                    using var image = MLImage.CreateFromPixels(cols, rows, MLPixelFormat.Rgba32, rgba);
                    image.Save(path);
                }
                files.Add(new ImageFile { ImagePath = path, Label = label });
            }
            return files;
        }

        /// <summary>The raw IDX content of a split: 8-bit pixels (row-major, image after image) and class indices.</summary>
        public static (byte[] Pixels, byte[] Labels, int Rows, int Columns) ReadIdx(string split, int? limit = null)
        {
            string imagesFile = Path.Combine(DatasetFolder, $"{split}-images-idx3-ubyte.gz");
            string labelsFile = Path.Combine(DatasetFolder, $"{split}-labels-idx1-ubyte.gz");
            if (!File.Exists(imagesFile))
                throw new FileNotFoundException($"Fashion-MNIST is not installed: run 'apt-get install dataset-fashion-mnist' (./build.sh does it).", imagesFile);
            byte[] images = ReadGzip(imagesFile);
            byte[] labels = ReadGzip(labelsFile);
            int count = ReadInt(labels, 4);
            int rows = ReadInt(images, 8), cols = ReadInt(images, 12);
            int take = Math.Min(count, limit ?? count);
            return (images.AsSpan(16, take * rows * cols).ToArray(), labels.AsSpan(8, take).ToArray(), rows, cols);
        }

        private static byte[] ReadGzip(string path)
        {
            using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
            using var memory = new MemoryStream();
            gzip.CopyTo(memory);
            return memory.ToArray();
        }

        private static int ReadInt(byte[] data, int offset)
            => (data[offset] << 24) | (data[offset + 1] << 16) | (data[offset + 2] << 8) | data[offset + 3];
    }
}
