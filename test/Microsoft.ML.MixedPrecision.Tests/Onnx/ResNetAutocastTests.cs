using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Onnx
{
    /// <summary>The network's forward/backward under libtorch CPU bfloat16 autocast, as the AMP trainer runs it.</summary>
    [TestClass]
    public sealed class ResNetAutocastTests
    {
        [TestMethod]
        public void Forward_UnderBFloat16Autocast_RecordsBFloat16Activation()
        {
            using ResNet model = new ResNet(1, 10, ResNetArchitecture.ResNetSmall);
            using var scope = torch.NewDisposeScope();
            using (new Microsoft.ML.MixedPrecision.Amp.Autocast(TorchSharp.DeviceType.CPU, TorchSharp.torch.ScalarType.BFloat16))
                model.forward(torch.rand(2, 1, 28, 28));

            model.LastActivationDType.Should().Be(ScalarType.BFloat16);
        }

        [TestMethod]
        public void Forward_WithoutAutocast_RecordsFloat32Activation()
        {
            using ResNet model = new ResNet(1, 10, ResNetArchitecture.ResNetSmall);
            using var scope = torch.NewDisposeScope();
            model.forward(torch.rand(2, 1, 28, 28));

            model.LastActivationDType.Should().Be(ScalarType.Float32);
            Microsoft.ML.MixedPrecision.Amp.Autocast.IsEnabled(TorchSharp.DeviceType.CPU).Should().BeFalse();
        }

        [TestMethod]
        public void Forward_UnderBFloat16Autocast_GivesFloatCastableLogits()
        {
            using ResNet model = new ResNet(3, 7, ResNetArchitecture.ResNet18);
            using var scope = torch.NewDisposeScope();
            Tensor logits;
            using (new Microsoft.ML.MixedPrecision.Amp.Autocast(TorchSharp.DeviceType.CPU, TorchSharp.torch.ScalarType.BFloat16))
                logits = model.forward(torch.rand(2, 3, 96, 96));

            Tensor asFloat = logits.to(ScalarType.Float32);
            asFloat.shape.Should().Equal(2, 7);
            asFloat.isfinite().all().item<bool>().Should().BeTrue();
        }

        [TestMethod]
        public void Backward_AfterBFloat16Autocast_GivesFloat32GradientsOnFloat32Parameters()
        {
            using ResNet model = new ResNet(1, 10, ResNetArchitecture.ResNetSmall);
            model.train();
            using var scope = torch.NewDisposeScope();
            Tensor loss;
            using (new Microsoft.ML.MixedPrecision.Amp.Autocast(TorchSharp.DeviceType.CPU, TorchSharp.torch.ScalarType.BFloat16))
            {
                Tensor logits = model.forward(torch.rand(4, 1, 28, 28));
                loss = nn.functional.cross_entropy(logits.to(ScalarType.Float32), torch.tensor(new long[] { 0, 1, 2, 3 }));
            }
            loss.backward();

            foreach (Parameter p in model.parameters())
            {
                p.dtype.Should().Be(ScalarType.Float32);
                p.grad.Should().NotBeNull();
                p.grad.dtype.Should().Be(ScalarType.Float32);
                p.grad.isfinite().all().item<bool>().Should().BeTrue();
            }
        }

        [TestMethod]
        public void Forward_ChannelsLastInput_MatchesContiguousInput()
        {
            using ResNet model = new ResNet(3, 10, ResNetArchitecture.ResNetSmall);
            model.eval();
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            Tensor x = torch.rand(2, 3, 32, 32);
            // NCHW shape with NHWC strides: what channels_last memory format produces.
            Tensor channelsLast = ChannelsLast.Copy(x);
            channelsLast.is_contiguous().Should().BeFalse();

            (model.forward(channelsLast) - model.forward(x)).abs().max().item<float>().Should().BeLessThan(1e-4f);
        }

        [TestMethod]
        public void ResNetSmall_HasThreeStagesOf32To128ChannelsAndKnownSize()
        {
            using ResNet model = new ResNet(1, 10, ResNetArchitecture.ResNetSmall);

            model.FeatureCount.Should().Be(128);
            model.parameters().Sum(p => p.numel()).Should().Be(ResNetSmallParameters);
            model.modules().OfType<MaxPool2d>().Should().BeEmpty();
        }

        [TestMethod]
        public void ResNet18_HasTorchvisionParameterCount()
        {
            using ResNet model = new ResNet(3, 1000, ResNetArchitecture.ResNet18);

            model.parameters().Sum(p => p.numel()).Should().Be(11_689_512); // torchvision resnet18()
        }

        [TestMethod]
        public void SetInputNormalization_SurvivesCastToBFloat16()
        {
            using ResNet model = new ResNet(3, 10, ResNetArchitecture.ResNetSmall);
            model.SetInputNormalization(new[] { 0.25f, 0.5f, 0.75f }, new[] { 0.5f });
            model.to(ScalarType.BFloat16);

            (float[] mean, float[] std) = model.GetInputNormalization();

            mean.Should().Equal(0.25f, 0.5f, 0.75f);
            std.Should().Equal(0.5f, 0.5f, 0.5f);
            model.named_buffers().Where(b => b.name.StartsWith("normalize.")).Should().OnlyContain(b => b.buffer.dtype == ScalarType.BFloat16);
        }

        // stem 288 + 64, stage1 37,120, stage2 131,712, stage3 525,568, head 1,290 (1 input channel, 10 classes).
        private const long ResNetSmallParameters = 696_042;
    }
}
