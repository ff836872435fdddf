using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using FashionMnist;
using Microsoft.ML.Data;

namespace SmallImages
{
    /// <summary>One image file of a set, the row the two ML.NET pipelines read.</summary>
    internal sealed class ImageFile
    {
        public string ImagePath { get; set; }
        public string Label { get; set; }
    }

    /// <summary>A small labelled image set, materialized as data/&lt;set&gt;/{train,test}/&lt;label&gt;/&lt;name&gt;.png.</summary>
    internal sealed class ImageSet
    {
        public string Name { get; init; }
        public string Description { get; init; }
        public List<ImageFile> Train { get; init; }
        public List<ImageFile> Test { get; init; }
        public int ClassCount => Train.Select(f => f.Label).Distinct().Count();
        /// <summary>Side of the (square) images in pixels.</summary>
        public int ImageSize { get; init; }
    }

    /// <summary>
    /// The two real image sets built from Debian packages (build/prereqs.sh --image-datasets installs them):
    /// <list type="bullet">
    /// <item><c>fashion100</c>: Fashion-MNIST (dataset-fashion-mnist), 28x28 grayscale, 10 balanced classes;
    /// 100 training images per class drawn from the 60,000 training images, 100 test images per class from the 10,000
    /// test images.</item>
    /// <item><c>tuxstamps</c>: Tux Paint's stamps (tuxpaint-stamps-default): photos and drawings of things in 7 of its
    /// categories, imbalanced (40 to 154 per class); each picture flattened on white, letterboxed (aspect kept) to
    /// 128x128 with rsvg-convert; 25 % of each class (rounded) is the test set.</item>
    /// </list>
    /// Both splits are drawn with <see cref="SplitSeed"/>, not the training seed, so every run sees the same data.
    /// Files are written once and rewritten when missing or when the set's definition changes.
    /// </summary>
    internal static class ImageSets
    {
        public const int SplitSeed = 20261201;
        public static readonly string[] Names = { "fashion100", "tuxstamps" };

        public static ImageSet Load(string name, string dataRoot) => name switch
        {
            "fashion100" => Fashion100(Path.Combine(dataRoot, name)),
            "tuxstamps" => TuxStamps(Path.Combine(dataRoot, name)),
            _ => throw new ArgumentException($"unknown set '{name}' ({string.Join(", ", Names)})"),
        };

        // ---- Fashion-MNIST, 100 per class -------------------------------------------------------------------------

        private const int FashionPerClass = 100;

        private static ImageSet Fashion100(string folder)
        {
            PrepareFolder(folder, $"fashion100 v1: {FashionPerClass} train + {FashionPerClass} t10k per class, seed {SplitSeed}, 28x28 gray as RGBA PNG");
            var (trainPixels, trainLabels, rows, cols) = FashionMnistImages.ReadIdx("train");
            var (testPixels, testLabels, _, _) = FashionMnistImages.ReadIdx("t10k");
            var rng = new Random(SplitSeed);
            var train = WriteFashion(Path.Combine(folder, "train"), trainPixels, PickPerClass(trainLabels, FashionPerClass, rng), trainLabels, rows, cols);
            var test = WriteFashion(Path.Combine(folder, "test"), testPixels, PickPerClass(testLabels, FashionPerClass, rng), testLabels, rows, cols);
            Shuffle(train, rng);
            return new ImageSet
            {
                Name = "fashion100",
                ImageSize = Math.Max(rows, cols),
                Description = $"Fashion-MNIST (dataset-fashion-mnist), {rows}x{cols} gray, {FashionPerClass} train per class from 'train', {FashionPerClass} test per class from 't10k'",
                Train = train,
                Test = test,
            };
        }

        /// <summary>Indices of <paramref name="perClass"/> random examples of each class, by class then index.</summary>
        private static List<int> PickPerClass(byte[] labels, int perClass, Random rng)
        {
            var picked = new List<int>();
            foreach (var group in Enumerable.Range(0, labels.Length).GroupBy(i => labels[i]).OrderBy(g => g.Key))
            {
                var indices = group.ToList();
                Shuffle(indices, rng);
                picked.AddRange(indices.Take(perClass).OrderBy(i => i));
            }
            return picked;
        }

