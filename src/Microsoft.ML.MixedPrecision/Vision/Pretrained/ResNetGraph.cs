using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export.Proto;

namespace Microsoft.ML.MixedPrecision.Vision.Pretrained
{
    /// <summary>A convolution of the graph and the BatchNormalization after it, if the export kept one; <c>Key</c> is our module's name.</summary>
    internal sealed record ConvUnit(string Key, string NormKey, NodeProto Conv, NodeProto? Norm, string Output);

    /// <summary>
    /// Reads a ResNet-family network from an ONNX graph by walking it from its input, since initializer names are opaque
    /// (CNTK's "Parameter91", torch's "onnx::Conv_117"): a stem (one convolution, BatchNorm or not, ReLU, an optional max
    /// pool), then residual blocks, each a chain of convolutions (3×3, 3×3: basic; 1×1, 3×3, 1×1: bottleneck) added to its
    /// input or to a 1×1 projection of it, then ReLU; up to a global average pool, after which everything (a classifier
    /// head) is dropped. Every other node, or one that does not fit, is refused by name.
    /// </summary>
    internal sealed class ResNetGraph
    {
        internal const string Supported =
            "Supported: the ResNet family as torchvision builds it and torch.onnx.export writes it (ResNet-18/34/50/101/152, " +
            "Wide ResNet, ResNeXt, any width and depth): a stem of one convolution, BatchNorm (or folded into the convolution), " +
            "ReLU and an optional max pool; basic blocks (two 3×3 convolutions) or bottleneck blocks (1×1, 3×3 with the stride, 1×1) " +
            "with identity or 1×1-projection shortcuts; a global average pool, after which a classifier head is replaced";

        private readonly string _path;
        private readonly string _fix;
        private readonly Dictionary<string, TensorProto> _initializers;
        private readonly Dictionary<string, string> _aliases = new();
        private readonly ILookup<string, NodeProto> _consumers;
        private readonly HashSet<string> _outputs;
        private readonly HashSet<NodeProto> _walked = new();
        private readonly List<ConvUnit> _units = new();
        private readonly List<BlockLayout> _blocks = new();
        private ResidualBlockKind? _kind;
        private StemLayout? _stem;
        private PoolLayout? _maxPool;

        private ResNetGraph(ModelProto model, string path, string fix)
        {
            _path = path;
            _fix = fix;
            var graph = model.Graph;
            _initializers = graph.Initializer.GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.First());
            ResolveAliases(graph);
            _consumers = graph.Node.Where(n => !_walked.Contains(n))
                .SelectMany(n => n.Input.Select(i => (Input: i, Node: n))).ToLookup(p => p.Input, p => p.Node);
            _outputs = graph.Output.Select(o => o.Name).ToHashSet();
        }

        /// <summary>The layout read.</summary>
        public ResNetLayout Layout { get; private set; } = null!;

        /// <summary>Every convolution, with its BatchNorm, keyed by our network's module names.</summary>
        public IReadOnlyList<ConvUnit> Units => _units;

        /// <summary>Op types of the nodes after the global pool (the dropped head), in graph order.</summary>
        public IReadOnlyList<string> DroppedHead { get; private set; } = Array.Empty<string>();

        /// <summary>Walks <paramref name="model"/>; throws <see cref="InvalidDataException"/> naming the first node that does not fit.</summary>
        public static ResNetGraph Read(ModelProto model, string path, string fix)
        {
            var reader = new ResNetGraph(model, path, fix);
            reader.Walk(model.Graph);
            return reader;
        }

        /// <summary>A float32 initializer (through Identity aliases), or null.</summary>
        public TensorProto? Initializer(string name)
            => _initializers.TryGetValue(_aliases.TryGetValue(name, out var target) ? target : name, out var t) ? t : null;

        /// <summary>An int attribute list of a node ([] when absent).</summary>
        public static IReadOnlyList<long> Ints(NodeProto node, string name)
            => (IReadOnlyList<long>?)node.Attribute.FirstOrDefault(a => a.Name == name)?.Ints ?? Array.Empty<long>();

        public InvalidDataException Mismatch(NodeProto node, string problem) => new(
            $"'{_path}' is not a ResNet-family network this library can fine-tune: node '{Name(node)}' ({node.OpType}) {problem}. {Supported}. {_fix}");

        private InvalidDataException Mismatch(string problem) => new(
            $"'{_path}' is not a ResNet-family network this library can fine-tune: {problem}. {Supported}. {_fix}");

        /// <summary>torch.onnx.export writes one initializer once and Identity nodes for its copies: those names are aliases.</summary>
        private void ResolveAliases(GraphProto graph)
        {
            bool found = true;
            while (found)
            {
                found = false;
                foreach (var node in graph.Node.Where(n => n.OpType == "Identity" && !_walked.Contains(n) && n.Input.Count == 1))
                {
                    string source = _aliases.TryGetValue(node.Input[0], out var s) ? s : node.Input[0];
                    if (_initializers.ContainsKey(source))
                    {
                        _aliases[node.Output[0]] = source;
                        _walked.Add(node);
                        found = true;
                    }
                }
            }
        }

