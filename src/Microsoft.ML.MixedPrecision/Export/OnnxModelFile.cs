using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Google.Protobuf;
using Microsoft.ML.MixedPrecision.Export.Proto;

namespace Microsoft.ML.MixedPrecision.Export
{
    /// <summary>
    /// Reads an ONNX model that comes from outside (a user's file, a package's resource) as untrusted input. It refuses,
    /// with an <see cref="InvalidDataException"/> that names the source, the tensor or node and the fix:
    /// <list type="bullet">
    /// <item>a file that is empty or larger than protobuf's 2 GiB message limit;</item>
    /// <item>bytes that are not an ONNX model, or a truncated one;</item>
    /// <item>a model without a graph or nodes;</item>
    /// <item>weights stored as external data (a file beside the model), which this library does not read;</item>
    /// <item>a tensor whose stored values disagree with its declared shape (negative dimensions, or a product that
    /// overflows, or more or fewer values than the shape says).</item>
    /// </list>
    /// The checks run before anything is allocated by size: the parser reads from one array, so a declared length that
    /// runs past the end of the bytes fails instead of allocating it, and every later copy of a tensor is sized by values
    /// that are really in the file.
    /// </summary>
    internal static class OnnxModelFile
    {
        /// <summary>The largest model file read: protobuf's limit on one message.</summary>
        public const long MaxBytes = int.MaxValue;

        /// <summary>Reads and checks the ONNX model at <paramref name="path"/>; <paramref name="fix"/> ends every message.</summary>
        public static ModelProto Read(string path, string fix)
        {
            if (!File.Exists(path))
                throw new FileNotFoundException($"The ONNX model '{path}' does not exist. {fix}", path);
            long length = new FileInfo(path).Length;
            if (length > MaxBytes)
                throw new InvalidDataException(
                    $"'{path}' is {length:N0} bytes; an ONNX model file is at most 2 GiB (protobuf's limit). Larger models keep their " +
                    $"weights as external data, which is not supported. {fix}");
            return Parse(File.ReadAllBytes(path), $"'{path}'", fix);
        }

        /// <summary>Parses and checks an ONNX model held in memory; <paramref name="source"/> names it in messages.</summary>
        public static ModelProto Parse(byte[] bytes, string source, string fix)
        {
            if (bytes.Length == 0)
                throw Refuse(source, "is empty", fix);
            ModelProto model;
            try
            {
                model = ModelProto.Parser.ParseFrom(bytes);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new InvalidDataException($"{source} is not an ONNX model, or is truncated or damaged ({e.Message}). {fix}", e);
            }
            if (model.Graph == null || model.Graph.Node.Count == 0)
                throw Refuse(source, "holds no ONNX graph (no nodes); it is not an ONNX model, or is damaged", fix);
            foreach (var (tensor, owner) in Tensors(model.Graph))
                CheckTensor(tensor, owner, source, fix);
            return model;
        }

        /// <summary>The graph's initializers and the tensors inside its nodes' attributes (Constant values), with where each is.</summary>
        private static IEnumerable<(TensorProto Tensor, string Owner)> Tensors(GraphProto graph)
        {
            foreach (TensorProto initializer in graph.Initializer)
                yield return (initializer, $"initializer '{initializer.Name}'");
            foreach (NodeProto node in graph.Node)
                foreach (AttributeProto attribute in node.Attribute.Where(a => a.T != null))
                    yield return (attribute.T, $"the {attribute.Name} of node '{NodeName(node)}' ({node.OpType})");
        }

        private static void CheckTensor(TensorProto tensor, string owner, string source, string fix)
        {
            if (tensor.DataLocation == TensorProto.Types.DataLocation.External || tensor.ExternalData.Count > 0)
            {
                string file = tensor.ExternalData.FirstOrDefault(e => e.Key == "location")?.Value ?? "another file";
                throw Refuse(source, $"keeps the values of {owner} in {file} (external data), which is not supported; save the model " +
                                     "as one file (in Python: onnx.save_model(model, path, save_as_external_data=False), for models under 2 GiB)", fix);
            }
            long declared = DeclaredElements(tensor, owner, source, fix);
            long stored = StoredElements(tensor, out string storage);
            if (stored != declared)
                throw Refuse(source, $"declares {owner} as shape [{string.Join(", ", tensor.Dims)}] ({declared:N0} values) but stores " +
                                     $"{stored:N0} values in {storage}", fix);
        }

        /// <summary>The product of the dimensions; refuses negative dimensions and products past what a file can hold.</summary>
        private static long DeclaredElements(TensorProto tensor, string owner, string source, string fix)
        {
            long product = 1;
            foreach (long dim in tensor.Dims)
            {
                if (dim < 0)
                    throw Refuse(source, $"declares {owner} with a negative dimension ({dim})", fix);
                if (dim != 0 && product > MaxBytes / dim)
                    throw Refuse(source, $"declares {owner} as shape [{string.Join(", ", tensor.Dims)}], more values than a model file can hold", fix);
                product *= dim;
            }
            return product;
        }

        /// <summary>How many values the tensor really holds, from raw_data (by element size) or the typed field its type uses.</summary>
        private static long StoredElements(TensorProto tensor, out string storage)
        {
            var type = (TensorProto.Types.DataType)tensor.DataType;
            int size = ElementSize(type);
            if (tensor.RawData.Length > 0 && size > 0)
            {
                storage = "raw_data";
                return tensor.RawData.Length % size == 0 ? tensor.RawData.Length / size : -1;
            }
            storage = "its typed values";
            return type switch
            {
                TensorProto.Types.DataType.Float => tensor.FloatData.Count,
                TensorProto.Types.DataType.Double => tensor.DoubleData.Count,
                TensorProto.Types.DataType.Int64 => tensor.Int64Data.Count,
                TensorProto.Types.DataType.Uint32 or TensorProto.Types.DataType.Uint64 => tensor.Uint64Data.Count,
                TensorProto.Types.DataType.String => tensor.StringData.Count,
                _ => tensor.Int32Data.Count, // int32, int16, int8, uint16, uint8, bool, float16, bfloat16
            };
        }

        private static int ElementSize(TensorProto.Types.DataType type) => type switch
        {
            TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Uint32 => 4,
            TensorProto.Types.DataType.Double or TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Uint64 => 8,
            TensorProto.Types.DataType.Int16 or TensorProto.Types.DataType.Uint16 or TensorProto.Types.DataType.Float16
                or TensorProto.Types.DataType.Bfloat16 => 2,
            TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Bool => 1,
            _ => 0, // strings have no raw form
        };

        private static string NodeName(NodeProto node) => node.Name.Length > 0 ? node.Name : node.Output.FirstOrDefault() ?? "";

        private static InvalidDataException Refuse(string source, string what, string fix) => new($"{source} {what}. {fix}");
    }
}
