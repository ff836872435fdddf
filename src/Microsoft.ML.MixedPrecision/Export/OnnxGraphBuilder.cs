using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.ML.MixedPrecision.Export.Proto;

namespace Microsoft.ML.MixedPrecision.Export
{
    /// <summary>
    /// Builds an ONNX inference graph node by node and serializes it. Value names are made unique by
    /// <see cref="UniqueName"/>; initializers hold FP32 weights copied out of the trained network.
    /// </summary>
    internal sealed class OnnxGraphBuilder
    {
        /// <summary>ONNX IR version and opsets this library targets (ONNX Runtime 1.31 reads them all).</summary>
        public const long IrVersion = 9;
        public const long DefaultOpset = 20;

        private readonly GraphProto _graph = new GraphProto();
        private readonly Dictionary<string, long> _opsets = new Dictionary<string, long> { [""] = DefaultOpset };
        private readonly HashSet<string> _names = new HashSet<string>(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _metadata = new Dictionary<string, string>(StringComparer.Ordinal);

        public OnnxGraphBuilder(string graphName)
        {
            _graph.Name = graphName ?? "graph";
        }

        /// <summary>Returns <paramref name="hint"/>, or <paramref name="hint"/>_N when taken, and reserves it.</summary>
        public string UniqueName(string hint)
        {
            string name = hint;
            for (int i = 1; !_names.Add(name); i++)
                name = hint + "_" + i;
            return name;
        }

        /// <summary>Declares that nodes of <paramref name="domain"/> are used, at <paramref name="version"/>.</summary>
        public void UseOpset(string domain, long version)
        {
            if (!_opsets.TryGetValue(domain, out long v) || v < version)
                _opsets[domain] = version;
        }

        public void AddMetadata(string key, string value) => _metadata[key] = value;

        /// <summary>Declares a graph input. A dimension given as null becomes a symbolic dimension named <c>dimNames</c>.</summary>
        public string AddInput(string name, TensorProto.Types.DataType type, long?[] shape, string?[]? symbolicNames = null)
        {
            if (!_names.Add(name))
                throw new InvalidOperationException($"ONNX value '{name}' is already defined.");
            _graph.Input.Add(ValueInfo(name, type, shape, symbolicNames));
            return name;
        }

        /// <summary>Declares an existing value as a graph output.</summary>
        public void AddOutput(string name, TensorProto.Types.DataType type, long?[] shape, string?[]? symbolicNames = null)
            => _graph.Output.Add(ValueInfo(name, type, shape, symbolicNames));

        /// <summary>Adds an FP32 constant tensor (weights) and returns its value name.</summary>
        public string AddInitializer(string hint, float[] data, params long[] dims)
        {
            CheckCount(data.Length, dims, hint);
            var t = new TensorProto { Name = UniqueName(hint), DataType = (int)TensorProto.Types.DataType.Float };
            t.Dims.AddRange(dims);
            t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan()));
            _graph.Initializer.Add(t);
            return t.Name;
        }

        /// <summary>Adds an INT64 constant tensor (shapes, axes, indices) and returns its value name.</summary>
        public string AddInitializer(string hint, long[] data, params long[] dims)
        {
            CheckCount(data.Length, dims, hint);
            var t = new TensorProto { Name = UniqueName(hint), DataType = (int)TensorProto.Types.DataType.Int64 };
            t.Dims.AddRange(dims);
            t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan()));
            _graph.Initializer.Add(t);
            return t.Name;
        }

        /// <summary>Adds a STRING constant tensor and returns its value name.</summary>
        public string AddInitializer(string hint, string[] data, params long[] dims)
        {
            CheckCount(data.Length, dims, hint);
            var t = new TensorProto { Name = UniqueName(hint), DataType = (int)TensorProto.Types.DataType.String };
            t.Dims.AddRange(dims);
            t.StringData.AddRange(data.Select(ByteString.CopyFromUtf8));
            _graph.Initializer.Add(t);
            return t.Name;
        }

        /// <summary>
        /// Adds a node. Output value names are made unique from <paramref name="outputHints"/> unless
        /// <paramref name="exactOutputNames"/> is set (used for graph outputs whose names ML.NET turns into columns).
        /// </summary>
        public string[] AddNode(string opType, string[] inputs, string[] outputHints, IEnumerable<AttributeProto>? attributes = null,
            string domain = "", bool exactOutputNames = false)
        {
            var node = new NodeProto { OpType = opType, Domain = domain ?? "", Name = UniqueName("node_" + opType) };
            node.Input.AddRange(inputs);
            var outputs = new string[outputHints.Length];
            for (int i = 0; i < outputs.Length; i++)
            {
                if (exactOutputNames)
                {
                    if (!_names.Add(outputHints[i]))
                        throw new InvalidOperationException($"ONNX value '{outputHints[i]}' is already defined.");
                    outputs[i] = outputHints[i];
                }
                else
                {
                    outputs[i] = UniqueName(outputHints[i]);
                }
            }
            node.Output.AddRange(outputs);
            if (attributes != null)
                node.Attribute.AddRange(attributes);
            _graph.Node.Add(node);
            return outputs;
        }

        /// <summary>Single-output convenience over <see cref="AddNode(string,string[],string[],IEnumerable{AttributeProto},string,bool)"/>.</summary>
        public string Add(string opType, string outputHint, string[] inputs, params AttributeProto[] attributes)
            => AddNode(opType, inputs, new[] { outputHint }, attributes)[0];

        public static AttributeProto Attr(string name, long value)
            => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

        public static AttributeProto Attr(string name, float value)
            => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

        public static AttributeProto Attr(string name, string value)
            => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

        public static AttributeProto Attr(string name, params long[] values)
        {
            var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
            a.Ints.AddRange(values);
            return a;
        }

        public static AttributeProto Attr(string name, float[] values)
        {
            var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
            a.Floats.AddRange(values);
            return a;
        }

        public static AttributeProto Attr(string name, string[] values)
        {
            var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Strings };
            a.Strings.AddRange(values.Select(ByteString.CopyFromUtf8));
            return a;
        }

        public ModelProto ToModel(string producerVersion = "0.1.0")
        {
            var model = new ModelProto
            {
                IrVersion = IrVersion,
                ProducerName = "Microsoft.ML.MixedPrecision",
                ProducerVersion = producerVersion,
                Graph = _graph,
            };
            foreach (var kv in _opsets)
                model.OpsetImport.Add(new OperatorSetIdProto { Domain = kv.Key, Version = kv.Value });
            foreach (var kv in _metadata)
                model.MetadataProps.Add(new StringStringEntryProto { Key = kv.Key, Value = kv.Value });
            return model;
        }

        public byte[] ToBytes() => ToModel().ToByteArray();

        private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, long?[] shape, string?[]? symbolicNames)
        {
            var tensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = new TensorShapeProto() };
            for (int i = 0; i < shape.Length; i++)
            {
                var dim = new TensorShapeProto.Types.Dimension();
                if (shape[i].HasValue)
                    dim.DimValue = shape[i]!.Value;
                else
                    dim.DimParam = symbolicNames != null && i < symbolicNames.Length && symbolicNames[i] != null ? symbolicNames[i]! : "d" + i;
                tensorType.Shape.Dim.Add(dim);
            }
            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensorType } };
        }

        private static void CheckCount(int count, long[] dims, string hint)
        {
            long expected = dims.Aggregate(1L, (a, b) => a * b);
            if (expected != count)
                throw new ArgumentException($"Initializer '{hint}' has {count} values but its shape holds {expected}.");
        }
    }
}