        private static List<ImageFile> WriteFashion(string folder, byte[] pixels, List<int> indices, byte[] labels, int rows, int cols)
        {
            var files = new List<ImageFile>(indices.Count);
            var rgba = new byte[rows * cols * 4];
            foreach (int i in indices)
            {
                string label = FashionMnistImages.ClassNames[labels[i]];
                string path = Path.Combine(folder, label, $"{i:D5}.png");
                if (!File.Exists(path))
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(path));
                    int offset = i * rows * cols;
                    for (int p = 0; p < rows * cols; p++)
                    {
                        byte v = pixels[offset + p];
                        rgba[p * 4] = rgba[p * 4 + 1] = rgba[p * 4 + 2] = v;
                        rgba[p * 4 + 3] = 255;
                    }
                    using var image = MLImage.CreateFromPixels(cols, rows, MLPixelFormat.Rgba32, rgba);
                    image.Save(path);
                }
                files.Add(new ImageFile { ImagePath = path, Label = label });
            }
            return files;
        }

        // ---- Tux Paint stamps, 7 categories -----------------------------------------------------------------------

        private const string StampsFolder = "/usr/share/tuxpaint/stamps";
        private const int StampSize = 128;

        /// <summary>Tux Paint's top-level stamp folders used as classes: concrete things, not symbols or seasons.</summary>
        private static readonly string[] StampClasses = { "animals", "clothes", "food", "household", "plants", "town", "vehicles" };

        private static ImageSet TuxStamps(string folder)
        {
            if (!Directory.Exists(StampsFolder))
                throw new DirectoryNotFoundException($"Tux Paint's stamps are not installed ({StampsFolder}): run 'build/prereqs.sh --image-datasets'.");
            PrepareFolder(folder, $"tuxstamps v1: {string.Join(",", StampClasses)}; png over svg, no _mirror/_flip; {StampSize}px on white; test (n+2)/4; seed {SplitSeed}");
            var rng = new Random(SplitSeed);
            var train = new List<ImageFile>();
            var test = new List<ImageFile>();
            foreach (string label in StampClasses)
            {
                var sources = StampSources(Path.Combine(StampsFolder, label));
                Shuffle(sources, rng);
                int testCount = (sources.Count + 2) / 4;
                for (int i = 0; i < sources.Count; i++)
                {
                    string source = sources[i];
                    string name = Path.ChangeExtension(Path.GetRelativePath(Path.Combine(StampsFolder, label), source), null)
                        .Replace(Path.DirectorySeparatorChar, '_') + ".png";
                    string path = Path.Combine(folder, i < testCount ? "test" : "train", label, name);
                    if (!File.Exists(path))
                        RenderStamp(source, path);
                    (i < testCount ? test : train).Add(new ImageFile { ImagePath = path, Label = label });
                }
            }
            Shuffle(train, rng);
            return new ImageSet
            {
                Name = "tuxstamps",
                ImageSize = StampSize,
                Description = $"Tux Paint stamps (tuxpaint-stamps-default), {StampClasses.Length} categories, {StampSize}x{StampSize} RGB letterboxed on white, stratified 75/25",
                Train = train,
                Test = test,
            };
        }

        /// <summary>
        /// One file per stamp, sorted: Tux Paint ships many stamps both as SVG and as a PNG rendering of it (the PNG is
        /// taken), and some with a pre-mirrored or pre-flipped copy (left out: it is the same picture).
        /// </summary>
        private static List<string> StampSources(string classFolder)
        {
            return Directory.EnumerateFiles(classFolder, "*.*", SearchOption.AllDirectories)
                .Where(f => f.EndsWith(".png", StringComparison.Ordinal) || f.EndsWith(".svg", StringComparison.Ordinal))
                .Where(f => !Path.GetFileName(f).Contains("_mirror.", StringComparison.Ordinal) && !Path.GetFileName(f).Contains("_flip.", StringComparison.Ordinal))
                .GroupBy(f => Path.ChangeExtension(f, null), StringComparer.Ordinal)
                .Select(g => g.FirstOrDefault(f => f.EndsWith(".png", StringComparison.Ordinal)) ?? g.First())
                .OrderBy(f => f, StringComparer.Ordinal)
                .ToList();
        }

        /// <summary>
        /// Renders a PNG or SVG stamp with rsvg-convert: flattened on white (stamps are transparent cut-outs, and a
        /// transparent pixel's color is arbitrary to LoadImages), scaled with its aspect kept and centred in a square.
        /// </summary>
        private static void RenderStamp(string source, string path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path));
            string mime = source.EndsWith(".svg", StringComparison.Ordinal) ? "image/svg+xml" : "image/png";
            string wrapper =
                $"<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"{StampSize}\" height=\"{StampSize}\" viewBox=\"0 0 {StampSize} {StampSize}\">" +
                $"<rect width=\"{StampSize}\" height=\"{StampSize}\" fill=\"#ffffff\"/>" +
                $"<image x=\"0\" y=\"0\" width=\"{StampSize}\" height=\"{StampSize}\" preserveAspectRatio=\"xMidYMid meet\" " +
                $"xlink:href=\"data:{mime};base64,{Convert.ToBase64String(File.ReadAllBytes(source))}\"/></svg>";
            var start = new ProcessStartInfo("rsvg-convert")
            {
                RedirectStandardInput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add("--format=png");
            start.ArgumentList.Add("--output=" + path + ".tmp");
            Process process;
            try
            {
                process = Process.Start(start);
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new InvalidOperationException("rsvg-convert is not installed: run 'build/prereqs.sh --image-datasets'.", e);
            }
            using (process)
            {
                process.StandardInput.Write(wrapper);
                process.StandardInput.Close();
                string errors = process.StandardError.ReadToEnd();
                process.WaitForExit();
                if (process.ExitCode != 0 || !File.Exists(path + ".tmp"))
                    throw new InvalidOperationException($"rsvg-convert could not render {source}: {errors.Trim()}");
            }
            File.Move(path + ".tmp", path, overwrite: true);
        }

        // ---- shared -----------------------------------------------------------------------------------------------

        /// <summary>Makes the set's folder; empties it first when it was written for another definition of the set.</summary>
        private static void PrepareFolder(string folder, string definition)
        {
            string marker = Path.Combine(folder, "definition.txt");
            if (Directory.Exists(folder) && (!File.Exists(marker) || File.ReadAllText(marker, Encoding.UTF8) != definition))
                Directory.Delete(folder, recursive: true);
            Directory.CreateDirectory(folder);
            File.WriteAllText(marker, definition, Encoding.UTF8);
        }

        /// <summary>Fisher-Yates with a seeded <see cref="Random"/> (whose sequence for a given seed .NET keeps stable).</summary>
        private static void Shuffle<T>(List<T> items, Random rng)
        {
            for (int i = items.Count - 1; i > 0; i--)
            {
                int j = rng.Next(i + 1);
                (items[i], items[j]) = (items[j], items[i]);
            }
        }
    }
}
