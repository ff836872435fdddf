using System;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static Microsoft.ML.MixedPrecision.Tests.Onnx.ResNetTestSupport;

namespace Microsoft.ML.MixedPrecision.Tests.Onnx
{
    /// <summary>ONNX Runtime on the exported graph must reproduce TorchSharp's FP32 eval logits.</summary>
    [TestClass]
    public sealed class ResNetOnnxParityTests
    {
        private const float Tolerance = 1e-4f;

        [TestMethod]
        public void ResNetSmall_Gray28_Batch1_OnnxMatchesTorch() => AssertParity(ResNetArchitecture.ResNetSmall, 1, 28, 1, false);

        [TestMethod]
        public void ResNetSmall_Rgb32_Batch1_OnnxMatchesTorch() => AssertParity(ResNetArchitecture.ResNetSmall, 3, 32, 1, false);

        [TestMethod]
        public void ResNet18_Rgb64_Batch1_OnnxMatchesTorch() => AssertParity(ResNetArchitecture.ResNet18, 3, 64, 1, false);

        [TestMethod]
        public void ResNetSmall_Gray28_SymbolicBatch4_OnnxMatchesTorch() => AssertParity(ResNetArchitecture.ResNetSmall, 1, 28, 4, true);

        [TestMethod]
        public void ResNetSmall_Rgb32_SymbolicBatch4_OnnxMatchesTorch() => AssertParity(ResNetArchitecture.ResNetSmall, 3, 32, 4, true);

        [TestMethod]
        public void ResNet18_Rgb64_SymbolicBatch4_OnnxMatchesTorch() => AssertParity(ResNetArchitecture.ResNet18, 3, 64, 4, true);

        [TestMethod]
        public void SymbolicBatchGraph_AcceptsBatch1AsWell() => AssertParity(ResNetArchitecture.ResNetSmall, 1, 28, 1, true);

        private static void AssertParity(ResNetArchitecture architecture, int channels, int size, int batch, bool symbolicBatch)
        {
            const int classes = 10;
            using ResNet model = CreateRandomized(channels, classes, architecture, seed: 17 + channels + size);
            long[] shape = { batch, channels, size, size };
            float[] pixels = RandomPixels(seed: 5, shape);

            float[] expected = TorchLogits(model, pixels, shape);
            float[] actual = RunOnnx(ExportLogits(model, channels, size, symbolicBatch), pixels, shape, "logits");

            actual.Should().HaveCount(batch * classes);
            // Guards against a vacuous pass (e.g. everything collapsing to zero).
            expected.Max(Math.Abs).Should().BeGreaterThan(0.1f);
            Console.WriteLine($"max |logit| {expected.Max(Math.Abs):G4}, max diff {MaxAbsDiff(expected, actual):G3}");
            MaxAbsDiff(expected, actual).Should().BeLessThanOrEqualTo(Tolerance);
        }
    }
}
