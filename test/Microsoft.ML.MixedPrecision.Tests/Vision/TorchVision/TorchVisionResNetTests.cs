using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Export.Proto;
using Microsoft.ML.MixedPrecision.Tests.Scoring;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.ML.MixedPrecision.Vision.Pretrained;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Microsoft.ML.MixedPrecision.Tests.Vision.TorchVision
{
    /// <summary>
    /// torchvision ResNets with random weights, exported to ONNX at test time by Debian's python3-torch 1.13 and
    /// python3-torchvision 0.14 (export_resnets.py: small widths, 64 px), imported into our ResNet and checked against
    /// ONNX Runtime on the same files.
    /// </summary>
    [TestClass]
    public sealed class TorchVisionResNetTests
    {
        private static string _folder = "";

        [ClassInitialize]
        public static void ExportTheNetworks(TestContext _)
        {
            _folder = Path.Combine(Path.GetTempPath(), "mp-torchvision-" + Guid.NewGuid().ToString("N"));
            string script = Path.Combine(AppContext.BaseDirectory, "Vision", "TorchVision", "export_resnets.py");
            var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(script);
            psi.ArgumentList.Add(_folder);
            using var python = Process.Start(psi)!;
            var stderr = python.StandardError.ReadToEndAsync();
            string stdout = python.StandardOutput.ReadToEnd();
            python.WaitForExit(120_000).Should().BeTrue("exporting the small ResNets takes seconds");
            python.ExitCode.Should().Be(0, $"export_resnets.py needs python3-torchvision (build/prereqs.sh --torchvision):\n{stdout}\n{stderr.Result}");
        }

        [ClassCleanup]
        public static void DeleteTheNetworks()
        {
            if (Directory.Exists(_folder))
                Directory.Delete(_folder, recursive: true);
        }

        private static string File(string name) => Path.Combine(_folder, name + ".onnx");

        private static ImportedResNet Import(string name, int classes = 3, ImageInputConvention convention = null)
            => ResNetOnnxImport.Load(File(name), classes, convention, PretrainedImageFitSteps.UserFileFix);

        [TestMethod]
        [DataRow("basic", DisplayName = "basic blocks, BatchNorm folded (torch.onnx.export defaults)")]
        [DataRow("bottleneck", DisplayName = "bottleneck blocks, BatchNorm folded")]
        [DataRow("bottleneck_grouped", DisplayName = "grouped bottleneck blocks (ResNeXt), BatchNorm folded")]
        [DataRow("basic_bn", DisplayName = "basic blocks, BatchNorm kept (TrainingMode.PRESERVE)")]
        [DataRow("bottleneck_bn", DisplayName = "bottleneck blocks, BatchNorm kept (TrainingMode.PRESERVE)")]
        [DataRow("bottleneck_training", DisplayName = "bottleneck blocks, BatchNorm kept (TrainingMode.TRAINING)")]
        [DataRow("not_constant_folded", DisplayName = "basic blocks, do_constant_folding=False")]
        [DataRow("shared_initializers", DisplayName = "basic blocks, torchvision's initialization (Identity nodes copy shared initializers)")]
        public void Imported_backbone_gives_the_features_onnx_runtime_gives(string name)
        {
            using var imported = Import(name).Model;
            imported.eval();
            var random = new Random(7);
            float[] pixels = Enumerable.Range(0, 2 * 3 * 64 * 64).Select(_ => (float)random.NextDouble()).ToArray();

            // ONNX Runtime on the same weights without fc, fed torchvision's normalized input.
            var input = new DenseTensor<float>(new[] { 2, 3, 64, 64 });
            var convention = ImageInputConvention.TorchVision;
            for (int i = 0; i < pixels.Length; i++)
            {
                int c = i / (64 * 64) % 3;
                input.Buffer.Span[i] = (pixels[i] - convention.Mean[c]) / convention.Std[c];
            }
            using var session = new InferenceSession(File(name + "_features"));
            using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor(session.InputMetadata.Keys.Single(), input) });
            float[] expected = results.Single().AsEnumerable<float>().ToArray();

            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            float[] actual = imported.Features(tensor(pixels, new long[] { 2, 3, 64, 64 })).data<float>().ToArray();
            actual.Should().HaveCount(expected.Length);
            double worst = actual.Zip(expected, (a, e) => Math.Abs(a - e)).Max();
            Console.WriteLine($"parity {name}: {expected.Length / 2} features, max |ours - ONNX Runtime| = {worst:E2}, max |feature| = {expected.Max(Math.Abs):F3}");
            expected.Max(Math.Abs).Should().BeGreaterThan(0.05f, "random weights give non-trivial features");
            worst.Should().BeLessThanOrEqualTo(1e-4);
        }

        [TestMethod]
        public void Basic_block_layout_is_read_from_the_graph_and_the_head_replaced()
        {
            var imported = Import("basic", classes: 4);
            using var model = imported.Model;
            var layout = model.Layout;
            layout.Kind.Should().Be(ResidualBlockKind.Basic);
            layout.BlocksPerStage.Should().Equal(2, 1, 1, 1);
            layout.StageWidths.Should().Equal(8, 16, 32, 64);
            layout.Blocks.Select(b => b.Projection).Should().Equal(false, false, true, true, true);
            layout.Blocks.Select(b => b.Stride).Should().Equal(1, 1, 2, 2, 2);
            layout.Stem.Should().Be(new StemLayout(3, 8, 7, 2, 3));
            layout.MaxPool.Should().Be(new PoolLayout(3, 2, 1));
            model.Head.weight.shape.Should().Equal(4, 64);
            imported.DroppedHead.Should().Equal("Flatten", "Gemm");
            imported.FoldedNorms.Should().HaveCount(1 + 2 * 5 + 3, "every convolution's BatchNorm was folded by the export");
        }

        [TestMethod]
        public void Bottleneck_layout_is_read_from_the_graph_with_widths_groups_and_strides()
        {
            using var bottleneck = Import("bottleneck").Model;
            bottleneck.Layout.Kind.Should().Be(ResidualBlockKind.Bottleneck);
            bottleneck.Layout.BlocksPerStage.Should().Equal(1, 2, 1, 1);
            bottleneck.Layout.StageWidths.Should().Equal(32, 64, 128, 256);
            bottleneck.Layout.Blocks.Select(b => b.Width).Should().Equal(8, 16, 16, 32, 64);
            bottleneck.Layout.Blocks.Select(b => b.Projection).Should().Equal(new[] { true, true, false, true, true }, "stage 1's first block widens 8 → 32");
            bottleneck.FeatureCount.Should().Be(256);
            var grouped = Import("bottleneck_bn");
            grouped.FoldedNorms.Should().BeEmpty("the export kept the BatchNormalization nodes");
            grouped.Model.Dispose();
            using var resnext = Import("bottleneck_grouped").Model;
            resnext.Layout.Blocks.Should().OnlyContain(b => b.Groups == 2);
            resnext.Layout.Blocks.Select(b => b.Width).Should().Equal(new[] { 8, 16, 32, 64 }, "torchvision: planes × width_per_group (32) / 64 × groups (2)");
        }

        [TestMethod]
        [DataRow("plain_cnn", "/avgpool/GlobalAveragePool", "GlobalAveragePool", DisplayName = "a plain convolutional network")]
        [DataRow("missing_relu", "/layer2/layer2.0/conv2/Conv", "Conv", DisplayName = "a ResNet with a block's ReLUs removed")]
        public void Network_that_is_not_ResNet_family_is_refused_naming_the_first_node_that_does_not_fit(string name, string node, string opType)
        {
            Action load = () => Import(name);
            string message = load.Should().Throw<InvalidDataException>().Which.Message;
            Console.WriteLine(message);
            message.Should()
                .Contain(File(name)).And.Contain($"node '{node}' ({opType})").And.Contain("Supported: the ResNet family").And.Contain("PretrainedModelPath");
        }

        [TestMethod]
        public void Folded_BatchNorms_calibrated_on_data_keep_the_inference_output_and_match_it_in_training_mode()
        {
            var imported = Import("bottleneck");
            using var model = imported.Model;
            using var uncalibrated = Import("bottleneck").Model;
            using var scope = NewDisposeScope();
            Tensor Features(ResNet network, bool training, Tensor x)
            {
                using var noGrad = no_grad();
                network.train(training);
                return network.Features(x);
            }
            manual_seed(3);
            var batch = rand(16, 3, 64, 64);
            var before = Features(model, false, batch);
            double Difference(Tensor t) => (t - before).abs().max().item<float>() / before.abs().max().item<float>();
            Difference(Features(uncalibrated, true, batch)).Should().BeGreaterThan(0.1, "identity BatchNorms normalize by batch statistics in training mode");

            using (var calibration = new BatchNormCalibration(imported.FoldedNorms))
            {
                Features(model, false, batch);
                calibration.Apply();
            }
            Difference(Features(model, false, batch)).Should().BeLessThan(1e-4, "inference output is unchanged");
            Difference(Features(model, true, batch)).Should().BeLessThan(1e-2, "a training batch's statistics are now the calibrated ones");
        }

        [TestMethod]
        public void Input_convention_comes_from_the_option_then_the_files_metadata_then_torchvisions()
        {
            using (var plain = Import("basic").Model)
            {
                var (mean, std) = plain.GetInputNormalization();
                mean.Should().Equal(0.485f, 0.456f, 0.406f);
                std.Should().Equal(0.229f, 0.224f, 0.225f);
            }
            var file = OnnxModelFileProto(File("basic"));
            file.MetadataProps.Add(new StringStringEntryProto { Key = "Image.BitmapPixelFormat", Value = "Bgr8" });
            file.MetadataProps.Add(new StringStringEntryProto { Key = "image.nominalpixelrange", Value = "NominalRange_0_255" });
            file.MetadataProps.Add(new StringStringEntryProto { Key = "Image.Mean", Value = "100, 110, 120" });
            string bgr = Path.Combine(_folder, "basic_bgr.onnx");
            System.IO.File.WriteAllBytes(bgr, Google.Protobuf.MessageExtensions.ToByteArray(file));

            var fromFile = ResNetOnnxImport.Load(bgr, 3, null, "");
            fromFile.ConventionSource.Should().Contain("metadata");
            var (bgrMean, bgrStd) = fromFile.Model.GetInputNormalization();
            bgrMean.Should().BeEquivalentTo(new[] { 120f / 255, 110f / 255, 100f / 255 }, o => o.WithStrictOrdering(), "R, G, B order on [0, 1] pixels");
            bgrStd.Should().OnlyContain(s => Math.Abs(s - 1f / 255) < 1e-9);
            using var rgb = Import("basic").Model;
            var flipped = fromFile.Model.state_dict()["conv1.weight"];
            flipped.index_select(1, tensor(new long[] { 2, 1, 0 })).allclose(rgb.state_dict()["conv1.weight"], rtol: 0, atol: 0).Should().BeTrue("a BGR network's first convolution reads R, G, B flipped");
            fromFile.Model.Dispose();

            using var overridden = ResNetOnnxImport.Load(bgr, 3, ImageInputConvention.TorchVision, "").Model;
            overridden.GetInputNormalization().Mean.Should().Equal(0.485f, 0.456f, 0.406f);
        }

        [TestMethod]
        public void Input_convention_in_the_files_metadata_that_does_not_parse_is_refused_naming_the_key()
        {
            var file = OnnxModelFileProto(File("basic"));
            file.MetadataProps.Add(new StringStringEntryProto { Key = "Image.BitmapPixelFormat", Value = "Gray8" });
            string gray = Path.Combine(_folder, "basic_gray.onnx");
            System.IO.File.WriteAllBytes(gray, Google.Protobuf.MessageExtensions.ToByteArray(file));
            Action load = () => ResNetOnnxImport.Load(gray, 3, null, "");
            load.Should().Throw<InvalidDataException>().Which.Message.Should()
                .Contain(gray).And.Contain("Image.BitmapPixelFormat = 'Gray8'").And.Contain("Rgb8 or Bgr8").And.Contain("PretrainedInputConvention");
        }

        private static ModelProto OnnxModelFileProto(string path) => ModelProto.Parser.ParseFrom(System.IO.File.ReadAllBytes(path));

        [TestMethod]
        [Timeout(300_000)]
        public void Fit_fine_tunes_a_torchvision_bottleneck_backbone_and_the_saved_model_scores_with_stock_ml_net_only()
        {
            using var images = new SyntheticImages(24, size: 40, seed: 41, color: true);
            var ml = new MLContext(1);
            var logs = new List<string>();
            ml.Log += (_, e) => { if (e.Message.Contains("Pretrained backbone") || e.Message.Contains("folded BatchNorms")) lock (logs) logs.Add(e.Message); };
            var raw = ml.Data.LoadFromEnumerable(images.Rows);
            var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw);
            var model = ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
            {
                FeatureColumnName = "ImageSource", PretrainedModelPath = File("bottleneck"), // Architecture stays Auto
                HeadOnlyEpochs = 1, Epochs = 1, BatchSize = 8, ImageHeight = 64, ImageWidth = 64, Seed = 2,
            }).WithMixedPrecision().Fit(keyed);

            logs.Should().Contain(l => l.Contains("bottleneck blocks 1-2-1-1, widths 32/64/128/256") && l.Contains("M parameters") && l.Contains("torchvision's"));
            logs.Should().Contain(l => l.Contains("Measured the statistics of the 20 folded BatchNorms on 24 training images"));
            model.Summary.EpochsRun.Should().Be(2);
            string zip = Path.Combine(images.Folder, "torchvision.zip");
            ml.Model.Save(model, keyed.Schema, zip);
            var expectedScores = model.Transform(keyed).GetColumn<float[]>("Score").ToList();
            var run = SeparateProcessLoadTests.RunConsumer(zip, "bytes", "ImageSource", images.Rows.Select(r => r.ImagePath).ToArray());
            var scores = run.Where(l => l.StartsWith("ROW\t")).Select(l => l.Split('\t')[2].Split(';').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray()).ToList();
            scores.Should().BeEquivalentTo(expectedScores, o => o.WithStrictOrdering(), "the saved FP32 ONNX scores the same in a process with stock ML.NET only");
            SeparateProcessLoadTests.Line(run, "ASSEMBLIES").Split(';').Should().NotContain(a => a.StartsWith("TorchSharp") || a == "Microsoft.ML.MixedPrecision");
        }
    }
}
