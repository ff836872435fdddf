using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Vision
{
    /// <summary>The trainer lays convolution weights out channels_last (NHWC) for speed; nothing else may change.</summary>
    [TestClass]
    public sealed class ResNetChannelsLastTests
    {
        [TestMethod]
        public void ChannelsLast_relays_every_conv_weight_in_place_without_changing_values_or_parameters()
        {
            manual_seed(5);
            using var model = new ResNet(3, 10, ResNetArchitecture.ResNetSmall);
            var before = model.parameters().ToArray();
            var values = model.modules().OfType<Conv2d>().Select(c => c.weight.detach().clone()).ToArray();

            model.SetChannelsLast(true);

            model.parameters().ToArray().Should().Equal(before, (a, b) => ReferenceEquals(a, b), "the optimizer holds these objects");
            var convs = model.modules().OfType<Conv2d>().ToArray();
            for (int i = 0; i < convs.Length; i++)
            {
                var w = convs[i].weight;
                if (w.shape[1] > 1 && w.shape[2] * w.shape[3] > 1)
                    w.is_contiguous().Should().BeFalse($"conv {i} should be NHWC");
                w.stride(1).Should().Be(1, $"conv {i}: channels are the innermost dimension in NHWC");
                w.allclose(values[i], rtol: 0, atol: 0).Should().BeTrue($"conv {i} keeps its values");
            }

            model.SetChannelsLast(false);
            foreach (var (conv, value) in model.modules().OfType<Conv2d>().Zip(values))
            {
                conv.weight.is_contiguous().Should().BeTrue();
                conv.weight.allclose(value, rtol: 0, atol: 0).Should().BeTrue();
            }
        }

        [TestMethod]
        public void ChannelsLast_model_computes_the_same_logits_and_gradients_in_nhwc()
        {
            manual_seed(6);
            using var reference = new ResNet(1, 4, ResNetArchitecture.ResNetTiny);
            using var nhwc = new ResNet(1, 4, ResNetArchitecture.ResNetTiny);
            nhwc.load_state_dict(reference.state_dict());
            nhwc.SetChannelsLast(true);
            using var scope = NewDisposeScope();
            var x = rand(4, 1, 12, 12);
            var y = tensor(new long[] { 0, 1, 2, 3 });

            var lossReference = nn.functional.cross_entropy(reference.forward(x), y);
            var lossNhwc = nn.functional.cross_entropy(nhwc.forward(x), y);
            lossReference.backward();
            lossNhwc.backward();

            lossNhwc.item<float>().Should().BeApproximately(lossReference.item<float>(), 1e-5f);
            foreach (var (a, b) in reference.modules().OfType<Conv2d>().Zip(nhwc.modules().OfType<Conv2d>()))
            {
                (a.weight.grad - b.weight.grad).abs().max().item<float>().Should().BeLessThan(1e-4f);
                if (b.weight.shape[1] > 1 && b.weight.shape[2] > 1)
                    b.weight.grad.stride(1).Should().Be(1, "gradients follow the weights' NHWC layout");
            }
        }

        [TestMethod]
        public void Bfloat16_autocast_convolution_with_nhwc_weights_outputs_nhwc()
        {
            using var model = new ResNet(1, 10, ResNetArchitecture.ResNetTiny);
            model.SetChannelsLast(true);
            var conv = model.modules().OfType<Conv2d>().First(c => c.weight.shape[1] == 16 && c.weight.shape[2] == 3); // a 16 → 16 3×3 conv
            using var scope = NewDisposeScope();
            Tensor output;
            using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
                output = conv.forward(rand(2, 16, 8, 8)); // an ordinary NCHW input

            output.dtype.Should().Be(ScalarType.BFloat16);
            output.stride(1).Should().Be(1, "oneDNN follows the weights into NHWC, so the layers after it stay NHWC");
        }

        [TestMethod]
        public void One_channel_stem_runs_nhwc_so_no_layer_after_it_converts_layouts()
        {
            // The stem's [32, 1, 3, 3] weight counts as contiguous in both layouts: a permute → contiguous copy kept NCHW
            // strides, libtorch ran the stem in NCHW and every later activation of the first stage took a conversion.
            using var model = new ResNet(1, 10, ResNetArchitecture.ResNetSmall);
            model.SetChannelsLast(true);
            var stem = model.modules().OfType<Conv2d>().First();
            stem.weight.shape[1].Should().Be(1);
            ChannelsLast.Has(stem.weight).Should().BeTrue("the stem's weight carries NHWC strides, as torch.channels_last gives");
            using var scope = NewDisposeScope();
            var input = rand(2, 1, 8, 8); // ordinary contiguous pixels
            foreach (bool amp in new[] { false, true })
            {
                Tensor output;
                using (amp ? new Autocast(DeviceType.CPU, ScalarType.BFloat16) : null)
                    output = stem.forward(input);
                output.stride(1).Should().Be(1, $"the stem's output is NHWC (amp: {amp})");
            }

            model.SetChannelsLast(false);
            stem.weight.stride().Should().Equal(new long[] { 9, 9, 3, 1 }, "back to plain NCHW strides for the export");
        }
    }
}
