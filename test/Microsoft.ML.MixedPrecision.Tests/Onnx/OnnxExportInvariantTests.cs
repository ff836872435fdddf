using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using TorchSharp.Modules;
using static Microsoft.ML.MixedPrecision.Tests.Onnx.ResNetTestSupport;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Onnx
{
    /// <summary>Properties of the exported graph that the ML.NET scoring side relies on.</summary>
    [TestClass]
    public sealed class OnnxExportInvariantTests
    {
        [TestMethod]
        public void Export_OfBFloat16CastModel_StoresOnlyFloat32Initializers()
        {
            using ResNet model = CreateRandomized(1, 10, ResNetArchitecture.ResNetSmall, seed: 3);
            model.to(ScalarType.BFloat16);
            model.parameters().First().dtype.Should().Be(ScalarType.BFloat16, "the precondition is a bf16 model");

            ModelProto onnx = ModelProto.Parser.ParseFrom(ExportLogits(model, 1, 28, symbolicBatch: false));

            onnx.Graph.Initializer.Should().NotBeEmpty();
            onnx.Graph.Initializer.Select(t => (TensorProto.Types.DataType)t.DataType).Distinct()
                .Should().Equal(TensorProto.Types.DataType.Float);
        }

        [TestMethod]
        public void Export_OfBFloat16CastModel_MatchesTheSameWeightsInFloat32()
        {
            using ResNet model = CreateRandomized(1, 10, ResNetArchitecture.ResNetSmall, seed: 4);
            model.to(ScalarType.BFloat16);
            byte[] onnx = ExportLogits(model, 1, 28, symbolicBatch: false);
            model.to(ScalarType.Float32); // bf16 → fp32 is exact, so these are the weights the graph should hold.

            long[] shape = { 1, 1, 28, 28 };
            float[] pixels = RandomPixels(seed: 8, shape);
            MaxAbsDiff(TorchLogits(model, pixels, shape), RunOnnx(onnx, pixels, shape, "logits")).Should().BeLessThanOrEqualTo(1e-4f);
        }

        [TestMethod]
        public void Export_AfterBFloat16AutocastTraining_MatchesTorchEval()
        {
            using ResNet model = CreateRandomized(1, 10, ResNetArchitecture.ResNetSmall, seed: 6);
            TrainSteps(model, steps: 2);

            long[] shape = { 2, 1, 28, 28 };
            float[] pixels = RandomPixels(seed: 9, shape);
            byte[] onnx = ExportLogits(model, 1, 28, symbolicBatch: true);
            model.eval();
            MaxAbsDiff(TorchLogits(model, pixels, shape), RunOnnx(onnx, pixels, shape, "logits")).Should().BeLessThanOrEqualTo(1e-4f);
        }

        [TestMethod]
        public void Export_OfTrainingModel_LeavesItTraining()
        {
            using ResNet model = CreateRandomized(1, 10, ResNetArchitecture.ResNetSmall, seed: 1);
            model.train();

            ImageClassifierOnnx.Build(model, 1, 28, 28, InputName, out _);

            model.training.Should().BeTrue();
            model.modules().All(m => m.training).Should().BeTrue();
        }

        [TestMethod]
        public void Export_OfEvalModel_LeavesItInEval()
        {
            using ResNet model = CreateRandomized(1, 10, ResNetArchitecture.ResNetSmall, seed: 1);
            model.eval();

            ImageClassifierOnnx.Build(model, 1, 28, 28, InputName, out _);

            model.modules().Any(m => m.training).Should().BeFalse();
        }

        [TestMethod]
        public void Export_KeepsPerModuleTrainingFlags()
        {
            using ResNet model = CreateRandomized(1, 10, ResNetArchitecture.ResNetSmall, seed: 1);
            model.train();
            BatchNorm2d frozen = model.modules().OfType<BatchNorm2d>().First();
            frozen.eval();

            ImageClassifierOnnx.Build(model, 1, 28, 28, InputName, out _);

            frozen.training.Should().BeFalse();
            model.modules().Where(m => !ReferenceEquals(m, frozen)).Should().OnlyContain(m => m.training);
        }

        [TestMethod]
        public void Export_OfTrainingModel_UsesRunningStatisticsNotBatchStatistics()
        {
            // In training mode BN would normalize by batch statistics; the graph must hold the running ones.
            using ResNet model = CreateRandomized(3, 10, ResNetArchitecture.ResNetSmall, seed: 2);
            model.train();
            byte[] onnx = ExportLogits(model, 3, 32, symbolicBatch: false);

            model.eval();
            long[] shape = { 1, 3, 32, 32 };
            float[] pixels = RandomPixels(seed: 10, shape);
            MaxAbsDiff(TorchLogits(model, pixels, shape), RunOnnx(onnx, pixels, shape, "logits")).Should().BeLessThanOrEqualTo(1e-4f);
        }

        [TestMethod]
        public void Build_DeclaresFixedBatchInputOfOne()
        {
            using ResNet model = CreateRandomized(3, 10, ResNetArchitecture.ResNetSmall, seed: 1);
            OnnxGraphBuilder graph = ImageClassifierOnnx.Build(model, 3, 32, 40, "Image", out string logits);

            ValueInfoProto input = graph.ToModel().Graph.Input.Single();
            input.Name.Should().Be("Image");
            input.Type.TensorType.ElemType.Should().Be((int)TensorProto.Types.DataType.Float);
            input.Type.TensorType.Shape.Dim.Select(d => d.DimValue).Should().Equal(1, 3, 32, 40);
            logits.Should().NotBeNullOrEmpty();
            graph.ToModel().Graph.Output.Should().BeEmpty("the caller declares the outputs");
        }

        [TestMethod]
        public void Build_WithSymbolicBatch_DeclaresBatchDimensionN()
        {
            using ResNet model = CreateRandomized(1, 10, ResNetArchitecture.ResNetSmall, seed: 1);
            OnnxGraphBuilder graph = ImageClassifierOnnx.Build(model, 1, 28, 28, "Image", out _, symbolicBatch: true);

            TensorShapeProto.Types.Dimension batch = graph.ToModel().Graph.Input.Single().Type.TensorType.Shape.Dim[0];
            batch.DimParam.Should().Be("N");
        }

        [TestMethod]
        public void Build_ExportsInputNormalizationValues()
        {
            using ResNet model = CreateRandomized(3, 10, ResNetArchitecture.ResNetSmall, seed: 1);
            model.SetInputNormalization(new[] { 0.485f, 0.456f, 0.406f }, new[] { 0.229f, 0.224f, 0.225f });

            GraphProto graph = ImageClassifierOnnx.Build(model, 3, 32, 32, InputName, out _).ToModel().Graph;

            graph.Node[0].OpType.Should().Be("Sub");
            graph.Node[0].Input[0].Should().Be(InputName);
            graph.Node[1].OpType.Should().Be("Div");
            InitializerValues(graph, graph.Node[0].Input[1]).Should().Equal(0.485f, 0.456f, 0.406f);
            InitializerValues(graph, graph.Node[1].Input[1]).Should().Equal(0.229f, 0.224f, 0.225f);
        }

        [TestMethod]
        public void ExportWithSoftmax_OutputsProbabilitiesUnderTheRequestedName()
        {
            using ResNet model = CreateRandomized(1, 10, ResNetArchitecture.ResNetSmall, seed: 12);
            byte[] onnx = ImageClassifierOnnx.ExportWithSoftmax(model, 28, 28, InputName, "Probabilities", symbolicBatch: true);
            long[] shape = { 3, 1, 28, 28 };
            float[] pixels = RandomPixels(seed: 13, shape);

            float[] probs = RunOnnx(onnx, pixels, shape, "Probabilities");

            float[] expected;
            using (var scope = torch.NewDisposeScope())
            {
                Tensor logits = torch.tensor(TorchLogits(model, pixels, shape), new long[] { 3, 10 });
                expected = nn.functional.softmax(logits, 1).data<float>().ToArray();
            }
            MaxAbsDiff(expected, probs).Should().BeLessThanOrEqualTo(1e-5f);
            for (int row = 0; row < 3; row++)
                probs.Skip(row * 10).Take(10).Sum().Should().BeApproximately(1f, 1e-5f);
        }

        [TestMethod]
        public void Build_RejectsChannelCountTheModelDoesNotTake()
        {
            using ResNet model = CreateRandomized(1, 10, ResNetArchitecture.ResNetSmall, seed: 1);
            FluentActions.Invoking(() => ImageClassifierOnnx.Build(model, 3, 28, 28, InputName, out _))
                .Should().Throw<System.ArgumentException>();
        }

        private static float[] InitializerValues(GraphProto graph, string name)
        {
            TensorProto t = graph.Initializer.Single(i => i.Name == name);
            return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();
        }

        // A couple of SGD steps under bf16 autocast: moves weights and BN running statistics like real training.
        private static void TrainSteps(ResNet model, int steps)
        {
            model.train();
            using var optimizer = optim.SGD(model.parameters(), learningRate: 0.05, momentum: 0.9);
            for (int step = 0; step < steps; step++)
            {
                using var scope = torch.NewDisposeScope();
                Tensor x = torch.rand(8, 1, 28, 28);
                Tensor y = torch.randint(0, 10, new long[] { 8 }, dtype: ScalarType.Int64);
                optimizer.zero_grad();
                Tensor loss;
                using (new Microsoft.ML.MixedPrecision.Amp.Autocast(TorchSharp.DeviceType.CPU, TorchSharp.torch.ScalarType.BFloat16))
                {
                    Tensor logits = model.forward(x);
                    loss = nn.functional.cross_entropy(logits.to(ScalarType.Float32), y);
                }
                loss.backward();
                optimizer.step();
            }
        }
    }
}
