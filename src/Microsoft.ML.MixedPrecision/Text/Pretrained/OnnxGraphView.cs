using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>
    /// An ONNX graph seen as values and the nodes that produce and use them, for walking a pretrained network by its
    /// topology: initializers and constants are found by value, through Identity nodes, whatever their names.
    /// </summary>
    internal sealed class OnnxGraphView
    {
        private readonly Dictionary<string, TensorProto> _initializers;
        private readonly Dictionary<string, NodeProto> _producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        private readonly ILookup<string, NodeProto> _consumers;

        public OnnxGraphView(GraphProto graph)
        {
            _initializers = graph.Initializer.GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
            foreach (NodeProto node in graph.Node)
                foreach (string output in node.Output)
                    _producers[output] = node;
            _consumers = graph.Node.SelectMany(n => n.Input.Distinct().Select(i => (Input: i, Node: n))).ToLookup(p => p.Input, p => p.Node);
            Inputs = graph.Input.Select(i => i.Name).Where(n => !_initializers.ContainsKey(n)).ToList();
            Nodes = graph.Node;
        }

        /// <summary>The graph's real inputs (not initializers listed as inputs, as IR 3 exports do).</summary>
        public IReadOnlyList<string> Inputs { get; }

        public IReadOnlyList<NodeProto> Nodes { get; }

        public NodeProto? Producer(string value) => _producers.TryGetValue(value, out var node) ? node : null;

        /// <summary>The nodes that read <paramref name="value"/>, but Shape nodes (which read only its dimensions).</summary>
        public IReadOnlyList<NodeProto> Uses(string value) => _consumers[value].Where(n => n.OpType != "Shape").ToList();

        /// <summary>The initializer <paramref name="value"/> is, directly or through Identity nodes; null if it is computed.</summary>
        public TensorProto? Initializer(string value)
        {
            for (int hops = 0; hops < 8; hops++)
            {
                if (_initializers.TryGetValue(value, out var tensor))
                    return tensor;
                var node = Producer(value);
                if (node?.OpType != "Identity")
                    return null;
                value = node.Input[0];
            }
            return null;
        }

        /// <summary>A float32 initializer of <paramref name="rank"/> dimensions, or null.</summary>
        public TensorProto? FloatInitializer(string value, int rank)
        {
            var tensor = Initializer(value);
            return tensor != null && tensor.DataType == (int)TensorProto.Types.DataType.Float && tensor.Dims.Count == rank ? tensor : null;
        }

        /// <summary>The values of a constant (an initializer or a Constant node, through Identity), or null if it is computed.</summary>
        public double[]? Numbers(string value)
        {
            var tensor = Initializer(value);
            if (tensor == null)
            {
                var node = Producer(value);
                if (node?.OpType == "Identity")
                    return Numbers(node.Input[0]);
                tensor = node?.OpType == "Constant" ? node.Attribute.FirstOrDefault(a => a.Name == "value")?.T : null;
            }
            return tensor == null ? null : OnnxTensorData.Numbers(tensor);
        }

        /// <summary>A constant holding one number, or null.</summary>
        public double? Scalar(string value) => Numbers(value) is { Length: 1 } one ? one[0] : null;

        /// <summary>The input of a two-input node that is not <paramref name="value"/> (the other operand of Add, Mul, MatMul).</summary>
        public static string Other(NodeProto node, string value) => node.Input.Count == 2 && node.Input[0] == value ? node.Input[1] : node.Input[0];

        /// <summary>
        /// The graph inputs whose values <paramref name="value"/> is computed from (a bounded walk up its producers; a Shape
        /// node reads only its input's dimensions, so the walk does not pass it).
        /// </summary>
        public HashSet<string> InputsBehind(string value, out bool readsFloatTable)
        {
            var found = new HashSet<string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal) { value };
            var queue = new Queue<string>(seen);
            readsFloatTable = false;
            while (queue.Count > 0 && seen.Count < 400)
            {
                string current = queue.Dequeue();
                if (Inputs.Contains(current))
                    found.Add(current);
                readsFloatTable |= FloatInitializer(current, 2) != null;
                var producer = Producer(current);
                if (producer == null || producer.OpType == "Shape")
                    continue;
                foreach (string input in producer.Input)
                    if (seen.Add(input))
                        queue.Enqueue(input);
            }
            return found;
        }

        /// <summary>How messages name a node: its name (or first output) and its operator.</summary>
        public static string Describe(NodeProto node)
            => $"'{(node.Name.Length > 0 ? node.Name : node.Output.FirstOrDefault())}' ({(node.Domain.Length > 0 ? node.Domain + "." : "")}{node.OpType})";
    }
}