        private void Walk(GraphProto graph)
        {
            var inputs = graph.Input.Select(i => i.Name).Where(n => !_initializers.ContainsKey(n)).ToList();
            if (inputs.Count != 1)
                throw Mismatch($"it has {inputs.Count} inputs ({string.Join(", ", inputs)}), expected one image input");
            string x = Stem(inputs[0]);
            for (int b = 0; ; b++)
            {
                var next = _consumers[x].ToList();
                if (next.Count == 1 && IsGlobalPool(next[0]))
                {
                    DroppedHead = Head(next[0]);
                    break;
                }
                if (next.Count == 0 && _outputs.Contains(x))
                    break;
                x = Block(x, b);
            }
            if (_blocks.Count == 0)
                throw Mismatch("no residual block follows the stem");
            var stray = graph.Node.FirstOrDefault(n => !_walked.Contains(n));
            if (stray != null)
                throw Mismatch(stray, "is not part of the ResNet walked from the input (a branch the family does not have)");
            Layout = new ResNetLayout(_stem!, _maxPool, _kind!.Value, _blocks);
        }

        /// <summary>Stem conv [BN] → ReLU → [MaxPool]; returns the stem's output.</summary>
        private string Stem(string input)
        {
            var conv = Single(input, "Conv", "the stem convolution (Conv)");
            var unit = Unit(conv, "conv1", "bn1");
            long[] w = WeightShape(conv);
            int kernel = (int)w[2], stride = Stride(conv);
            if (w[2] != w[3] || Group(conv) != 1)
                throw Mismatch(conv, $"is a stem convolution of kernel {w[2]}×{w[3]}, group {Group(conv)}; expected a square kernel, no groups");
            int padding = Padding(conv, kernel, stride);
            _stem = new StemLayout((int)w[1], (int)w[0], kernel, stride, padding);
            string x = Next(unit.Output, "Relu", "the stem's ReLU").Output[0];
            var after = _consumers[x].ToList();
            if (after.Count == 1 && after[0].OpType == "MaxPool")
            {
                var pool = Take(after[0]);
                long[] k = Ints(pool, "kernel_shape").ToArray();
                if (k.Length != 2 || k[0] != k[1] || pool.Attribute.Any(a => a.Name == "ceil_mode" && a.I != 0))
                    throw Mismatch(pool, "is a max pool that is not square (or uses ceil_mode)");
                _maxPool = new PoolLayout((int)k[0], Stride(pool), Padding(pool, (int)k[0], Stride(pool)));
                x = pool.Output[0];
            }
            return x;
        }

        /// <summary>One residual block from its input <paramref name="x"/>; returns its output.</summary>
        private string Block(string x, int index)
        {
            var consumers = _consumers[x].ToList();
            var other = consumers.FirstOrDefault(n => n.OpType != "Conv" && n.OpType != "Add");
            if (other != null)
                throw Mismatch(other, $"reads the output of block {index} (or the stem), where a block's convolutions, its residual Add or a global average pool should");
            var convs = consumers.Where(n => n.OpType == "Conv").ToList();
            if (consumers.Count == 0)
                throw Mismatch($"'{x}' ends the graph where block {index} or a global average pool should follow");
            if (convs.Count == 0)
                throw Mismatch(consumers[0], $"reads the input of block {index}, where the block's first convolution should");
            if (convs.Count > 2)
                throw Mismatch(convs[2], $"is a third convolution reading '{x}'; a block has one (identity shortcut) or two (projection)");
            string prefix = $"blocks.{index}.";
            NodeProto? projectionConv = convs.Count == 2 ? convs.FirstOrDefault(c => FeedsAdd(c)) : null;
            if (convs.Count == 2 && projectionConv == null)
                throw Mismatch(convs[1], $"is a second branch from '{x}' that is not a 1×1 projection shortcut into the residual Add");
            var main = convs.Single(c => c != projectionConv);
            var chain = MainPath(main, prefix);
            var add = Take(Single(chain[^1].Output, "Add", "the block's residual Add"));
            string shortcut = x;
            ConvUnit? projection = null;
            if (projectionConv != null)
            {
                projection = Unit(projectionConv, prefix + "downsample.0", prefix + "downsample.1");
                shortcut = projection.Output;
            }
            if (add.Input.Count != 2 || !add.Input.Contains(chain[^1].Output) || !add.Input.Contains(shortcut))
                throw Mismatch(add, $"does not add block {index}'s branch and its shortcut '{shortcut}'");
            _blocks.Add(Describe(chain, projection, index, add));
            return Next(add.Output[0], "Relu", "the ReLU after the residual Add").Output[0];
        }

