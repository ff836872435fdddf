using System;
using System.Collections.Generic;
using System.Linq;
using Google.Protobuf;
using Microsoft.ML.MixedPrecision.Export.Proto;

namespace Microsoft.ML.MixedPrecision.Export
{
    /// <summary>
    /// Final touches on a network + <see cref="ClassificationHead"/> ONNX model so that <c>ApplyOnnxModel</c> yields clean
    /// ML.NET columns: ONNX value names become column names, so the single graph input is renamed to the column that
    /// feeds it and the head outputs to the score / temporary index columns; every other graph output is removed; and a
    /// <c>mlnet.{score}.SlotNames</c> LabelEncoder node is added — the convention ML.NET's own ONNX exporter uses and
    /// that OnnxTransformer reads back as the SlotNames annotation of the output column.
    /// </summary>
    internal static class ScoringOnnxModel
    {
        public const string MlOpsetDomain = "ai.onnx.ml";

        public static byte[] Prepare(byte[] onnxModel, string inputColumnName, string scoreColumnName, string indexColumnName,
            IReadOnlyList<string> classNames)
        {
            if (onnxModel == null || onnxModel.Length == 0)
                throw new ArgumentException("The ONNX model is empty.", nameof(onnxModel));
            ModelProto model = ModelProto.Parser.ParseFrom(onnxModel);
            GraphProto graph = model.Graph ?? throw new ArgumentException("The ONNX model has no graph.", nameof(onnxModel));

            var initializers = new HashSet<string>(graph.Initializer.Select(t => t.Name), StringComparer.Ordinal);
            var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
            if (inputs.Count != 1)
                throw new ArgumentException($"The ONNX model must have exactly one graph input; it has {inputs.Count} ({string.Join(", ", inputs.Select(i => i.Name))}).", nameof(onnxModel));

            ValueInfoProto? probabilities = graph.Output.FirstOrDefault(o => o.Name == ClassificationHead.ProbabilitiesName);
            ValueInfoProto? index = graph.Output.FirstOrDefault(o => o.Name == ClassificationHead.PredictedIndexName);
            if (probabilities == null || index == null)
                throw new ArgumentException("The ONNX model has no classification head outputs; call ClassificationHead.Append before exporting.", nameof(onnxModel));
            var probabilityDims = probabilities.Type?.TensorType?.Shape?.Dim;
            if (probabilityDims == null || probabilityDims.Count != 1 || probabilityDims[0].DimValue != classNames.Count)
                throw new ArgumentException($"The ONNX probabilities output must have shape [{classNames.Count}] (one slot per class of the label).", nameof(onnxModel));

            // Only the two head outputs become columns.
            graph.Output.Clear();
            graph.Output.Add(probabilities);
            graph.Output.Add(index);

            var taken = AllValueNames(graph);
            Rename(graph, taken, inputs[0].Name, inputColumnName);
            Rename(graph, taken, ClassificationHead.ProbabilitiesName, scoreColumnName);
            Rename(graph, taken, ClassificationHead.PredictedIndexName, indexColumnName);

            AddSlotNames(model, taken, scoreColumnName, classNames);
            return model.ToByteArray();
        }

        private static HashSet<string> AllValueNames(GraphProto graph)
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var n in graph.Node)
            {
                names.UnionWith(n.Input);
                names.UnionWith(n.Output);
                names.Add(n.Name);
            }
            names.UnionWith(graph.Initializer.Select(t => t.Name));
            names.UnionWith(graph.Input.Select(i => i.Name));
            names.UnionWith(graph.Output.Select(i => i.Name));
            names.Remove("");
            return names;
        }

        private static void Rename(GraphProto graph, HashSet<string> taken, string from, string to)
        {
            if (string.IsNullOrEmpty(to))
                throw new ArgumentException("Column names must not be empty.");
            if (from == to)
                return;
            if (taken.Contains(to))
                throw new ArgumentException($"Cannot name the ONNX value '{from}' '{to}': the graph already uses that name.");
            foreach (var node in graph.Node)
            {
                for (int i = 0; i < node.Input.Count; i++)
                    if (node.Input[i] == from)
                        node.Input[i] = to;
                for (int i = 0; i < node.Output.Count; i++)
                    if (node.Output[i] == from)
                        node.Output[i] = to;
            }
            foreach (var v in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo))
                if (v.Name == from)
                    v.Name = to;
            taken.Remove(from);
            taken.Add(to);
        }

        /// <summary>Same shape as ML.NET's exporter: an unused LabelEncoder whose keys_strings are the slot names.</summary>
        private static void AddSlotNames(ModelProto model, HashSet<string> taken, string columnName, IReadOnlyList<string> slotNames)
        {
            GraphProto graph = model.Graph;
            string nodeName = $"mlnet.{columnName}.SlotNames";
            string input = $"mlnet.{columnName}.unusedInput";
            string output = $"mlnet.{columnName}.unusedOutput";
            foreach (string name in new[] { nodeName, input, output })
                if (taken.Contains(name))
                    throw new ArgumentException($"The ONNX graph already uses the name '{name}'.");

            var one = new TensorProto { Name = input, DataType = (int)TensorProto.Types.DataType.String };
            one.Dims.Add(new long[] { 1, 1 });
            one.StringData.Add(ByteString.CopyFromUtf8("one"));
            graph.Initializer.Add(one);

            var node = new NodeProto { Name = nodeName, OpType = "LabelEncoder", Domain = MlOpsetDomain };
            node.Input.Add(input);
            node.Output.Add(output);
            var keys = new AttributeProto { Name = "keys_strings", Type = AttributeProto.Types.AttributeType.Strings };
            keys.Strings.AddRange(slotNames.Select(ByteString.CopyFromUtf8));
            var values = new AttributeProto { Name = "values_int64s", Type = AttributeProto.Types.AttributeType.Ints };
            values.Ints.AddRange(Enumerable.Range(0, slotNames.Count).Select(i => (long)i));
            node.Attribute.Add(keys);
            node.Attribute.Add(values);
            node.Attribute.Add(new AttributeProto { Name = "default_int64", Type = AttributeProto.Types.AttributeType.Int, I = -1 });
            graph.Node.Add(node);

            // Declared as a graph output (OnnxTransformer skips outputs named mlnet.*.unusedOutput) so that nothing prunes the node.
            var tensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Int64, Shape = new TensorShapeProto() };
            tensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 1 });
            tensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 1 });
            graph.Output.Add(new ValueInfoProto { Name = output, Type = new TypeProto { TensorType = tensorType } });

            var ml = model.OpsetImport.FirstOrDefault(o => o.Domain == MlOpsetDomain);
            if (ml == null)
                model.OpsetImport.Add(new OperatorSetIdProto { Domain = MlOpsetDomain, Version = 2 });
            else if (ml.Version < 2)
                ml.Version = 2;
        }
    }
}
