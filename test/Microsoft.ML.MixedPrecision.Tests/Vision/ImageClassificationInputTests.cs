using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Vision
{
    /// <summary>Bad input gets an exception that names the column and what was expected.</summary>
    [TestClass]
    public class ImageClassificationInputTests
    {
        private static SyntheticImages _images;

        [ClassInitialize]
        public static void CreateImages(TestContext context) => _images = new SyntheticImages(12, size: 8, seed: 3);

        [ClassCleanup]
        public static void DeleteImages() => _images?.Dispose();

        private sealed class TextFeatureRow
        {
            public string ImageSource { get; set; }
            public string Label { get; set; }
        }

        private static ImageClassificationTrainer Trainer(MLContext ml) => ml.MulticlassClassification.Trainers.ImageClassification(
            new ImageClassificationTrainer.Options
            {
                FeatureColumnName = "ImageSource", Architecture = ResNetArchitecture.ResNetTiny, Epochs = 1, BatchSize = 4, ValidationSetFraction = 0, Seed = 1,
            });

        private static IDataView Keyed(MLContext ml, IDataView data) => ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);

        [TestMethod]
        public void Missing_feature_column_is_named()
        {
            var ml = new MLContext(1);
            var data = Keyed(ml, ml.Data.LoadFromEnumerable(_images.Rows));
            var trainer = ml.MulticlassClassification.Trainers.ImageClassification(labelColumnName: "Label", featureColumnName: "Pictures");
            Action fit = () => trainer.Fit(data);
            fit.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("'Pictures'").And.Contain("not found").And.Contain("ImageSource");
        }

        [TestMethod]
        public void Feature_column_of_the_wrong_type_is_named_with_what_was_expected()
        {
            var ml = new MLContext(1);
            var data = Keyed(ml, ml.Data.LoadFromEnumerable(new[] { new TextFeatureRow { ImageSource = "x", Label = "a" }, new TextFeatureRow { ImageSource = "y", Label = "b" } }));
            Action fit = () => Trainer(ml).Fit(data);
            fit.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("'ImageSource'").And.Contain("Vector<Byte>");
        }

        [TestMethod]
        public void Label_that_is_not_a_key_is_refused_with_the_fix()
        {
            var ml = new MLContext(1);
            var data = ml.Data.LoadFromEnumerable(_images.Rows);
            Action fit = () => Trainer(ml).Fit(data);
            fit.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("'Label'").And.Contain("MapValueToKey");
        }

        [TestMethod]
        public void Single_class_is_refused()
        {
            var ml = new MLContext(1);
            var rows = _images.Rows.Where(r => r.Label == "horizontal").ToList();
            var data = Keyed(ml, ml.Data.LoadFromEnumerable(rows));
            Action fit = () => Trainer(ml).Fit(data);
            fit.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("'Label'").And.Contain("at least two");
        }

        [TestMethod]
        public void Empty_data_is_refused()
        {
            var ml = new MLContext(1);
            var all = ml.Data.LoadFromEnumerable(_images.Rows);
            var keyer = ml.Transforms.Conversion.MapValueToKey("Label").Fit(all);
            var empty = keyer.Transform(ml.Data.LoadFromEnumerable(new List<SyntheticImages.Row>()));
            Action fit = () => Trainer(ml).Fit(empty);
            fit.Should().Throw<ArgumentException>().Which.Message.Should().Contain("empty").And.Contain("'ImageSource'");
        }

        [TestMethod]
        public void Undecodable_image_bytes_report_the_column_and_row()
        {
            var ml = new MLContext(1);
            var rows = _images.Rows.Select(r => new SyntheticImages.Row { ImageSource = r.ImageSource, Label = r.Label, ImagePath = r.ImagePath }).ToList();
            rows[5].ImageSource = new byte[] { 1, 2, 3, 4, 5 };
            var data = Keyed(ml, ml.Data.LoadFromEnumerable(rows));
            Action fit = () => Trainer(ml).Fit(data);
            fit.Should().Throw<InvalidDataException>().Which.Message.Should().Contain("ImageSource").And.Contain("row 5");
        }

        [TestMethod]
        public void Invalid_option_is_named()
        {
            var ml = new MLContext(1);
            Action create = () => ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options { BatchSize = 0 });
            create.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("BatchSize");
        }

        [TestMethod]
        public void Gpu_request_without_cuda_and_without_fallback_is_refused_clearly()
        {
            var ml = new MLContext(1) { GpuDeviceId = 0, FallbackToCpu = false };
            var data = Keyed(ml, ml.Data.LoadFromEnumerable(_images.Rows));
            Action fit = () => Trainer(ml).Fit(data);
            fit.Should().Throw<InvalidOperationException>().Which.Message.Should().Contain("GpuDeviceId").And.Contain("FallbackToCpu");
        }

        [TestMethod]
        public void Gpu_request_without_cuda_falls_back_to_cpu_when_allowed()
        {
            var ml = new MLContext(1) { GpuDeviceId = 0, FallbackToCpu = true };
            var data = Keyed(ml, ml.Data.LoadFromEnumerable(_images.Rows));
            var model = Trainer(ml).Fit(data);
            model.Summary.Device.Should().Be("cpu");
        }
    }
}