        /// <summary>conv [BN] (ReLU conv [BN])* up to the Add.</summary>
        private List<ConvUnit> MainPath(NodeProto conv, string prefix)
        {
            var chain = new List<ConvUnit>();
            while (true)
            {
                int n = chain.Count + 1;
                var unit = Unit(conv, $"{prefix}conv{n}", $"{prefix}bn{n}");
                chain.Add(unit);
                var next = _consumers[unit.Output].ToList();
                if (next.Count == 1 && next[0].OpType == "Add")
                    return chain;
                var relu = Next(unit.Output, "Relu", "a ReLU or the residual Add");
                conv = Single(relu.Output[0], "Conv", "the block's next convolution (Conv)");
                if (chain.Count == 3)
                    throw Mismatch(conv, "is a fourth convolution in a block; basic blocks have two, bottleneck blocks three");
            }
        }

        /// <summary>The block's layout from its convolutions' shapes and strides.</summary>
        private BlockLayout Describe(List<ConvUnit> chain, ConvUnit? projection, int index, NodeProto add)
        {
            long[] kernels = chain.Select(u => WeightShape(u.Conv)[2]).ToArray();
            var kind = kernels.SequenceEqual(new long[] { 3, 3 }) ? ResidualBlockKind.Basic
                : kernels.SequenceEqual(new long[] { 1, 3, 1 }) ? ResidualBlockKind.Bottleneck
                : throw Mismatch(chain[0].Conv, $"starts a block of {string.Join(", ", kernels.Select(k => $"{k}×{k}"))} convolutions; expected 3×3, 3×3 or 1×1, 3×3, 1×1");
            if (_kind != null && _kind != kind)
                throw Mismatch(chain[0].Conv, $"starts a {kind} block after {_kind} blocks; one network has one kind");
            _kind = kind;
            int strided = kind == ResidualBlockKind.Basic ? 0 : 1;
            int stride = Stride(chain[strided].Conv);
            for (int i = 0; i < chain.Count; i++)
            {
                var conv = chain[i].Conv;
                long[] w = WeightShape(conv);
                if (w[2] != w[3] || (i != strided && Stride(conv) != 1))
                    throw Mismatch(conv, $"is a {w[2]}×{w[3]} convolution with stride {Stride(conv)}; only the {(strided == 0 ? "first" : "3×3")} convolution of a block may stride" +
                                         (i == 0 && kind == ResidualBlockKind.Bottleneck ? " (ResNet v1 strides the first 1×1; torchvision's v1.5 the 3×3)" : ""));
                if (Group(conv) != 1 && !(kind == ResidualBlockKind.Bottleneck && i == 1))
                    throw Mismatch(conv, $"is grouped ({Group(conv)}); only a bottleneck's 3×3 convolution may be");
                Padding(conv, (int)w[2], Stride(conv));
            }
            long[] first = WeightShape(chain[0].Conv), middle = WeightShape(chain[strided == 0 ? 0 : 1].Conv), last = WeightShape(chain[^1].Conv);
            int inChannels = (int)first[1], outChannels = (int)last[0];
            if (projection != null)
                CheckProjection(projection, inChannels, outChannels, stride);
            else if (stride != 1 || inChannels != outChannels)
                throw Mismatch(add, $"adds block {index}'s input unchanged to a branch of stride {stride} and {outChannels} channels from {inChannels}; that needs a projection");
            int stage = _blocks.Count == 0 ? 0 : _blocks[^1].Stage + (stride != 1 || projection != null ? 1 : 0);
            return new BlockLayout(stage, inChannels, (int)middle[0], outChannels, stride, Group(chain[strided == 0 ? 0 : 1].Conv), projection != null);
        }

        private void CheckProjection(ConvUnit projection, int inChannels, int outChannels, int stride)
        {
            long[] w = WeightShape(projection.Conv);
            if (w[2] != 1 || w[3] != 1 || w[0] != outChannels || w[1] != inChannels || Stride(projection.Conv) != stride || Group(projection.Conv) != 1)
                throw Mismatch(projection.Conv, $"is a shortcut of {w[1]} → {w[0]} channels, kernel {w[2]}×{w[3]}, stride {Stride(projection.Conv)}; " +
                                                $"expected a 1×1 projection of {inChannels} → {outChannels} with stride {stride}");
            Padding(projection.Conv, 1, stride);
        }

