using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Onnx
{
    /// <summary>Builds randomized networks and runs them in TorchSharp and in ONNX Runtime for parity checks.</summary>
    internal static class ResNetTestSupport
    {
        public const string InputName = "Pixels";

        /// <summary>A network with random weights AND random BatchNorm/normalization statistics, in eval mode.</summary>
        public static ResNet CreateRandomized(int channels, int classes, ResNetArchitecture architecture, long seed)
        {
            torch.manual_seed(seed);
            var model = new ResNet(channels, classes, architecture);
            RandomizeStatistics(model, seed);
            model.eval();
            return model;
        }

        /// <summary>Non-trivial BN gamma/beta/running stats and input normalization, so the export of each is exercised.</summary>
        public static void RandomizeStatistics(ResNet model, long seed)
        {
            var rng = new Random((int)seed);
            using (torch.no_grad())
            {
                foreach (BatchNorm2d bn in model.modules().OfType<BatchNorm2d>())
                {
                    bn.weight.uniform_(0.6, 1.4);
                    bn.bias.uniform_(-0.2, 0.2);
                    bn.running_mean.uniform_(-0.3, 0.3);
                    bn.running_var.uniform_(0.5, 1.5);
                }
            }
            float[] mean = Enumerable.Range(0, model.InputChannels).Select(_ => 0.3f + 0.4f * (float)rng.NextDouble()).ToArray();
            float[] std = Enumerable.Range(0, model.InputChannels).Select(_ => 0.2f + 0.2f * (float)rng.NextDouble()).ToArray();
            model.SetInputNormalization(mean, std);
        }

        public static float[] RandomPixels(long seed, long[] shape)
        {
            torch.manual_seed(seed);
            using Tensor t = torch.rand(shape);
            return t.data<float>().ToArray();
        }

        /// <summary>TorchSharp FP32 eval-mode logits.</summary>
        public static float[] TorchLogits(ResNet model, float[] pixels, long[] shape)
        {
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            Tensor x = torch.tensor(pixels, shape);
            return model.forward(x).to(ScalarType.Float32).contiguous().data<float>().ToArray();
        }

        /// <summary>Builds the graph with the logits declared as output named "logits".</summary>
        public static byte[] ExportLogits(ResNet model, int channels, int size, bool symbolicBatch)
        {
            OnnxGraphBuilder graph = ImageClassifierOnnx.Build(model, channels, size, size, InputName, out string logits, symbolicBatch);
            string output = graph.AddNode("Identity", new[] { logits }, new[] { "logits" }, exactOutputNames: true)[0];
            graph.AddOutput(output, Microsoft.ML.MixedPrecision.Export.Proto.TensorProto.Types.DataType.Float,
                new long?[] { symbolicBatch ? null : 1L, model.NumClasses }, symbolicBatch ? new[] { ImageClassifierOnnx.BatchDimName } : null);
            return graph.ToBytes();
        }

        /// <summary>Runs the ONNX model in ONNX Runtime and returns one output's values.</summary>
        public static float[] RunOnnx(byte[] model, float[] pixels, long[] shape, string outputName)
        {
            using var options = new SessionOptions { IntraOpNumThreads = 2 };
            using var session = new InferenceSession(model, options);
            using OrtValue input = OrtValue.CreateTensorValueFromMemory(pixels, shape);
            using var runOptions = new RunOptions();
            using IDisposableReadOnlyCollection<OrtValue> outputs =
                session.Run(runOptions, new[] { InputName }, new[] { input }, new[] { outputName });
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }

        public static float MaxAbsDiff(IReadOnlyList<float> a, IReadOnlyList<float> b)
        {
            if (a.Count != b.Count)
                throw new ArgumentException($"Length mismatch: {a.Count} vs {b.Count}.");
            float max = 0f;
            for (int i = 0; i < a.Count; i++)
                max = Math.Max(max, Math.Abs(a[i] - b[i]));
            return max;
        }
    }
}
