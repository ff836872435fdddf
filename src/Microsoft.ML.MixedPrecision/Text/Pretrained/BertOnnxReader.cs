using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export.Proto;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>
    /// Finds a post-LN BERT encoder in an ONNX graph by its topology, as PyTorch exports a Hugging Face BertModel
    /// (sentence-transformers, optimum, torch.onnx): initializer names may be anything (prefixed, or anonymous as the
    /// MatMul weights are), so every weight is found by what it feeds. From input_ids: the word-embedding Gather, the sum
    /// of embedding lookups (word, absolute position, token type) and its LayerNorm; then, per layer, the three MatMul
    /// projections the layer input feeds (query and key meet in the score MatMul, value after the Softmax; the head count
    /// is read from their Reshape), the output projection, residual + LayerNorm, the erf-GELU feed-forward, residual +
    /// LayerNorm; until the hidden state feeds no more projections. LayerNorm may be one LayerNormalization node or the
    /// decomposed ReduceMean/Sub/Pow/ReduceMean/Add ε/Sqrt/Div/Mul/Add form. Anything else is refused with a message
    /// naming the first node that does not fit.
    /// </summary>
    internal sealed partial class BertOnnxReader
    {
        /// <summary>What this reader takes, for messages.</summary>
        public const string Supported =
            "a post-LN BERT encoder as PyTorch exports Hugging Face / sentence-transformers BERT models (optimum, torch.onnx, without " +
            "ONNX Runtime graph optimization): input input_ids (and attention_mask, token_type_ids); word + absolute position " +
            "(+ token type) embedding lookups summed and layer-normalized; layers of self-attention (query/key/value MatMul + bias, " +
            "scores scaled by 1/sqrt(head width), the attention mask added, Softmax) and an erf-GELU feed-forward, each followed by " +
            "residual + LayerNorm; float32 weights in the file (BERT, MiniLM, bge, e5, arctic-embed, all of any size)";

        private readonly OnnxGraphView _graph;
        private readonly string _source;
        private readonly long _opset;

        private BertOnnxReader(ModelProto model, string source)
        {
            _graph = new OnnxGraphView(model.Graph);
            _source = source;
            _opset = model.OpsetImport.Where(o => o.Domain.Length == 0 || o.Domain == "ai.onnx").Select(o => o.Version).DefaultIfEmpty(1).Max();
        }

        /// <summary>The encoder in <paramref name="model"/>; <paramref name="source"/> names the file in messages.</summary>
        public static BertOnnxLayout Read(ModelProto model, string source) => new BertOnnxReader(model, source).Read();

        private BertOnnxLayout Read()
        {
            var foreign = _graph.Nodes.FirstOrDefault(n => n.Domain.Length > 0 && n.Domain != "ai.onnx");
            if (foreign != null)
                throw NotBert(foreign, $"an operator of domain '{foreign.Domain}' (ONNX Runtime's fused kernels, which optimum's optimization " +
                                       "levels and onnxruntime.transformers produce): export the model without graph optimization");
            var (words, positions, tokenTypes, sum) = Embeddings();
            var embeddingNorm = LayerNorm(sum, out string hidden) ?? throw Expected(sum, "a LayerNorm of the embedding sum (a pre-LN encoder has none)");
            var layers = new List<OnnxBertLayer>();
            int heads = 0;
            while (Layer(hidden, layers.Count, ref heads, out string next) is { } layer)
            {
                layers.Add(layer);
                hidden = next;
            }
            if (layers.Count == 0)
                throw Expected(hidden, "encoder layers after the embeddings' LayerNorm (its output feeds no query/key/value MatMul)");
            var layout = new BertOnnxLayout(words, positions, tokenTypes, embeddingNorm, layers, heads);
            CheckSizes(layout);
            return layout;
        }

        private Exception NotBert(NodeProto? node, string what) => new InvalidDataException(
            $"{_source} is not a BERT-family encoder this trainer can fine-tune: {what}" +
            (node == null ? "" : $" (at node {OnnxGraphView.Describe(node)})") + $". Supported: {Supported}.");

        /// <summary>A refusal at the first node that reads <paramref name="value"/>: what was expected there.</summary>
        private Exception Expected(string value, string what)
        {
            var node = _graph.Uses(value).FirstOrDefault();
            return NotBert(node, $"expected {what}; found {(node == null ? "nothing" : OnnxGraphView.Describe(node))} reading '{value}'");
        }

        /// <summary>The one node that uses <paramref name="value"/> and fits <paramref name="fits"/>, or null.</summary>
        private NodeProto? Next(string? value, Func<NodeProto, bool> fits)
        {
            if (value == null)
                return null;
            var matches = _graph.Uses(value).Where(fits).ToList();
            return matches.Count == 1 ? matches[0] : null;
        }

        private NodeProto? Next(string? value, string opType) => Next(value, n => n.OpType == opType);

        private static bool Near(double? value, double expected) => value.HasValue && Math.Abs(value.Value - expected) <= 1e-4 * Math.Abs(expected);

        private void CheckSizes(BertOnnxLayout layout)
        {
            int width = layout.Width, ffn = layout.FeedForward;
            void Check(TensorProto tensor, string role, params long[] dims)
            {
                if (!tensor.Dims.SequenceEqual(dims))
                    throw NotBert(null, $"{role} ('{tensor.Name}') has shape [{string.Join(", ", tensor.Dims)}], expected [{string.Join(", ", dims)}] " +
                                        $"for width {width} and feed-forward {ffn}");
            }
            Check(layout.Positions, "the position embeddings", layout.MaxPositions, width);
            Check(layout.EmbeddingNorm.Scale, "the embeddings' LayerNorm scale", width);
            Check(layout.EmbeddingNorm.Bias, "the embeddings' LayerNorm bias", width);
            if (layout.TokenTypes != null)
                Check(layout.TokenTypes, "the token-type embeddings", layout.TokenTypeCount, width);
            foreach (var (layer, i) in layout.Layers.Select((l, i) => (l, i)))
            {
                foreach (var (linear, name) in new[] { (layer.Query, "query"), (layer.Key, "key"), (layer.Value, "value"), (layer.AttentionOutput, "attention output") })
                {
                    Check(linear.Weight, $"layer {i}'s {name} weight", width, width);
                    Check(linear.Bias, $"layer {i}'s {name} bias", width);
                }
                Check(layer.Intermediate.Weight, $"layer {i}'s feed-forward weight", width, ffn);
                Check(layer.Intermediate.Bias, $"layer {i}'s feed-forward bias", ffn);
                Check(layer.Output.Weight, $"layer {i}'s feed-forward output weight", ffn, width);
                Check(layer.Output.Bias, $"layer {i}'s feed-forward output bias", width);
                foreach (var norm in new[] { layer.AttentionNorm, layer.OutputNorm })
                {
                    Check(norm.Scale, $"layer {i}'s LayerNorm scale", width);
                    Check(norm.Bias, $"layer {i}'s LayerNorm bias", width);
                    if (Math.Abs(norm.Epsilon - layout.EmbeddingNorm.Epsilon) > 1e-3 * layout.EmbeddingNorm.Epsilon)
                        throw NotBert(null, $"layer {i}'s LayerNorm epsilon {norm.Epsilon:G3} differs from the embeddings' {layout.EmbeddingNorm.Epsilon:G3}");
                }
            }
        }
    }
}