        /// <summary>The conv and the BatchNormalization after it, if any (a folded export has none).</summary>
        private ConvUnit Unit(NodeProto conv, string key, string normKey)
        {
            Take(conv);
            if (conv.Input.Count < 2 || Initializer(conv.Input[1]) is not { } weight || weight.Dims.Count != 4)
                throw Mismatch(conv, "has no 4-D weight initializer");
            if (conv.Input.Count == 3 && Initializer(conv.Input[2]) == null)
                throw Mismatch(conv, "has a bias that is not an initializer");
            if (Ints(conv, "dilations").Any(d => d != 1))
                throw Mismatch(conv, "is dilated; the family's convolutions are not");
            var next = _consumers[conv.Output[0]].ToList();
            if (next.Count == 1 && next[0].OpType == "BatchNormalization")
            {
                var norm = Take(next[0]);
                if (norm.Input.Count != 5 || norm.Input.Skip(1).Any(i => Initializer(i) == null))
                    throw Mismatch(norm, "is a BatchNormalization whose scale, bias, mean and variance are not all initializers");
                var unit = new ConvUnit(key, normKey, conv, norm, norm.Output[0]);
                _units.Add(unit);
                return unit;
            }
            var folded = new ConvUnit(key, normKey, conv, null, conv.Output[0]);
            _units.Add(folded);
            return folded;
        }

        private bool FeedsAdd(NodeProto conv)
        {
            var next = _consumers[conv.Output[0]].ToList();
            if (next.Count == 1 && next[0].OpType == "BatchNormalization")
                next = _consumers[next[0].Output[0]].ToList();
            return next.Count == 1 && next[0].OpType == "Add";
        }

        private static bool IsGlobalPool(NodeProto node) => node.OpType is "GlobalAveragePool" or "AveragePool";

        /// <summary>The pool and every node downstream of it (dropped).</summary>
        private IReadOnlyList<string> Head(NodeProto pool)
        {
            var head = new List<string>();
            var queue = new Queue<NodeProto>(new[] { pool });
            while (queue.Count > 0)
            {
                var node = queue.Dequeue();
                if (!_walked.Add(node))
                    continue;
                if (node != pool)
                    head.Add(node.OpType);
                foreach (var output in node.Output)
                    foreach (var consumer in _consumers[output])
                        queue.Enqueue(consumer);
            }
            return head;
        }

        private NodeProto Next(string value, string opType, string what)
        {
            var node = Single(value, opType, what);
            return Take(node);
        }

        /// <summary>The one consumer of <paramref name="value"/>, which must be <paramref name="opType"/>.</summary>
        private NodeProto Single(string value, string opType, string what)
        {
            var nodes = _consumers[value].ToList();
            if (nodes.Count == 1 && nodes[0].OpType == opType)
                return nodes[0];
            if (nodes.Count == 0)
                throw Mismatch($"'{value}' ends the graph where {what} should follow");
            var wrong = nodes.FirstOrDefault(n => n.OpType != opType) ?? nodes[1];
            throw Mismatch(wrong, $"reads '{value}' where {what} should be" + (nodes.Count > 1 ? $" ({nodes.Count} nodes read it, one should)" : ""));
        }

        private NodeProto Take(NodeProto node)
        {
            if (!_walked.Add(node))
                throw Mismatch(node, "is reached twice by the walk");
            return node;
        }

        private long[] WeightShape(NodeProto conv) => Initializer(conv.Input[1])!.Dims.ToArray();

        private static int Stride(NodeProto node)
        {
            var s = Ints(node, "strides");
            return s.Count == 0 ? 1 : s[0] == s[^1] ? (int)s[0] : -1;
        }

        private static int Group(NodeProto conv) => (int)(conv.Attribute.FirstOrDefault(a => a.Name == "group")?.I ?? 1);

        /// <summary>
        /// The symmetric padding k/2 the family uses. ONNX pads are (top, left, bottom, right); CNTK pads one less at the end
        /// of a stride-2 layer ((3, 3, 2, 2) for 7×7/2), which reads the same pixels at even input sizes.
        /// </summary>
        private int Padding(NodeProto node, int kernel, int stride)
        {
            var autoPad = node.Attribute.FirstOrDefault(a => a.Name == "auto_pad");
            if (autoPad != null && autoPad.S.ToStringUtf8() is { Length: > 0 } mode && mode != "NOTSET")
                throw Mismatch(node, $"uses auto_pad {mode}; expected explicit pads");
            var pads = Ints(node, "pads");
            long[] p = pads.Count == 4 ? pads.ToArray() : new long[4];
            int begin = kernel / 2;
            bool fits = p[0] == begin && p[1] == begin && p[2] == p[3] && (p[2] == begin || (stride == 2 && p[2] == begin - 1));
            if (!fits || stride < 1)
                throw Mismatch(node, $"has pads ({string.Join(", ", p)}) and strides ({string.Join(", ", Ints(node, "strides"))}); expected {begin} on each side of a {kernel}×{kernel} window, equal strides");
            return begin;
        }

        private static string Name(NodeProto node) => node.Name.Length > 0 ? node.Name : node.Output.FirstOrDefault() ?? "";
    }
}
