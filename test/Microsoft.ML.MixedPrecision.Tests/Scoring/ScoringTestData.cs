using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;

namespace Microsoft.ML.MixedPrecision.Tests.Scoring
{
    /// <summary>Tiny images, a tiny linear ONNX classifier and its reference computation, for the scoring tests.</summary>
    internal sealed class ScoringTestData : IDisposable
    {
        public const int Width = 4, Height = 4, Channels = 3, Classes = 3;
        public static readonly string[] LabelOfClass = { "cat", "dog", "bird" };

        public string Folder { get; }
        public List<Sample> Samples { get; } = new List<Sample>();
        public float[] Weights { get; }   // [F, K]
        public float[] Bias { get; }      // [K]
        public int FeatureCount => Channels * Height * Width;

        public sealed class Sample
        {
            public string Path;
            public byte[] Bytes;
            public string Label;
            public float[] Pixels;    // planar CHW in [0, 1], what ExtractPixels must give
        }

        public ScoringTestData(int imageCount = 6, int seed = 7)
        {
            Folder = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mp-scoring-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Folder);
            var rnd = new Random(seed);
            for (int n = 0; n < imageCount; n++)
            {
                var rgba = new byte[Width * Height * 4];
                var pixels = new float[FeatureCount];
                for (int y = 0; y < Height; y++)
                    for (int x = 0; x < Width; x++)
                    {
                        int p = (y * Width + x) * 4;
                        for (int c = 0; c < 3; c++)
                        {
                            // The class's own channel is brighter, so the tiny model below separates the classes.
                            byte v = (byte)(c == n % Classes ? 128 + rnd.Next(128) : rnd.Next(128));
                            rgba[p + c] = v;
                            pixels[c * Height * Width + y * Width + x] = (v - 0f) * (1f / 255f);   // ExtractPixels: (v - offset) * scale
                        }
                        rgba[p + 3] = 255;
                    }
                string path = System.IO.Path.Combine(Folder, $"img{n}.png");
                using (var image = MLImage.CreateFromPixels(Width, Height, MLPixelFormat.Rgba32, rgba))
                    image.Save(path);
                Samples.Add(new Sample { Path = path, Bytes = File.ReadAllBytes(path), Label = LabelOfClass[n % Classes], Pixels = pixels });
            }
            Weights = Enumerable.Range(0, FeatureCount * Classes)
                .Select(i => (i / Classes / (Height * Width) == i % Classes ? 0.5f : -0.25f) + (float)(rnd.NextDouble() * 0.6 - 0.3)).ToArray();
            Bias = Enumerable.Range(0, Classes).Select(_ => (float)(rnd.NextDouble() * 0.2 - 0.1)).ToArray();
        }

        /// <summary>input [1,C,H,W] → Flatten → Gemm(W, b) → logits [1,K] → classification head.</summary>
        public byte[] ImageModel()
        {
            var g = new OnnxGraphBuilder("tiny_image_classifier");
            string input = g.AddInput("input", TensorProto.Types.DataType.Float, new long?[] { null, Channels, Height, Width }, new[] { "batch" });
            string flat = g.Add("Flatten", "flat", new[] { input }, OnnxGraphBuilder.Attr("axis", 1L));
            return Finish(g, flat);
        }

        /// <summary>input [1,F] → Gemm(W, b) → logits → head (the generic float-vector input).</summary>
        public byte[] VectorModel()
        {
            var g = new OnnxGraphBuilder("tiny_vector_classifier");
            string input = g.AddInput("features_in", TensorProto.Types.DataType.Float, new long?[] { 1, FeatureCount });
            return Finish(g, input);
        }

        private byte[] Finish(OnnxGraphBuilder g, string features)
        {
            string w = g.AddInitializer("W", Weights, FeatureCount, Classes);
            string b = g.AddInitializer("B", Bias, Classes);
            string logits = g.Add("Gemm", "logits", new[] { features, w, b });
            ClassificationHead.Append(g, logits, Classes);
            return g.ToBytes();
        }

        public float[] ReferenceProbabilities(float[] pixels)
        {
            var logits = new double[Classes];
            for (int k = 0; k < Classes; k++)
            {
                double s = Bias[k];
                for (int f = 0; f < FeatureCount; f++)
                    s += pixels[f] * Weights[f * Classes + k];
                logits[k] = s;
            }
            double max = logits.Max();
            double sum = logits.Sum(l => Math.Exp(l - max));
            return logits.Select(l => (float)(Math.Exp(l - max) / sum)).ToArray();
        }

        public static int ArgMax(float[] v)
        {
            int best = 0;
            for (int i = 1; i < v.Length; i++)
                if (v[i] > v[best])
                    best = i;
            return best;
        }

        public void Dispose()
        {
            try { Directory.Delete(Folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>A row as a user of the bytes path has it (Model Builder shape) plus an extra column to check pass-through.</summary>
    public sealed class BytesInput
    {
        public byte[] ImageSource;
        public string Label;
        public string Comment;
    }

    public sealed class PathInput
    {
        public string ImagePath;
        public string Label;
    }

    public sealed class VectorInput
    {
        public float[] Features;
        public string Label;
    }
}
