using System;
using System.IO;
using FluentAssertions;
using Google.Protobuf;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Onnx
{
    /// <summary>A model file is input from outside: OnnxModelFile refuses what is not a whole, self-contained ONNX model.</summary>
    [TestClass]
    public sealed class OnnxModelFileTests
    {
        private const string Fix = "Point PretrainedModelPath at the model.";

        [TestMethod]
        public void Read_of_a_whole_model_returns_its_graph()
        {
            string path = Write(SmallModel().ToByteArray());

            ModelProto model = OnnxModelFile.Read(path, Fix);

            model.Graph.Initializer[0].FloatData.Should().Equal(1f, 2f, 3f, 4f, 5f, 6f);
            model.Graph.Node[0].OpType.Should().Be("MatMul");
        }

        [TestMethod]
        public void Read_of_a_missing_file_names_it()
        {
            string path = Path.Combine(Path.GetTempPath(), Guid.NewGuid() + ".onnx");

            Action read = () => OnnxModelFile.Read(path, Fix);

            read.Should().Throw<FileNotFoundException>().WithMessage($"*'{path}' does not exist*{Fix}");
        }

        [TestMethod]
        public void Read_refuses_a_file_that_is_not_onnx()
        {
            string path = Write(System.Text.Encoding.UTF8.GetBytes("<html>404 Not Found</html>\n"));

            Action read = () => OnnxModelFile.Read(path, Fix);

            read.Should().Throw<InvalidDataException>().WithMessage($"'{path}' is not an ONNX model, or is truncated or damaged*{Fix}");
        }

        [TestMethod]
        public void Read_refuses_an_empty_file()
        {
            string path = Write(Array.Empty<byte>());

            Action read = () => OnnxModelFile.Read(path, Fix);

            read.Should().Throw<InvalidDataException>().WithMessage($"'{path}' is empty*");
        }

        [TestMethod]
        public void Read_refuses_a_truncated_model()
        {
            byte[] whole = SmallModel().ToByteArray();
            string path = Write(whole.AsSpan(0, whole.Length - 7).ToArray());

            Action read = () => OnnxModelFile.Read(path, Fix);

            read.Should().Throw<InvalidDataException>().WithMessage("*truncated*");
        }

        [TestMethod]
        public void Parse_refuses_a_model_without_nodes()
        {
            var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "empty" } };

            Action parse = () => OnnxModelFile.Parse(model.ToByteArray(), "the resource", Fix);

            parse.Should().Throw<InvalidDataException>().WithMessage("the resource holds no ONNX graph*");
        }

        [TestMethod]
        public void Parse_refuses_weights_kept_in_an_external_file()
        {
            var model = SmallModel();
            var weight = model.Graph.Initializer[0];
            weight.FloatData.Clear();
            weight.DataLocation = TensorProto.Types.DataLocation.External;
            weight.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "model.onnx.data" });

            Action parse = () => OnnxModelFile.Parse(model.ToByteArray(), "m", Fix);

            parse.Should().Throw<InvalidDataException>()
                .WithMessage("m keeps the values of initializer 'w' in model.onnx.data (external data), which is not supported*save_as_external_data=False*");
        }

        [TestMethod]
        public void Parse_refuses_a_tensor_whose_values_disagree_with_its_shape()
        {
            var model = SmallModel();
            model.Graph.Initializer[0].Dims[1] = 30; // [2, 30] = 60 values, 6 stored

            Action parse = () => OnnxModelFile.Parse(model.ToByteArray(), "m", Fix);

            parse.Should().Throw<InvalidDataException>().WithMessage("m declares initializer 'w' as shape [2, 30] (60 values) but stores 6 values*");
        }

        [TestMethod]
        public void Parse_refuses_raw_data_that_is_not_a_whole_number_of_elements()
        {
            var model = SmallModel();
            var weight = model.Graph.Initializer[0];
            weight.FloatData.Clear();
            weight.RawData = ByteString.CopyFrom(new byte[23]); // 5.75 floats

            Action parse = () => OnnxModelFile.Parse(model.ToByteArray(), "m", Fix);

            parse.Should().Throw<InvalidDataException>().WithMessage("*(6 values) but stores -1 values in raw_data*");
        }

        [TestMethod]
        public void Parse_refuses_a_constant_node_whose_tensor_disagrees_with_its_shape()
        {
            var model = SmallModel();
            var value = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 4 } };
            value.Int64Data.Add(new long[] { 1, 2 });
            model.Graph.Node.Add(new NodeProto
            {
                OpType = "Constant", Name = "shape_const", Output = { "s" },
                Attribute = { new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = value } },
            });

            Action parse = () => OnnxModelFile.Parse(model.ToByteArray(), "m", Fix);

            parse.Should().Throw<InvalidDataException>().WithMessage("m declares the value of node 'shape_const' (Constant) as shape [4] (4 values) but stores 2*");
        }

        [TestMethod]
        public void Parse_refuses_a_shape_with_more_values_than_a_file_can_hold()
        {
            var model = SmallModel();
            model.Graph.Initializer[0].Dims.Clear();
            model.Graph.Initializer[0].Dims.Add(new long[] { 1L << 32, 1L << 32 }); // overflows a long when multiplied out

            Action parse = () => OnnxModelFile.Parse(model.ToByteArray(), "m", Fix);

            parse.Should().Throw<InvalidDataException>().WithMessage("*more values than a model file can hold*");
        }

        [TestMethod]
        public void Parse_refuses_a_negative_dimension()
        {
            var model = SmallModel();
            model.Graph.Initializer[0].Dims[0] = -2;

            Action parse = () => OnnxModelFile.Parse(model.ToByteArray(), "m", Fix);

            parse.Should().Throw<InvalidDataException>().WithMessage("*negative dimension (-2)*");
        }

        [TestMethod]
        public void Parse_of_a_length_meant_to_exhaust_memory_fails_without_allocating_it()
        {
            // A model whose graph → initializer → float_data claim 1.5 GB in a 40-byte message.
            const int claimed = 1_500_000_000;
            var floats = Field(4, Varint(claimed));                       // packed float_data, length only
            var initializer = Concat(Field(5, Varint(claimed + floats.Length)), floats);
            var bytes = Concat(Field(7, Varint(claimed + initializer.Length)), initializer);
            long before = GC.GetAllocatedBytesForCurrentThread();

            Action parse = () => OnnxModelFile.Parse(bytes, "m", Fix);

            parse.Should().Throw<InvalidDataException>().WithMessage("m is not an ONNX model, or is truncated*");
            (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(16L << 20, "the declared 1.5 GB must never be allocated");
        }

        /// <summary>y = x · w with w a float32 [2, 3] initializer stored in float_data.</summary>
        private static ModelProto SmallModel()
        {
            var weight = new TensorProto { Name = "w", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 2, 3 } };
            weight.FloatData.Add(new[] { 1f, 2f, 3f, 4f, 5f, 6f });
            var graph = new GraphProto
            {
                Name = "small",
                Node = { new NodeProto { OpType = "MatMul", Name = "mm", Input = { "x", "w" }, Output = { "y" } } },
                Initializer = { weight },
                Input = { new ValueInfoProto { Name = "x" } },
                Output = { new ValueInfoProto { Name = "y" } },
            };
            return new ModelProto { IrVersion = 8, Graph = graph, OpsetImport = { new OperatorSetIdProto { Version = 17 } } };
        }

        private static string Write(byte[] bytes)
        {
            string path = Path.Combine(Path.GetTempPath(), $"onnx-model-file-{Guid.NewGuid():N}.onnx");
            File.WriteAllBytes(path, bytes);
            return path;
        }

        /// <summary>A length-delimited field's key (wire type 2) followed by <paramref name="rest"/>.</summary>
        private static byte[] Field(int number, byte[] rest) => Concat(Varint((number << 3) | 2), rest);

        private static byte[] Varint(long value)
        {
            var bytes = new System.Collections.Generic.List<byte>();
            do
            {
                byte b = (byte)(value & 0x7F);
                value >>= 7;
                bytes.Add(value != 0 ? (byte)(b | 0x80) : b);
            }
            while (value != 0);
            return bytes.ToArray();
        }

        private static byte[] Concat(byte[] a, byte[] b)
        {
            var all = new byte[a.Length + b.Length];
            a.CopyTo(all, 0);
            b.CopyTo(all, a.Length);
            return all;
        }
    }
}
