using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Google.Protobuf;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>
    /// Reads all-MiniLM-L6-v2's weights out of the package's ONNX graph into a <see cref="BertClassifier"/> of shape
    /// <see cref="BertShape.MiniLmL6"/>. Embeddings, biases and LayerNorms keep their BERT names in the export; the 36
    /// matmul weights are anonymous, so each is found by following its layer's bias back to the MatMul that feeds the
    /// bias Add. ONNX stores them [in, out]: transposed into Linear's [out, in]. The query, key and value projections go
    /// into the attention's one fused projection.
    /// </summary>
    internal static class MiniLmImport
    {
        public static void Load(BertClassifier model, MiniLmPackage package)
        {
            var graph = new Graph(Parse(package), package.Path);
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();

            graph.Copy("embeddings.word_embeddings.weight", model.WordEmbeddings.weight);
            graph.Copy("embeddings.position_embeddings.weight", model.PositionEmbeddings.weight);
            graph.Copy("embeddings.token_type_embeddings.weight", model.TokenTypeEmbeddings.weight);
            graph.CopyLayerNorm("embeddings.LayerNorm", model.EmbeddingNorm);

            var layers = model.Layers;
            if (graph.Has($"encoder.layer.{layers.Count}.output.dense.bias") || !graph.Has($"encoder.layer.{layers.Count - 1}.output.dense.bias"))
                throw graph.Mismatch($"it does not have {layers.Count} encoder layers");
            for (int i = 0; i < layers.Count; i++)
            {
                string prefix = $"encoder.layer.{i}.";
                BertLayer layer = layers[i];
                Linear qkv = layer.Attention.QueryKeyValue;
                long width = qkv.weight.shape[1];
                int part = 0;
                foreach (string name in new[] { "query", "key", "value" })
                {
                    graph.CopyLinear(prefix + "attention.self." + name, qkv.weight!.narrow(0, part * width, width), qkv.bias!.narrow(0, part * width, width));
                    part++;
                }
                graph.CopyLinear(prefix + "attention.output.dense", layer.Attention.Output.weight, layer.Attention.Output.bias);
                graph.CopyLayerNorm(prefix + "attention.output.LayerNorm", layer.AttentionNorm);
                graph.CopyLinear(prefix + "intermediate.dense", layer.Intermediate.weight, layer.Intermediate.bias);
                graph.CopyLinear(prefix + "output.dense", layer.Output.weight, layer.Output.bias);
                graph.CopyLayerNorm(prefix + "output.LayerNorm", layer.OutputNorm);
            }
        }

        private static ModelProto Parse(MiniLmPackage package)
        {
            try
            {
                var model = ModelProto.Parser.ParseFrom(package.Model);
                if (model.Graph == null || model.Graph.Node.Count == 0)
                    throw new InvalidDataException("the resource holds no ONNX graph");
                return model;
            }
            catch (Exception e) when (e is InvalidProtocolBufferException || e is InvalidDataException)
            {
                throw new InvalidDataException($"The model.onnx resource of '{package.Path}' is not a readable ONNX model ({e.Message}). {MiniLmPackage.Fix}", e);
            }
        }

        /// <summary>Initializers by name (matched by suffix: exports may prefix them) and which node produces each value.</summary>
        private sealed class Graph
        {
            private readonly string _path;
            private readonly Dictionary<string, TensorProto> _initializers;
            private readonly Dictionary<string, NodeProto> _producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
            private readonly ILookup<string, NodeProto> _consumers;

            public Graph(ModelProto model, string path)
            {
                _path = path;
                _initializers = model.Graph.Initializer.GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
                foreach (NodeProto node in model.Graph.Node)
                    foreach (string output in node.Output)
                        _producers[output] = node;
                _consumers = model.Graph.Node.SelectMany(n => n.Input.Select(i => (Input: i, Node: n))).ToLookup(p => p.Input, p => p.Node);
            }

            public bool Has(string name) => Find(name, required: false) != null;

            public void Copy(string name, Tensor? target) => Assign(Find(name)!, name, target!, transpose: false);

            public void CopyLayerNorm(string prefix, LayerNorm norm)
            {
                Copy(prefix + ".weight", norm.weight);
                Copy(prefix + ".bias", norm.bias);
            }

            /// <summary>A Linear's bias by name, and its weight: the initializer input of the MatMul whose output the bias is added to.</summary>
            public void CopyLinear(string prefix, Tensor? weight, Tensor? bias)
            {
                TensorProto biasTensor = Find(prefix + ".bias")!;
                Assign(biasTensor, prefix + ".bias", bias!, transpose: false);
                var add = _consumers[biasTensor.Name].Where(n => n.OpType == "Add").ToList();
                if (add.Count != 1)
                    throw Mismatch($"{prefix}.bias feeds {add.Count} Add nodes, expected one");
                var matmul = add[0].Input.Where(i => i != biasTensor.Name && _producers.TryGetValue(i, out var p) && p.OpType == "MatMul")
                    .Select(i => _producers[i]).ToList();
                if (matmul.Count != 1)
                    throw Mismatch($"the Add of {prefix}.bias is not fed by a MatMul");
                var weights = matmul[0].Input.Where(_initializers.ContainsKey).ToList();
                if (weights.Count != 1)
                    throw Mismatch($"the MatMul before {prefix}.bias has {weights.Count} weight initializers, expected one");
                Assign(_initializers[weights[0]], prefix + ".weight", weight!, transpose: true);
            }

            public Exception Mismatch(string what) => new InvalidDataException(
                $"'{_path}' does not hold all-MiniLM-L6-v2 as {MiniLmPackage.PackageId} {MiniLmPackage.PackageVersion} ships it: {what}. {MiniLmPackage.Fix}");

            private TensorProto? Find(string name, bool required = true)
            {
                if (_initializers.TryGetValue(name, out var exact))
                    return exact;
                var matches = _initializers.Where(kv => kv.Key.EndsWith("." + name, StringComparison.Ordinal)).Select(kv => kv.Value).ToList();
                if (matches.Count == 1)
                    return matches[0];
                if (required)
                    throw Mismatch(matches.Count == 0 ? $"no initializer '{name}'" : $"several initializers end in '{name}'");
                return null;
            }

            private void Assign(TensorProto source, string name, Tensor target, bool transpose)
            {
                if (source.DataType != (int)TensorProto.Types.DataType.Float)
                    throw Mismatch($"{name} is not float32");
                long[] expected = transpose ? Enumerable.Reverse(target.shape).ToArray() : target.shape;
                if (!source.Dims.SequenceEqual(expected))
                    throw Mismatch($"{name} has shape [{string.Join(", ", source.Dims)}], expected [{string.Join(", ", expected)}]");
                float[] values = OnnxTensorData.Floats(source);
                if (values.Length != target.numel())
                    throw Mismatch($"{name} holds {values.Length} values, expected {target.numel()}");
                Tensor value = tensor(values, expected);
                target.copy_(transpose ? value.t() : value);
            }
        }
    }
}
