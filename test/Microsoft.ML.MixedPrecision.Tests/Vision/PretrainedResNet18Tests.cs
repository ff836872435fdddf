using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FashionMnist;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.ML.MixedPrecision.Training.Precision;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.ML.MixedPrecision.Vision.Pretrained;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Vision
{
    /// <summary>CNTK's ImageNet ResNet18 from Microsoft.ML.DnnImageFeaturizer.ResNet18, imported and fine-tuned.</summary>
    [TestClass]
    public class PretrainedResNet18Tests
    {
        private static string WeightsPath => PretrainedResNet18File.Find()
            ?? throw new AssertFailedException("The test build references Microsoft.ML.DnnImageFeaturizer.ResNet18: its ResNet18.onnx must be found.");

        /// <summary>Real photos-like inputs: Fashion-MNIST images (Debian's dataset-fashion-mnist, installed by the test command) and the Debian logo, at 224 × 224.</summary>
        private static List<float[]> RealImages(string folder, int size)
        {
            var paths = FashionMnistImages.Prepare("t10k", folder, 5).Select(f => f.ImagePath).ToList();
            if (File.Exists("/usr/share/pixmaps/debian-logo.png"))
                paths.Add("/usr/share/pixmaps/debian-logo.png");
            var images = new List<float[]>();
            foreach (string path in paths)
            {
                using var image = MLImage.CreateFromStream(File.OpenRead(path));
                images.Add(PlanarRgb(image, size));
            }
            return images;
        }

        /// <summary>Nearest-neighbour resize to size × size, planar R, G, B in [0, 1].</summary>
        private static float[] PlanarRgb(MLImage image, int size)
        {
            var pixels = image.Pixels;
            int bpp = image.BitsPerPixel / 8;
            bool bgr = image.PixelFormat == MLPixelFormat.Bgra32;
            var planes = new float[3 * size * size];
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++)
                {
                    int sx = x * image.Width / size, sy = y * image.Height / size;
                    int o = (sy * image.Width + sx) * bpp;
                    for (int c = 0; c < 3; c++)
                        planes[c * size * size + y * size + x] = pixels[o + (bgr ? 2 - c : c)] / 255f;
                }
            return planes;
        }

        [TestMethod]
        public void Imported_backbone_gives_the_features_onnx_runtime_gives_on_real_images()
        {
            string folder = Path.Combine(Path.GetTempPath(), "mp-pretrained-" + Guid.NewGuid().ToString("N"));
            try
            {
                var images = RealImages(folder, 224);
                images.Count.Should().BeGreaterThan(4);
                using var model = ResNetOnnxImport.Load(WeightsPath, 4, null, PretrainedResNet18File.Fix).Model;
                model.eval();
                using var session = new InferenceSession(WeightsPath);
                using var runOptions = new RunOptions();
                string input = session.InputMetadata.Keys.Single(), output = session.OutputMetadata.Keys.Single();
                var bgrMeans = ImageInputConvention.Cntk.Mean;
                double worst = 0;
                foreach (float[] rgb in images)
                {
                    // The network's own convention: B, G, R planes in 0–255 minus the channel means.
                    var bgr = new DenseTensor<float>(new[] { 1, 3, 224, 224 });
                    int plane = 224 * 224;
                    for (int c = 0; c < 3; c++)
                        for (int i = 0; i < plane; i++)
                            bgr.Buffer.Span[c * plane + i] = 255f * rgb[(2 - c) * plane + i] - bgrMeans[c];
                    using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor(input, bgr) });
                    float[] expected = results.Single(r => r.Name == output).AsEnumerable<float>().ToArray();

                    using var scope = NewDisposeScope();
                    using var noGrad = no_grad();
                    float[] actual = model.Features(tensor(rgb, new long[] { 1, 3, 224, 224 })).data<float>().ToArray();
                    actual.Should().HaveCount(512);
                    expected.Should().HaveCount(512);
                    worst = Math.Max(worst, actual.Zip(expected, (a, e) => Math.Abs(a - e)).Max());
                    expected.Max().Should().BeGreaterThan(0.1f, "real images give non-trivial features");
                }
                worst.Should().BeLessThanOrEqualTo(1e-4);
            }
            finally
            {
                if (Directory.Exists(folder))
                    Directory.Delete(folder, recursive: true);
            }
        }

        [TestMethod]
        public void Channel_means_are_those_of_the_packages_mean_image()
        {
            string prep = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(WeightsPath)), "ResNetPrepOnnx", "ResNetPreprocess.onnx");
            var graph = Microsoft.ML.MixedPrecision.Export.Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(prep)).Graph;
            var mean = graph.Initializer.Single(t => t.Dims.SequenceEqual(new long[] { 1, 3, 224, 224 }));
            float[] values = mean.RawData.Length > 0 ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(mean.RawData.Span).ToArray() : mean.FloatData.ToArray();
            int plane = 224 * 224;
            // The mean image and the convention's means are both in the network's B, G, R order.
            for (int c = 0; c < 3; c++)
                ((double)values.Skip(c * plane).Take(plane).Average()).Should().BeApproximately(ImageInputConvention.Cntk.Mean[c], 0.01);
        }

        [TestMethod]
        public void Missing_weights_file_names_the_file_and_the_package()
        {
            Action load = () => ResNetOnnxImport.Load("/nonexistent/ResNet18.onnx", 2, null, PretrainedResNet18File.Fix);
            load.Should().Throw<FileNotFoundException>().Which.Message.Should()
                .Contain("/nonexistent/ResNet18.onnx").And.Contain("Microsoft.ML.DnnImageFeaturizer.ResNet18").And.Contain("PretrainedModelPath");
        }

        [TestMethod]
        public void Truncated_weights_file_is_refused_naming_the_file_and_the_package()
        {
            string path = Path.GetTempFileName();
            try
            {
                using (var source = File.OpenRead(WeightsPath))
                using (var target = File.Create(path))
                {
                    var head = new byte[1 << 20];
                    source.ReadExactly(head);
                    target.Write(head);
                }
                Action load = () => ResNetOnnxImport.Load(path, 2, null, PretrainedResNet18File.Fix);
                load.Should().Throw<InvalidDataException>().Which.Message.Should().Contain(path).And.Contain("Microsoft.ML.DnnImageFeaturizer.ResNet18");
            }
            finally
            {
                File.Delete(path);
            }
        }

        [TestMethod]
        public void A_different_onnx_network_is_refused_with_what_differs()
        {
            string path = Path.GetTempFileName();
            try
            {
                using (var other = new ResNet(3, 5, ResNetArchitecture.ResNet18))
                    File.WriteAllBytes(path, ImageClassifierOnnx.ExportWithSoftmax(other, 64, 64, "pixels", "probs"));
                Action load = () => ResNetOnnxImport.Load(path, 2, null, PretrainedResNet18File.Fix);
                load.Should().Throw<InvalidDataException>().Which.Message.Should()
                    .Contain(path).And.Contain("is not a ResNet-family network").And.Contain("(Sub)", "the exported graph starts by normalizing its input")
                    .And.Contain("Microsoft.ML.DnnImageFeaturizer.ResNet18");
            }
            finally
            {
                File.Delete(path);
            }
        }

        [TestMethod]
        public void Frozen_backbone_training_changes_only_the_head()
        {
            using var images = new SyntheticImages(24, size: 32, seed: 21, color: true);
            var ml = new MLContext(1);
            var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(images.Rows)).Transform(ml.Data.LoadFromEnumerable(images.Rows));
            var options = new ImageClassificationTrainer.Options
            {
                FeatureColumnName = "ImageSource", Backbone = BackboneTraining.Frozen, Epochs = 2, BatchSize = 8, ImageHeight = 64, ImageWidth = 64,
            };
            var image = new ImageInputOptions { ColumnName = "ImageSource", Width = 64, Height = 64, Channels = 3 };
            using var log = new TrainingLog(ml, "test");
            using var steps = new PretrainedImageFitSteps(options, ml, image, ImageAugmentation.None, WeightsPath, log);
            var train = steps.Read(data, "training data");
            using var model = (ResNet)steps.CreateModel(train, classCount: 3);
            model.Head.weight.shape.Should().Equal(3, 512);
            var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            using var precision = PrecisionResolver.Float32();
            var summary = steps.Train(new FitContext(options, precision, CPU, log, seed: 5, classCount: 3, epochs: options.Epochs ?? 10), model, train, null);
            summary.EpochsRun.Should().Be(2);

            var after = model.state_dict();
            foreach (var (key, value) in before)
            {
                bool same = value.allclose(after[key], rtol: 0, atol: 0);
                if (key.StartsWith("fc."))
                    same.Should().BeFalse($"{key} is the head, which trains");
                else
                    same.Should().BeTrue($"{key} belongs to the frozen backbone (weights and BatchNorm statistics)");
                value.Dispose();
            }
        }

        [TestMethod]
        public void Auto_fine_tunes_the_pretrained_network_on_small_data_and_scores_after_save_and_load()
        {
            using var images = new SyntheticImages(30, size: 32, seed: 22, color: true);
            var ml = new MLContext(1);
            var raw = ml.Data.LoadFromEnumerable(images.Rows);
            var logs = new List<string>();
            ml.Log += (_, e) => { if (e.Message.Contains("Architecture Auto")) lock (logs) logs.Add(e.Message); };
            var model = ml.Transforms.Conversion.MapValueToKey("Label")
                .Append(ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
                {
                    FeatureColumnName = "ImageSource", HeadOnlyEpochs = 1, Epochs = 1, BatchSize = 8, ImageHeight = 64, ImageWidth = 64,
                    ValidationSetFraction = 0.2, Seed = 3,
                }).WithMixedPrecision(new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16 })) // Auto is Float32 on a CPU without bf16
                .Fit(raw);
            var trainer = ((IEnumerable<ITransformer>)model).OfType<ImageClassificationTransformer>().Single();
            trainer.Architecture.Should().Be(ResNetArchitecture.PretrainedResNet18);
            logs.Should().ContainSingle().Which.Should().Contain("PretrainedResNet18").And.Contain("ResNet18.onnx");
            trainer.Summary.EpochsRun.Should().Be(2, "one head-only epoch, then one of all layers");
            trainer.Summary.Epochs.Select(e => e.Epoch).Should().Equal(1, 2);
            trainer.Summary.Epochs.Should().OnlyContain(e => e.ValidationMacroAccuracy.HasValue);
            trainer.Summary.ObservedActivationType.Should().Be("BFloat16");
            trainer.ClassNames.Should().HaveCount(3);

            string zip = Path.Combine(images.Folder, "pretrained.zip");
            ml.Model.Save(model, raw.Schema, zip);
            var loaded = new MLContext(2).Model.Load(zip, out _);
            var expected = model.Transform(raw).GetColumn<float[]>("Score").ToList();
            var actual = loaded.Transform(raw).GetColumn<float[]>("Score").ToList();
            actual.Should().BeEquivalentTo(expected, o => o.WithStrictOrdering());
            expected[0].Should().HaveCount(3);
        }

        [TestMethod]
        public void By_default_the_pretrained_fit_holds_nothing_out_and_from_scratch_holds_out_a_tenth()
        {
            using var images = new SyntheticImages(30, size: 32, seed: 23, color: true);
            TrainingSummary Fit(ResNetArchitecture architecture, List<string> logs)
            {
                var ml = new MLContext(1);
                ml.Log += (_, e) => { if (e.Message.Contains("Validation: none")) lock (logs) logs.Add(e.Message); };
                var raw = ml.Data.LoadFromEnumerable(images.Rows);
                var model = ml.Transforms.Conversion.MapValueToKey("Label")
                    .Append(ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
                    {
                        FeatureColumnName = "ImageSource", Architecture = architecture, HeadOnlyEpochs = 1, Epochs = 1, BatchSize = 8,
                        ImageHeight = 64, ImageWidth = 64, Seed = 3,
                    }).WithMixedPrecision())
                    .Fit(raw);
                return (((IEnumerable<ITransformer>)model).OfType<ImageClassificationTransformer>().Single()).Summary;
            }

            var pretrainedLogs = new List<string>();
            var pretrained = Fit(ResNetArchitecture.PretrainedResNet18, pretrainedLogs);
            pretrained.Epochs.Should().OnlyContain(e => !e.ValidationMacroAccuracy.HasValue, "no rows were held out");
            pretrained.BestEpoch.Should().BeNull("the last epoch is kept");
            pretrainedLogs.Should().ContainSingle().Which.Should().Contain("all 30 rows").And.Contain("ValidationSetFraction");

            var scratchLogs = new List<string>();
            var scratch = Fit(ResNetArchitecture.ResNetTiny, scratchLogs);
            scratch.Epochs.Should().OnlyContain(e => e.ValidationMacroAccuracy.HasValue, "a tenth was held out for validation");
            scratchLogs.Should().BeEmpty();
        }

        [TestMethod]
        public void By_default_only_the_fine_tune_on_images_larger_than_64_px_crops()
        {
            string AugmentationLog(int size, ResNetArchitecture architecture, BackboneTraining backbone, double? minCropArea = null)
            {
                using var images = new SyntheticImages(12, size: size, seed: 29, color: true);
                var ml = new MLContext(1);
                var logs = new List<string>();
                ml.Log += (_, e) => { if (e.Message.Contains("training augmentation:")) lock (logs) logs.Add(e.Message); };
                ml.Transforms.Conversion.MapValueToKey("Label")
                    .Append(ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
                    {
                        FeatureColumnName = "ImageSource", Architecture = architecture, Backbone = backbone, HeadOnlyEpochs = 1, Epochs = 1,
                        BatchSize = 6, ImageHeight = 64, ImageWidth = 64, Seed = 3, AugmentationMinCropArea = minCropArea,
                    }).WithMixedPrecision())
                    .Fit(ml.Data.LoadFromEnumerable(images.Rows));
                return logs.Should().ContainSingle().Subject;
            }

            const string Crop = "random-resized crop (25–100 % of the area)";
            AugmentationLog(96, ResNetArchitecture.PretrainedResNet18, BackboneTraining.FineTune).Should().Contain(Crop);
            AugmentationLog(64, ResNetArchitecture.PretrainedResNet18, BackboneTraining.FineTune).Should().NotContain("crop", "64 px images are small");
            AugmentationLog(96, ResNetArchitecture.PretrainedResNet18, BackboneTraining.Frozen).Should().NotContain("crop");
            AugmentationLog(96, ResNetArchitecture.ResNetTiny, BackboneTraining.FineTune).Should().NotContain("crop", "not measured from scratch");
            AugmentationLog(96, ResNetArchitecture.ResNetTiny, BackboneTraining.FineTune, minCropArea: 0.5).Should().Contain("random-resized crop (50–100 % of the area)");
        }
    }
}
