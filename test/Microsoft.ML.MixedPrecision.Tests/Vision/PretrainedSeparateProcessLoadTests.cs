using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Tests.Scoring;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Vision
{
    /// <summary>A model fine-tuned from the pretrained ResNet18 scores in a fresh process with stock ML.NET packages only.</summary>
    [TestClass]
    public sealed class PretrainedSeparateProcessLoadTests
    {
        [TestMethod]
        [Timeout(300_000)]
        public void Fine_tuned_pretrained_model_scores_identically_in_a_fresh_consumer_process()
        {
            using var images = new SyntheticImages(20, size: 40, seed: 31, color: true);
            var ml = new MLContext(1);
            var raw = ml.Data.LoadFromEnumerable(images.Rows);
            var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw);
            // The trainer's model alone: a consumer has images, not labels.
            var model = ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
            {
                FeatureColumnName = "ImageSource", Architecture = ResNetArchitecture.PretrainedResNet18,
                HeadOnlyEpochs = 1, Epochs = 1, BatchSize = 10, ImageHeight = 64, ImageWidth = 64, ValidationSetFraction = 0, Seed = 2,
            }).WithMixedPrecision().Fit(keyed);
            string zip = Path.Combine(images.Folder, "pretrained.zip");
            ml.Model.Save(model, keyed.Schema, zip);

            var scored = model.Transform(keyed);
            var expectedScores = scored.GetColumn<float[]>("Score").ToList();
            var run = SeparateProcessLoadTests.RunConsumer(zip, "bytes", "ImageSource", images.Rows.Select(r => r.ImagePath).ToArray());

            var rows = run.Where(l => l.StartsWith("ROW\t")).Select(l => l.Split('\t')).ToList();
            var scores = rows.Select(r => r[2].Split(';').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray()).ToList();
            scores.Should().BeEquivalentTo(expectedScores, o => o.WithStrictOrdering(), "the saved FP32 ONNX scores the same in a process without TorchSharp");
            SeparateProcessLoadTests.Line(run, "SLOTNAMES").Should().Be(string.Join(";", SyntheticImages.ClassNames));
            var assemblies = SeparateProcessLoadTests.Line(run, "ASSEMBLIES").Split(';');
            assemblies.Should().NotContain(a => a.StartsWith("TorchSharp") || a == "Microsoft.ML.MixedPrecision");
        }
    }
}
