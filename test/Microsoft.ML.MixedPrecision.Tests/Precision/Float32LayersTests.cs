using System;
using System.Collections.Generic;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Tests.Text;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.ML.MixedPrecision.Text.Pretrained;
using Microsoft.ML.MixedPrecision.Training.Precision;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Precision
{
    /// <summary><see cref="MixedPrecisionOptions.Float32Layers"/>: every layer name a network has is honoured, the named layers
    /// compute in float32 under autocast with their gradients flowing, and a wrong name fails with the names there are.</summary>
    [TestClass]
    public class Float32LayersTests
    {
        private static readonly (string Name, Func<nn.Module<Tensor, Tensor>> Create, Func<Tensor> Input)[] Networks =
        {
            ("ResNetTiny", () => new ResNet(3, 4, ResNetArchitecture.ResNetTiny), () => rand(2, 3, 32, 32)),
            ("PretrainedResNet18", () => new ResNet(3, 4, ResNetArchitecture.PretrainedResNet18), () => rand(1, 3, 16, 16)),
            ("scratch text", () => new TextTransformer(new TextTransformerShape
            {
                VocabularySize = 30, MaxLength = 8, Width = 32, Heads = 2, Layers = 2, FeedForward = 64, Dropout = 0.1, Classes = 3,
            }), () => randint(5, 30, new long[] { 2, 8 })),
            ("BERT", () => new BertClassifier(new BertShape
            {
                VocabularySize = 30, Width = 32, Heads = 2, Layers = 2, FeedForward = 64, MaxPositions = 16, Classes = 3, SepId = 3,
            }), () => randint(5, 30, new long[] { 2, 8 })),
        };

        [TestInitialize]
        public void Init()
        {
            TorchRuntime.EnsureAvailable();
            torch.manual_seed(11);
        }

        [TestMethod]
        public void Every_layer_a_network_names_runs_in_float32_when_it_is_listed()
        {
            foreach (var (network, create, input) in Networks)
            {
                using var model = create();
                model.train();
                var layers = model.named_modules().Where(m => m.name.Length > 0).ToList();
                layers.Should().NotBeEmpty();
                var watch = System.Diagnostics.Stopwatch.StartNew();
                foreach (var (name, _) in layers)
                {
                    using var scope = NewDisposeScope();
                    Float32Layers.Apply(model, new[] { name }, network).Should().Equal(name);
                    long before = LayerPrecision.Float32Runs;
                    using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
                        model.forward(input());
                    LayerPrecision.Float32Runs.Should().BeGreaterThan(before, $"{network}'s layer {name} is listed, so it (or a layer inside it) ran in float32");
                    foreach (var (_, layer) in layers)
                        LayerPrecision.Forget(layer);
                }
                Console.WriteLine($"{network}: {layers.Count} layers in {watch.Elapsed.TotalSeconds:F1} s");
            }
        }

        [TestMethod]
        public void A_listed_head_computes_in_float32_between_bfloat16_layers_and_every_weight_gets_a_gradient()
        {
            using var scope = NewDisposeScope();
            using var model = (TextTransformer)Networks[2].Create();
            var ids = Networks[2].Input();
            Tensor plain;
            using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
                plain = model.forward(ids);
            plain.dtype.Should().Be(ScalarType.BFloat16, "without the option the head's linear runs in bf16");

            Float32Layers.Apply(model, new[] { "head", "blocks.*.fc2" }, "scratch text").Should().BeEquivalentTo("blocks.0.fc2", "blocks.1.fc2", "head");
            Tensor logits;
            using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
                logits = model.forward(ids);
            logits.dtype.Should().Be(ScalarType.Float32);
            nn.functional.cross_entropy(logits, tensor(new long[] { 0, 2 })).backward();
            foreach (var (name, parameter) in model.named_parameters())
            {
                parameter.grad.Should().NotBeNull(name);
                parameter.grad!.isfinite().all().item<bool>().Should().BeTrue(name);
            }
            model.named_parameters().Where(p => p.name.StartsWith("blocks.0.", StringComparison.Ordinal))
                .Sum(p => p.parameter.grad!.abs().sum().item<float>()).Should().BeGreaterThan(0, "gradients flow through the float32 layers to the layers before");
        }

        [TestMethod]
        public void A_name_no_layer_has_fails_the_fit_with_the_names_there_are()
        {
            var ml = new MLContext(seed: 1);
            var options = TextClassificationTrainerTests.SmallOptions();
            options.Epochs = 1;
            var trainer = ml.MulticlassClassification.Trainers.TextClassification(options)
                .WithMixedPrecision(new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16, Float32Layers = { "head", "blocks.*.atention" } });
            Action fit = () => TextClassificationTrainerTests.Pipeline(ml, trainer).Fit(ml.Data.LoadFromEnumerable(SyntheticText.Sentences(30, seed: 1)));
            var error = fit.Should().Throw<ArgumentException>().Which;
            error.ParamName.Should().Be("Float32Layers");
            error.Message.Should().Contain("\"blocks.*.atention\"").And.Contain("blocks.0.attention").And.Contain("head").And.Contain("blocks.0.fc1");
        }

        [TestMethod]
        public void An_empty_name_or_a_null_list_is_refused_before_training()
        {
            new Action(() => new MixedPrecisionOptions { Float32Layers = { " " } }.Validate())
                .Should().Throw<ArgumentException>().Which.ParamName.Should().Be("Float32Layers");
            new Action(() => new MixedPrecisionOptions { Float32Layers = null! }.Validate())
                .Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("Float32Layers");
        }

        [TestMethod]
        public void A_fit_with_its_head_and_attention_in_float32_learns_as_well()
        {
            var ml = new MLContext(seed: 1);
            var train = ml.Data.LoadFromEnumerable(SyntheticText.Sentences(150, seed: 1));
            var test = ml.Data.LoadFromEnumerable(SyntheticText.Sentences(60, seed: 2));
            double Accuracy(params string[] float32Layers)
            {
                var amp = new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16 };
                foreach (string name in float32Layers)
                    amp.Float32Layers.Add(name);
                var options = TextClassificationTrainerTests.SmallOptions();
                options.Epochs = 4;
                var trainer = ml.MulticlassClassification.Trainers.TextClassification(options).WithMixedPrecision(amp);
                var model = TextClassificationTrainerTests.Pipeline(ml, trainer).Fit(train);
                return ml.MulticlassClassification.Evaluate(model.Transform(test)).MacroAccuracy;
            }
            double plain = Accuracy();
            double kept = Accuracy("head", "blocks.*.attention");
            Console.WriteLine($"macro accuracy: bf16 {plain:F3}, head and attention in float32 {kept:F3}");
            plain.Should().BeGreaterThan(0.9);
            kept.Should().BeGreaterThan(0.9);
        }
    }
}
