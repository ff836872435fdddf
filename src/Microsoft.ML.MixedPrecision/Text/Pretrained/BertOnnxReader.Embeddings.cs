using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export.Proto;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    internal sealed partial class BertOnnxReader
    {
        private const string InputIds = "input_ids", TokenTypeIds = "token_type_ids", AttentionMask = "attention_mask";

        /// <summary>
        /// The embedding tables and the value of their sum. Word embeddings: the Gather that input_ids index. The others are
        /// the lookups the sum adds: token types when indexed by token_type_ids (or, without that input, the smaller of two
        /// tables indexed by constants), absolute positions when indexed by constants 0, 1, …; positions computed from
        /// input_ids (RoBERTa's, offset by the padding id) are refused.
        /// </summary>
        private (TensorProto Words, TensorProto Positions, TensorProto? TokenTypes, string Sum) Embeddings()
        {
            if (!_graph.Inputs.Contains(InputIds))
                throw NotBert(null, $"it has no input named {InputIds} (its inputs: {string.Join(", ", _graph.Inputs)})");
            var wordLookup = _graph.Uses(InputIds).FirstOrDefault(n => n.OpType == "Gather" && Table(n) != null)
                ?? throw Expected(InputIds, $"a Gather of word embeddings (a float32 [vocabulary, width] initializer) indexed by {InputIds}");
            string sum = wordLookup.Output[0];
            var lookups = new List<NodeProto>();
            while (Next(sum, "Add") is { } add && _graph.Uses(sum).Count == 1)
            {
                lookups.AddRange(Lookups(OnnxGraphView.Other(add, sum), add));
                sum = add.Output[0];
            }
            var (positions, tokenTypes) = Classify(lookups, wordLookup);
            return (Table(wordLookup)!, positions, tokenTypes, sum);
        }

        /// <summary>The embedding lookups an operand of the embedding sum holds (a Gather, or an Add of them).</summary>
        private IEnumerable<NodeProto> Lookups(string value, NodeProto add)
        {
            var node = _graph.Producer(value);
            if (node?.OpType == "Gather" && Table(node) != null)
                return new[] { node };
            if (node?.OpType == "Add")
                return node.Input.SelectMany(i => Lookups(i, node)).ToList();
            throw NotBert(add, $"the embedding sum adds '{value}', which is not an embedding lookup (a Gather of a float32 [rows, width] initializer)");
        }

        private TensorProto? Table(NodeProto gather) => gather.Input.Count == 2 ? _graph.FloatInitializer(gather.Input[0], 2) : null;

        private (TensorProto Positions, TensorProto? TokenTypes) Classify(List<NodeProto> lookups, NodeProto wordLookup)
        {
            NodeProto? tokenTypes = null;
            var constant = new List<NodeProto>();
            foreach (var lookup in lookups)
            {
                var inputs = _graph.InputsBehind(lookup.Input[1], out _);
                if (inputs.Contains(InputIds) || inputs.Contains(AttentionMask))
                    throw NotBert(lookup, $"the embedding table '{lookup.Input[0]}' is indexed by positions computed from {string.Join(" and ", inputs)} " +
                                          "(RoBERTa-style positions that start after the padding id); only absolute positions 0, 1, … are supported");
                if (inputs.Contains(TokenTypeIds))
                    tokenTypes = tokenTypes == null ? lookup : throw NotBert(lookup, $"two embedding tables are indexed by {TokenTypeIds}");
                else
                    constant.Add(lookup);
            }
            if (tokenTypes == null && constant.Count == 2)
            {
                constant = constant.OrderByDescending(n => Table(n)!.Dims[0]).ToList();
                tokenTypes = constant[1];
                constant.RemoveAt(1);
            }
            if (constant.Count != 1)
                throw NotBert(constant.Skip(1).FirstOrDefault() ?? wordLookup,
                    $"the embedding sum adds {constant.Count} lookups indexed by constants, expected one table of absolute positions " +
                    $"(tables: {string.Join(", ", lookups.Select(n => $"'{n.Input[0]}' [{string.Join(", ", Table(n)!.Dims)}]"))})");
            CheckPositionIds(constant[0]);
            return (Table(constant[0])!, tokenTypes == null ? null : Table(tokenTypes));
        }

        /// <summary>Position ids are a Slice (or Expand…) of a constant 0, 1, 2, …: any longer integer constant behind them must count from 0.</summary>
        private void CheckPositionIds(NodeProto lookup)
        {
            var queue = new Queue<string>(new[] { lookup.Input[1] });
            for (int seen = 0; queue.Count > 0 && seen < 50; seen++)
            {
                string value = queue.Dequeue();
                if (_graph.Numbers(value) is { Length: > 2 } numbers && !numbers.Select((v, i) => v == i).All(b => b))
                    throw NotBert(lookup, $"the position ids are read from a constant that does not count 0, 1, 2, … ({string.Join(", ", numbers.Take(4))}, …)");
                foreach (string input in _graph.Producer(value)?.Input ?? Enumerable.Empty<string>())
                    queue.Enqueue(input);
            }
        }

        /// <summary>
        /// A LayerNorm over the last axis that starts at <paramref name="x"/>: one LayerNormalization node, or the decomposed form
        /// mean = ReduceMean(x); d = x − mean; v = ReduceMean(d²); y = d / Sqrt(v + ε) · scale + bias. Null if there is none.
        /// </summary>
        private OnnxLayerNorm? LayerNorm(string x, out string output)
        {
            output = "";
            var fused = Next(x, "LayerNormalization");
            if (fused != null)
                return FusedLayerNorm(fused, out output);
            var mean = Next(x, n => n.OpType == "ReduceMean" && LastAxis(n));
            var centered = mean == null ? null : Next(x, n => n.OpType == "Sub" && n.Input[0] == x && n.Input[1] == mean.Output[0]);
            string? d = centered?.Output[0];
            var square = Next(d, n => n.OpType == "Pow" && _graph.Scalar(n.Input[1]) == 2 || n.OpType == "Mul" && n.Input.All(i => i == d));
            var variance = Next(square?.Output[0], n => n.OpType == "ReduceMean" && LastAxis(n));
            var plusEpsilon = Next(variance?.Output[0], n => n.OpType == "Add" && _graph.Scalar(OnnxGraphView.Other(n, variance!.Output[0])) > 0);
            var root = Next(plusEpsilon?.Output[0], "Sqrt");
            var divide = Next(d, n => n.OpType == "Div" && n.Input[1] == root?.Output[0]);
            var scale = Next(divide?.Output[0], n => n.OpType == "Mul" && _graph.FloatInitializer(OnnxGraphView.Other(n, divide!.Output[0]), 1) != null);
            var shift = Next(scale?.Output[0], n => n.OpType == "Add" && _graph.FloatInitializer(OnnxGraphView.Other(n, scale!.Output[0]), 1) != null);
            if (shift == null)
                return null;
            output = shift.Output[0];
            double epsilon = _graph.Scalar(OnnxGraphView.Other(plusEpsilon!, variance!.Output[0]))!.Value;
            return new OnnxLayerNorm(_graph.FloatInitializer(OnnxGraphView.Other(scale!, divide!.Output[0]), 1)!,
                _graph.FloatInitializer(OnnxGraphView.Other(shift, scale!.Output[0]), 1)!, epsilon);
        }

        private OnnxLayerNorm FusedLayerNorm(NodeProto node, out string output)
        {
            long axis = node.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? -1;
            var scale = _graph.FloatInitializer(node.Input[1], 1);
            var bias = node.Input.Count > 2 ? _graph.FloatInitializer(node.Input[2], 1) : null;
            if (axis != -1 && axis != 2 || scale == null || bias == null)
                throw NotBert(node, "a LayerNormalization that is not over the last axis with float32 scale and bias initializers");
            output = node.Output[0];
            return new OnnxLayerNorm(scale, bias, node.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5);
        }

        /// <summary>Whether a ReduceMean averages the last axis only (axes as attribute, or as input from opset 18).</summary>
        private bool LastAxis(NodeProto reduce)
        {
            var attribute = reduce.Attribute.FirstOrDefault(a => a.Name == "axes");
            double[]? axes = attribute != null ? attribute.Ints.Select(i => (double)i).ToArray()
                : reduce.Input.Count > 1 ? _graph.Numbers(reduce.Input[1]) : null;
            return axes is { Length: 1 } && (axes[0] == -1 || axes[0] == 2);
        }
    }
}
