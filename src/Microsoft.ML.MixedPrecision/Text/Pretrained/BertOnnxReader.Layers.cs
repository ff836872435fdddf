using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export.Proto;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    internal sealed partial class BertOnnxReader
    {
        /// <summary>Where a query, key or value projection goes: the MatMul it enters, as which operand, scaled by what, reshaped where.</summary>
        private sealed record ProductPath(NodeProto Product, int Side, double Scale, NodeProto? Reshape);

        /// <summary>The layer that reads hidden state <paramref name="h"/>, or null when <paramref name="h"/> feeds no projection (the encoder's end).</summary>
        private OnnxBertLayer? Layer(string h, int index, ref int heads, out string next)
        {
            next = h;
            var projections = _graph.Uses(h).Where(n => n.OpType == "MatMul" && Weight(n, h) != null).ToList();
            if (projections.Count == 0)
                return null;
            if (projections.Count != 3)
                throw NotBert(projections[0], $"layer {index}'s input feeds {projections.Count} MatMul projections, expected 3 (query, key, value)");
            var (query, key, value, context, layerHeads) = SelfAttention(projections, h, index);
            if (heads != 0 && layerHeads != heads)
                throw NotBert(projections[0], $"layer {index} has {layerHeads} attention heads, the layers before it {heads}");
            heads = layerHeads;
            context = MergeHeads(context, index);
            var outputProjection = Next(context, n => n.OpType == "MatMul" && Weight(n, context) != null)
                ?? throw Expected(context, $"layer {index}'s attention output projection (MatMul by a float32 weight)");
            var attentionOutput = Linear(outputProjection, context, out string attended);
            var attentionNorm = Residual(attended, h, index, out string h1);
            var up = _graph.Uses(h1).Where(n => n.OpType == "MatMul" && Weight(n, h1) != null).ToList();
            if (up.Count != 1)
                throw Expected(h1, $"one feed-forward MatMul reading layer {index}'s attention LayerNorm (found {up.Count})");
            var intermediate = Linear(up[0], h1, out string u);
            string activated = Gelu(u, index);
            var down = Next(activated, n => n.OpType == "MatMul" && Weight(n, activated) != null)
                ?? throw Expected(activated, $"layer {index}'s feed-forward output MatMul");
            var output = Linear(down, activated, out string d);
            var outputNorm = Residual(d, h1, index, out next);
            return new OnnxBertLayer(query, key, value, attentionOutput, attentionNorm, intermediate, output, outputNorm);
        }

        /// <summary>From the attention's [batch, heads, length, head width] product through Transpose and Reshape back to [batch, length, width].</summary>
        private string MergeHeads(string value, int index)
        {
            for (int hops = 0; hops < 4; hops++)
            {
                var next = Next(value, n => n.OpType is "Transpose" or "Reshape");
                if (next == null)
                    return value;
                value = next.Output[0];
            }
            throw Expected(value, $"layer {index}'s attention output projection");
        }

        /// <summary>The float32 [in, out] weight a MatMul multiplies <paramref name="input"/> by, or null.</summary>
        private TensorProto? Weight(NodeProto matmul, string input)
            => matmul.Input.Count == 2 && matmul.Input[0] == input ? _graph.FloatInitializer(matmul.Input[1], 2) : null;

        /// <summary>MatMul by a weight, then Add of a bias: the Linear, and the Add's output.</summary>
        private OnnxLinear Linear(NodeProto matmul, string input, out string output)
        {
            string product = matmul.Output[0];
            var add = Next(product, n => n.OpType == "Add" && _graph.FloatInitializer(OnnxGraphView.Other(n, product), 1) != null)
                ?? throw Expected(product, "a bias Add (a float32 [out] initializer) after the MatMul");
            output = add.Output[0];
            return new OnnxLinear(Weight(matmul, input)!, _graph.FloatInitializer(OnnxGraphView.Other(add, product), 1)!);
        }

        /// <summary>Post-LN: x + h, then LayerNorm.</summary>
        private OnnxLayerNorm Residual(string x, string h, int index, out string output)
        {
            var add = Next(x, n => n.OpType == "Add" && OnnxGraphView.Other(n, x) == h)
                ?? throw Expected(x, $"layer {index}'s residual Add of its input (post-LN)");
            return LayerNorm(add.Output[0], out output) ?? throw Expected(add.Output[0], $"layer {index}'s LayerNorm after the residual Add (post-LN)");
        }

        private (OnnxLinear Query, OnnxLinear Key, OnnxLinear Value, string Context, int Heads) SelfAttention(List<NodeProto> projections, string h, int index)
        {
            var paths = projections.Select(m => (Linear: Linear(m, h, out string p), Path: ToProduct(p, index))).ToList();
            var scores = paths.GroupBy(p => p.Path.Product).FirstOrDefault(g => g.Count() == 2 && g.Any(p => p.Path.Side == 0) && g.Any(p => p.Path.Side == 1))
                ?? throw NotBert(paths[0].Path.Product, $"layer {index}: no MatMul multiplies two of its three projections (query × keyᵀ)");
            var query = scores.Single(p => p.Path.Side == 0);
            var key = scores.Single(p => p.Path.Side == 1);
            var value = paths.Single(p => p.Path.Product != scores.Key);
            var softmax = ScoresToSoftmax(scores.Key, index, out double scale);
            if (value.Path.Side != 1 || value.Path.Product.Input[0] != softmax.Output[0])
                throw NotBert(value.Path.Product, $"layer {index}: the value projection is not multiplied by the attention weights (the Softmax output)");
            long width = query.Linear.Weight.Dims[1];
            int heads = Heads(new[] { query.Path, key.Path, value.Path }, width, index);
            double expected = 1 / Math.Sqrt(width / heads);
            scale *= query.Path.Scale * key.Path.Scale;
            if (!Near(scale, expected))
                throw NotBert(softmax, $"layer {index}: the attention scores are scaled by {scale:G4}, expected 1/sqrt(head width {width / heads}) = {expected:G4}");
            return (query.Linear, key.Linear, value.Linear, value.Path.Product.Output[0], heads);
        }

        /// <summary>From a projection's output through Reshape / Transpose / scaling by a constant to the MatMul it enters.</summary>
        private ProductPath ToProduct(string value, int index)
        {
            double scale = 1;
            NodeProto? reshape = null;
            for (int hops = 0; hops < 8; hops++)
            {
                var uses = _graph.Uses(value);
                if (uses.Count != 1)
                    throw NotBert(uses.FirstOrDefault(), $"layer {index}: a query/key/value projection is read by {uses.Count} nodes, expected one chain to the attention MatMul");
                var node = uses[0];
                switch (node.OpType)
                {
                    case "Reshape": reshape = node; break;
                    case "Transpose": break;
                    case "Mul" when _graph.Scalar(OnnxGraphView.Other(node, value)) is double factor: scale *= factor; break;
                    case "Div" when node.Input[0] == value && _graph.Scalar(node.Input[1]) is double divisor: scale /= divisor; break;
                    case "MatMul" when _graph.Initializer(OnnxGraphView.Other(node, value)) == null:
                        return new ProductPath(node, node.Input[0] == value ? 0 : 1, scale, reshape);
                    default: throw NotBert(node, $"layer {index}: unexpected between a query/key/value projection and the attention MatMul");
                }
                value = node.Output[0];
            }
            throw Expected(value, $"layer {index}'s attention MatMul");
        }

        /// <summary>The head count, read from the [batch, length, heads, head width] shape each projection is reshaped to.</summary>
        private int Heads(ProductPath[] paths, long width, int index)
        {
            var counts = paths.Select(p => p.Reshape == null ? 0 : HeadsOf(p.Reshape, width)).Distinct().ToList();
            if (counts.Count != 1 || counts[0] <= 0)
                throw NotBert(paths.Select(p => p.Reshape).FirstOrDefault(r => r != null) ?? paths[0].Product,
                    $"layer {index}: the head count could not be read from the query/key/value Reshape to [batch, length, heads, head width] for width {width}");
            return counts[0];
        }

        private int HeadsOf(NodeProto reshape, long width)
        {
            var concat = _graph.Producer(reshape.Input[1]);
            double[]? shape = _graph.Numbers(reshape.Input[1])
                ?? (concat?.OpType == "Concat" ? concat.Input.SelectMany(i => _graph.Numbers(i) ?? new[] { double.NaN }).ToArray() : null);
            if (shape == null || shape.Length < 2)
                return 0;
            double heads = shape[^2], headWidth = shape[^1];
            if (headWidth == -1 && heads > 0)
                headWidth = width / heads;
            if (heads == -1 && headWidth > 0)
                heads = width / headWidth;
            return heads > 0 && heads * headWidth == width ? (int)heads : 0;
        }

        /// <summary>From the score MatMul through scaling and the mask Add to the Softmax over the keys.</summary>
        private NodeProto ScoresToSoftmax(NodeProto product, int index, out double scale)
        {
            scale = 1;
            string value = product.Output[0];
            for (int hops = 0; hops < 6; hops++)
            {
                var uses = _graph.Uses(value);
                if (uses.Count != 1)
                    throw NotBert(uses.FirstOrDefault() ?? product, $"layer {index}: the attention scores are read by {uses.Count} nodes, expected one chain to a Softmax");
                var node = uses[0];
                switch (node.OpType)
                {
                    case "Mul" when _graph.Scalar(OnnxGraphView.Other(node, value)) is double factor: scale *= factor; break;
                    case "Div" when node.Input[0] == value && _graph.Scalar(node.Input[1]) is double divisor: scale /= divisor; break;
                    case "Add": CheckMask(node, value, index); break;
                    case "Softmax": return CheckSoftmax(node, index);
                    default: throw NotBert(node, $"layer {index}: unexpected between the attention scores and the Softmax");
                }
                value = node.Output[0];
            }
            throw Expected(value, $"layer {index}'s attention Softmax");
        }

        private void CheckMask(NodeProto add, string scores, int index)
        {
            var inputs = _graph.InputsBehind(OnnxGraphView.Other(add, scores), out bool readsTable);
            if (readsTable || inputs.Any(i => i != AttentionMask))
                throw NotBert(add, $"layer {index}: the attention scores get a bias computed from " +
                                   (readsTable ? "a learned table (relative positions?)" : string.Join(", ", inputs)) + "; only the attention mask is supported");
        }

        private NodeProto CheckSoftmax(NodeProto softmax, int index)
        {
            long? axis = softmax.Attribute.FirstOrDefault(a => a.Name == "axis")?.I;
            if (axis is -1 or 3 || axis == null && _opset >= 13)
                return softmax;
            throw NotBert(softmax, $"layer {index}: the Softmax is over axis {axis?.ToString() ?? "1 (the default before opset 13)"}, expected the keys' (the last)");
        }

        /// <summary>erf GELU, 0.5·x·(1 + erf(x/√2)), as one Gelu node (approximate none) or decomposed; the activation's output.</summary>
        private string Gelu(string u, int index)
        {
            var fused = Next(u, "Gelu");
            if (fused != null)
            {
                string approximate = fused.Attribute.FirstOrDefault(a => a.Name == "approximate")?.S.ToStringUtf8() ?? "none";
                return approximate == "none" ? fused.Output[0]
                    : throw NotBert(fused, $"layer {index}'s activation is GELU with approximate = '{approximate}'; supported: erf GELU");
            }
            var scaled = Next(u, n => n.OpType == "Div" && n.Input[0] == u && Near(_graph.Scalar(n.Input[1]), Math.Sqrt(2))
                                      || n.OpType == "Mul" && Near(_graph.Scalar(OnnxGraphView.Other(n, u)), Math.Sqrt(0.5)));
            var erf = Next(scaled?.Output[0], "Erf");
            var plusOne = Next(erf?.Output[0], n => n.OpType == "Add" && _graph.Scalar(OnnxGraphView.Other(n, erf!.Output[0])) == 1);
            var product = Next(plusOne?.Output[0], "Mul");
            string? result = null;
            if (product != null)
            {
                string other = OnnxGraphView.Other(product, plusOne!.Output[0]);
                if (other == u)
                    result = Next(product.Output[0], n => n.OpType == "Mul" && _graph.Scalar(OnnxGraphView.Other(n, product.Output[0])) == 0.5)?.Output[0];
                else if (_graph.Producer(other) is { OpType: "Mul" } half && half.Input.Contains(u) && _graph.Scalar(OnnxGraphView.Other(half, u)) == 0.5)
                    result = product.Output[0];
            }
            return result ?? throw NotBert(_graph.Uses(u).FirstOrDefault(), $"layer {index}'s feed-forward activation is not erf GELU " +
                $"(0.5·x·(1 + erf(x/√2)); its input is read by {string.Join(", ", _graph.Uses(u).Select(OnnxGraphView.Describe))}); supported: erf GELU");
        }
    }
}
