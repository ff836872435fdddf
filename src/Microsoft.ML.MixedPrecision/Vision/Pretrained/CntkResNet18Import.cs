using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Google.Protobuf;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Vision.Pretrained
{
    /// <summary>
    /// Reads CNTK's ImageNet ResNet18 (the ONNX file of Microsoft.ML.DnnImageFeaturizer.ResNet18) into a
    /// <see cref="ResNet"/> of layout <see cref="ResNetArchitecture.PretrainedResNet18"/>. The initializer names are
    /// opaque, so layers are matched by walking the graph from its input: stem conv → BN → ReLU → max pool, then each
    /// basic block (a block whose input feeds two convolutions has a 1×1 projection shortcut), up to the average pool.
    /// The network's input convention (B, G, R in 0–255 minus the per-channel ImageNet mean) is folded in, so the
    /// imported network takes the same R, G, B pixels in [0, 1] as every other network of this library.
    /// </summary>
    internal static class CntkResNet18Import
    {
        // Per-channel means (R, G, B, in 0–255) of the package's mean image (ResNetPreprocess.onnx, MeanImage [1, 3, 224, 224]).
        internal static readonly float[] ChannelMeans = { 123.15f, 115.90f, 103.06f };

        public static void Load(ResNet model, string path)
        {
            if (model.Architecture != ResNetArchitecture.PretrainedResNet18 || model.InputChannels != 3)
                throw new ArgumentException("The pretrained weights fit a 3-channel PretrainedResNet18.", nameof(model));
            var graph = new Walker(Read(path), path);
            var targets = model.state_dict();
            var assigned = new HashSet<string>();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();

            string x = graph.Input;
            var stem = graph.Next(x, "Conv");
            graph.CopyConv(stem, "conv1", targets, assigned, kernel: 7, stride: 2);
            x = graph.Next(graph.CopyBatchNorm(graph.Next(stem.Output[0], "BatchNormalization"), "bn1", targets, assigned), "Relu").Output[0];
            x = graph.Next(x, "MaxPool").Output[0];

            for (int b = 0; targets.ContainsKey($"blocks.{b}.conv1.weight"); b++)
            {
                string prefix = $"blocks.{b}.";
                bool projection = targets.ContainsKey(prefix + "downsample.0.weight");
                var convs = graph.Consumers(x, "Conv");
                if (convs.Count != (projection ? 2 : 1))
                    throw graph.Mismatch($"block {b + 1} should start with {(projection ? 2 : 1)} convolution(s) of '{x}', found {convs.Count}");
                var main = convs.Single(n => graph.Kernel(n) == 3);
                string shortcut = x;
                if (projection)
                {
                    var down = convs.Single(n => graph.Kernel(n) == 1);
                    graph.CopyConv(down, prefix + "downsample.0", targets, assigned, kernel: 1, stride: 2);
                    shortcut = graph.CopyBatchNorm(graph.Next(down.Output[0], "BatchNormalization"), prefix + "downsample.1", targets, assigned);
                }
                graph.CopyConv(main, prefix + "conv1", targets, assigned, kernel: 3, stride: projection ? 2 : 1);
                string y = graph.CopyBatchNorm(graph.Next(main.Output[0], "BatchNormalization"), prefix + "bn1", targets, assigned);
                var second = graph.Next(graph.Next(y, "Relu").Output[0], "Conv");
                graph.CopyConv(second, prefix + "conv2", targets, assigned, kernel: 3, stride: 1);
                y = graph.CopyBatchNorm(graph.Next(second.Output[0], "BatchNormalization"), prefix + "bn2", targets, assigned);
                var add = graph.Next(y, "Add");
                if (!add.Input.Contains(shortcut))
                    throw graph.Mismatch($"block {b + 1}'s residual add does not take its shortcut '{shortcut}'");
                x = graph.Next(add.Output[0], "Relu").Output[0];
            }
            var pool = graph.Next(x, "AveragePool");
            if (!graph.Outputs.Contains(pool.Output[0]))
                throw graph.Mismatch($"the average pool after the last block is not the graph's output");

            var missing = targets.Keys.Where(k => !k.StartsWith("fc.") && !k.StartsWith("normalize.") && !k.EndsWith("num_batches_tracked") && !assigned.Contains(k)).ToList();
            if (missing.Count > 0)
                throw graph.Mismatch($"no weights found for {string.Join(", ", missing.Take(4))}");

            // CNTK's network reads B, G, R: reversing conv1's input channels makes it read R, G, B.
            var conv1 = targets["conv1.weight"];
            conv1.copy_(conv1.index_select(1, tensor(new long[] { 2, 1, 0 })));
            // (255·x − mean) = (x − mean/255) / (1/255): the input normalization does the rest.
            model.SetInputNormalization(ChannelMeans.Select(m => m / 255f).ToArray(), new[] { 1f / 255f });
        }

        private static ModelProto Read(string path)
        {
            if (!File.Exists(path))
                throw new FileNotFoundException($"The pretrained ResNet18 weights '{path}' do not exist. {PretrainedResNet18File.Fix}", path);
            try
            {
                using var stream = File.OpenRead(path);
                var model = ModelProto.Parser.ParseFrom(stream);
                if (model.Graph == null || model.Graph.Node.Count == 0)
                    throw new InvalidDataException("the file holds no ONNX graph");
                return model;
            }
            catch (Exception e) when (e is InvalidProtocolBufferException || e is InvalidDataException)
            {
                throw new InvalidDataException(
                    $"'{path}' is not a readable ONNX model ({e.Message}); the file may be truncated or damaged. {PretrainedResNet18File.Fix}", e);
            }
        }

        /// <summary>The graph as value → consumers, and the copying of matched layers' initializers.</summary>
        private sealed class Walker
        {
            private readonly string _path;
            private readonly Dictionary<string, TensorProto> _initializers;
            private readonly ILookup<string, NodeProto> _consumers;

            public Walker(ModelProto model, string path)
            {
                _path = path;
                var graph = model.Graph;
                _initializers = graph.Initializer.GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.First());
                _consumers = graph.Node.SelectMany(n => n.Input.Select(i => (Input: i, Node: n))).ToLookup(p => p.Input, p => p.Node);
                var inputs = graph.Input.Select(i => i.Name).Where(n => !_initializers.ContainsKey(n)).ToList();
                if (inputs.Count != 1)
                    throw Mismatch($"it has {inputs.Count} inputs, expected one image input");
                Input = inputs[0];
                Outputs = graph.Output.Select(o => o.Name).ToHashSet();
            }

            public string Input { get; }
            public HashSet<string> Outputs { get; }

            public List<NodeProto> Consumers(string value, string opType) => _consumers[value].Where(n => n.OpType == opType).ToList();

            public NodeProto Next(string value, string opType)
            {
                var nodes = Consumers(value, opType);
                if (nodes.Count != 1)
                    throw Mismatch($"expected one {opType} after '{value}', found {nodes.Count}");
                return nodes[0];
            }

            public long Kernel(NodeProto conv) => Ints(conv, "kernel_shape").FirstOrDefault();

            public void CopyConv(NodeProto conv, string key, IDictionary<string, Tensor> targets, HashSet<string> assigned, int kernel, int stride)
            {
                if (Kernel(conv) != kernel || Ints(conv, "strides").FirstOrDefault() != stride || conv.Input.Count != 2)
                    throw Mismatch($"convolution '{conv.Output[0]}' for {key} is not {kernel}×{kernel} stride {stride} without bias");
                Copy(conv.Input[1], key + ".weight", targets, assigned);
            }

            /// <summary>Copies a BatchNormalization (scale, shift, running mean, running variance); returns its output.</summary>
            public string CopyBatchNorm(NodeProto norm, string key, IDictionary<string, Tensor> targets, HashSet<string> assigned)
            {
                var epsilon = norm.Attribute.FirstOrDefault(a => a.Name == "epsilon");
                if (norm.Input.Count != 5 || (epsilon != null && Math.Abs(epsilon.F - 1e-5f) > 1e-7f))
                    throw Mismatch($"batch normalization '{norm.Output[0]}' for {key} is not the expected one (epsilon 1e-5, four statistics)");
                Copy(norm.Input[1], key + ".weight", targets, assigned);
                Copy(norm.Input[2], key + ".bias", targets, assigned);
                Copy(norm.Input[3], key + ".running_mean", targets, assigned);
                Copy(norm.Input[4], key + ".running_var", targets, assigned);
                return norm.Output[0];
            }

            public Exception Mismatch(string what) => new InvalidDataException(
                $"'{_path}' is not CNTK's ImageNet ResNet18 of {PretrainedResNet18File.PackageId} {PretrainedResNet18File.PackageVersion}: {what}. " +
                PretrainedResNet18File.Fix);

            private void Copy(string initializer, string key, IDictionary<string, Tensor> targets, HashSet<string> assigned)
            {
                if (!_initializers.TryGetValue(initializer, out var source))
                    throw Mismatch($"'{initializer}' ({key}) is not an initializer");
                var target = targets[key];
                if (!source.Dims.SequenceEqual(target.shape))
                    throw Mismatch($"{key} has shape [{string.Join(", ", source.Dims)}], expected [{string.Join(", ", target.shape)}]");
                if (source.DataType != (int)TensorProto.Types.DataType.Float)
                    throw Mismatch($"{key} is not float32");
                float[] values = OnnxTensorData.Floats(source);
                if (values.Length != target.numel())
                    throw Mismatch($"{key} holds {values.Length} values, expected {target.numel()}");
                target.copy_(tensor(values, target.shape));
                assigned.Add(key);
            }

            private static IReadOnlyList<long> Ints(NodeProto node, string name)
                => (IReadOnlyList<long>?)node.Attribute.FirstOrDefault(a => a.Name == name)?.Ints ?? Array.Empty<long>();
        }
    }
}
