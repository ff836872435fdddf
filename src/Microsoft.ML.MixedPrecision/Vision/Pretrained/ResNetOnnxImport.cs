using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Vision.Pretrained
{
    /// <summary>A pretrained ResNet read from ONNX, with a new head, and what the import found.</summary>
    internal sealed record ImportedResNet(ResNet Model, IReadOnlyList<BatchNorm2d> FoldedNorms, ImageInputConvention Convention, string ConventionSource,
        string Producer, IReadOnlyList<string> DroppedHead)
    {
        /// <summary>For the log: family, blocks per stage, widths, parameters, BatchNorm, input convention, dropped head.</summary>
        public string Describe()
        {
            long parameters = Model.BackboneParameters().Sum(p => p.numel());
            string norms = FoldedNorms.Count == 0 ? "BatchNorm kept"
                : $"BatchNorm folded into {FoldedNorms.Count} convolutions (re-created as identities)";
            string head = DroppedHead.Count == 0 ? "no head" : $"its head ({string.Join(", ", DroppedHead)}) dropped";
            return $"ResNet from {Producer}: {Model.Layout.Describe()}, {parameters / 1e6:F2} M parameters; {norms}; {head}; input {Convention} ({ConventionSource})";
        }
    }

    /// <summary>
    /// Reads a ResNet-family backbone from an ONNX file (<see cref="ResNetGraph"/>), builds our <see cref="ResNet"/> of that
    /// layout with a new head for <c>numClasses</c>, and copies the weights: a convolution with its BatchNorm as they are;
    /// a conv bias into the BatchNorm's mean; a convolution whose BatchNorm the export folded in (torch.onnx.export in eval
    /// mode) with a BatchNorm that is an exact identity plus the bias (statistics 0 and 1: <see cref="BatchNormCalibration"/>
    /// later gives it the data's). The input convention is folded into the network's input normalization, so the model
    /// takes R, G, B in [0, 1] as every network of this library.
    /// </summary>
    internal static class ResNetOnnxImport
    {
        /// <summary>Metadata keys read from the ONNX file: ONNX's own image metadata and this library's mean and std.</summary>
        internal const string PixelFormatKey = "Image.BitmapPixelFormat", PixelRangeKey = "Image.NominalPixelRange", MeanKey = "Image.Mean", StdKey = "Image.Std";

        public static ImportedResNet Load(string path, int numClasses, ImageInputConvention? convention, string fix)
        {
            ModelProto file = OnnxModelFile.Read(path, fix);
            var graph = ResNetGraph.Read(file, path, fix);
            if (graph.Layout.Stem.InputChannels != 3)
                throw graph.Mismatch(graph.Units[0].Conv, $"reads {graph.Layout.Stem.InputChannels} channels; the pretrained network must read color (3)");
            var (chosen, source) = convention != null ? (convention, "ImageClassificationTrainer.Options.PretrainedInputConvention")
                : FromMetadata(file, path, fix) is { } fromFile ? (fromFile, "the file's metadata_props")
                : file.ProducerName.StartsWith("CNTK", StringComparison.Ordinal) ? (ImageInputConvention.Cntk, "CNTK's, the file's producer")
                : (ImageInputConvention.TorchVision, "torchvision's, assumed: set PretrainedInputConvention if the network was trained otherwise");
            var model = new ResNet(graph.Layout, numClasses, ResNetArchitecture.PretrainedResNet18);
            try
            {
                var folded = CopyWeights(model, graph);
                FoldConvention(model, chosen);
                string producer = file.ProducerName.Length == 0 ? "an unnamed producer" : $"{file.ProducerName} {file.ProducerVersion}".Trim();
                return new ImportedResNet(model, folded, chosen, source, producer, graph.DroppedHead);
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }

        /// <summary>Copies every convolution and BatchNorm; returns the BatchNorms re-created for folded convolutions.</summary>
        private static List<BatchNorm2d> CopyWeights(ResNet model, ResNetGraph graph)
        {
            var targets = model.state_dict();
            var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
            var folded = new List<BatchNorm2d>();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            foreach (var unit in graph.Units)
            {
                Copy(graph, unit.Conv, unit.Conv.Input[1], targets[unit.Key + ".weight"], $"{unit.Key}.weight");
                var norm = (BatchNorm2d)modules[unit.NormKey];
                long channels = norm.num_features;
                var bias = new float[channels];
                if (unit.Conv.Input.Count == 3)
                    bias = Values(graph, unit.Conv, unit.Conv.Input[2], channels, "bias");
                if (unit.Norm is { } node)
                    CopyNorm(graph, node, norm, bias);
                else
                {
                    // Exact identity plus the bias in inference mode: γ·(x − 0)/√(1 + ε) + b.
                    Set(norm.weight!, Enumerable.Repeat((float)Math.Sqrt(1 + norm.eps), (int)channels).ToArray());
                    Set(norm.bias!, bias);
                    Set(norm.running_mean!, new float[channels]);
                    Set(norm.running_var!, Enumerable.Repeat(1f, (int)channels).ToArray());
                    folded.Add(norm);
                }
            }
            return folded;
        }

        /// <summary>A BatchNormalization after a conv with bias b: BN(Wx + b) has mean μ − b on Wx; another ε moves into the variance.</summary>
        private static void CopyNorm(ResNetGraph graph, NodeProto node, BatchNorm2d norm, float[] convBias)
        {
            long c = norm.num_features;
            float epsilon = node.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f;
            float[] variance = Values(graph, node, node.Input[4], c, "variance").Select(v => v + epsilon - (float)norm.eps).ToArray();
            if (variance.Any(v => !(v > 0)))
                throw graph.Mismatch(node, $"has epsilon {epsilon} and a variance too small to express with ours ({norm.eps})");
            Set(norm.weight!, Values(graph, node, node.Input[1], c, "scale"));
            Set(norm.bias!, Values(graph, node, node.Input[2], c, "bias"));
            Set(norm.running_mean!, Values(graph, node, node.Input[3], c, "mean").Zip(convBias, (m, b) => m - b).ToArray());
            Set(norm.running_var!, variance);
        }

        private static void Copy(ResNetGraph graph, NodeProto node, string name, Tensor target, string key)
        {
            var source = graph.Initializer(name)!;
            if (!source.Dims.SequenceEqual(target.shape))
                throw graph.Mismatch(node, $"has {key} of shape [{string.Join(", ", source.Dims)}], expected [{string.Join(", ", target.shape)}]");
            target.copy_(tensor(Floats(graph, node, source), target.shape));
        }

        private static float[] Values(ResNetGraph graph, NodeProto node, string name, long count, string what)
        {
            var source = graph.Initializer(name)!;
            float[] values = Floats(graph, node, source);
            if (values.Length != count)
                throw graph.Mismatch(node, $"has a {what} of {values.Length} values, expected {count}");
            return values;
        }

        private static float[] Floats(ResNetGraph graph, NodeProto node, TensorProto source)
        {
            if (source.DataType != (int)TensorProto.Types.DataType.Float)
                throw graph.Mismatch(node, $"has initializer '{source.Name}' of type {(TensorProto.Types.DataType)source.DataType}; expected float32");
            return OnnxTensorData.Floats(source);
        }

        private static void Set(Tensor target, float[] values) => target.copy_(tensor(values));

        /// <summary>BGR: flip the first convolution's input channels; the means and stds go into the input normalization.</summary>
        private static void FoldConvention(ResNet model, ImageInputConvention convention)
        {
            if (convention.Bgr)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var conv1 = model.state_dict()["conv1.weight"];
                conv1.copy_(conv1.index_select(1, tensor(new long[] { 2, 1, 0 })));
            }
            var (mean, std) = convention.OnRgbUnitPixels();
            model.SetInputNormalization(mean, std);
        }

        /// <summary>The convention the file's metadata_props state, or null when they state none.</summary>
        internal static ImageInputConvention? FromMetadata(ModelProto file, string path, string fix)
        {
            var props = file.MetadataProps.GroupBy(p => p.Key, StringComparer.OrdinalIgnoreCase)
                .ToDictionary(g => g.Key, g => g.Last().Value.Trim(), StringComparer.OrdinalIgnoreCase);
            if (!new[] { PixelFormatKey, PixelRangeKey, MeanKey, StdKey }.Any(props.ContainsKey))
                return null;
            Exception Bad(string key, string expected) => new InvalidDataException(
                $"'{path}' states metadata {key} = '{props[key]}'; expected {expected}. Fix the file's metadata_props, or set " +
                $"ImageClassificationTrainer.Options.PretrainedInputConvention. {fix}");
            bool bgr = !props.TryGetValue(PixelFormatKey, out var format) || format.Equals("Rgb8", StringComparison.OrdinalIgnoreCase) ? false
                : format.Equals("Bgr8", StringComparison.OrdinalIgnoreCase) ? true : throw Bad(PixelFormatKey, "Rgb8 or Bgr8");
            string range = props.TryGetValue(PixelRangeKey, out var r) ? r : "Normalized_0_1";
            (float scale, float mean, float std) = range.ToLowerInvariant() switch
            {
                "normalized_0_1" => (1f, 0f, 1f),
                "normalized_1_1" => (1f, 0.5f, 0.5f),
                "nominalrange_0_255" => (255f, 0f, 1f),
                _ => throw Bad(PixelRangeKey, "Normalized_0_1, Normalized_1_1 or NominalRange_0_255"),
            };
            float[] means = props.ContainsKey(MeanKey) ? Numbers(props[MeanKey]) ?? throw Bad(MeanKey, "1 or 3 numbers separated by commas") : new[] { mean };
            float[] stds = props.ContainsKey(StdKey) ? Numbers(props[StdKey]) ?? throw Bad(StdKey, "1 or 3 positive numbers separated by commas") : new[] { std };
            try
            {
                return new ImageInputConvention(bgr, scale, means, stds);
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"'{path}' states an input convention that is not valid ({e.Message}). {fix}", e);
            }
        }

        private static float[]? Numbers(string text)
        {
            var parts = text.Split(new[] { ',', ' ', ';' }, StringSplitOptions.RemoveEmptyEntries);
            var values = new float[parts.Length];
            for (int i = 0; i < parts.Length; i++)
            {
                if (!float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
                    return null;
            }
            return values.Length is 1 or 3 ? values : null;
        }
    }
}
