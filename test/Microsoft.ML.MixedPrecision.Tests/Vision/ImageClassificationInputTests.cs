using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using FluentAssertions;
using Microsoft.ML.Data;
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

        private sealed class ByteKeyRow
        {
            public byte[] ImageSource { get; set; }

            [KeyType(3)]
            public byte Label { get; set; }
        }

        private static List<SyntheticImages.Row> CopyRows() =>
            _images.Rows.Select(r => new SyntheticImages.Row { ImageSource = r.ImageSource, Label = r.Label, ImagePath = r.ImagePath }).ToList();

        private static Exception FitError(List<SyntheticImages.Row> rows)
        {
            var ml = new MLContext(1);
            var data = Keyed(ml, ml.Data.LoadFromEnumerable(rows));
            Action fit = () => Trainer(ml).Fit(data);
            return fit.Should().Throw<Exception>().Which;
        }

        private static ImageClassificationTransformer Fit(MLContext ml, IEnumerable<SyntheticImages.Row> rows, Action<ImageClassificationTrainer.Options> change = null)
        {
            var options = new ImageClassificationTrainer.Options
            {
                FeatureColumnName = "ImageSource", Architecture = ResNetArchitecture.ResNetTiny, Epochs = 1, BatchSize = 4, ValidationSetFraction = 0, Seed = 1,
                ImageWidth = 8, ImageHeight = 8,
            };
            change?.Invoke(options);
            return ml.MulticlassClassification.Trainers.ImageClassification(options).Fit(Keyed(ml, ml.Data.LoadFromEnumerable(rows)));
        }

        [TestMethod]
        public void Missing_label_column_is_named_with_the_columns_there()
        {
            var ml = new MLContext(1);
            var data = Keyed(ml, ml.Data.LoadFromEnumerable(_images.Rows));
            Action fit = () => ml.MulticlassClassification.Trainers.ImageClassification(labelColumnName: "Class", featureColumnName: "ImageSource").Fit(data);
            fit.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("'Class'").And.Contain("not found")
                .And.Contain("Label").And.Contain("LabelColumnName");
        }

        [TestMethod]
        public void Label_key_of_another_raw_type_is_refused_with_the_fix()
        {
            var ml = new MLContext(1);
            var data = ml.Data.LoadFromEnumerable(_images.Rows.Select((r, i) => new ByteKeyRow { ImageSource = r.ImageSource, Label = (byte)(i % 3 + 1) }));
            Action fit = () => Trainer(ml).Fit(data);
            fit.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("'Label'").And.Contain("Byte").And.Contain("MapValueToKey");
        }

        [TestMethod]
        public void Rows_with_a_missing_label_are_skipped_and_counted_in_the_summary()
        {
            var ml = new MLContext(1);
            var warnings = new List<string>();
            ml.Log += (_, e) => { if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Warning) lock (warnings) warnings.Add(e.Message); };
            // The key is fitted without "blob": its rows get key 0, ML.NET's missing label.
            var keyer = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(_images.Rows.Where(r => r.Label != "blob")));
            var data = keyer.Transform(ml.Data.LoadFromEnumerable(_images.Rows));
            var model = ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
            {
                FeatureColumnName = "ImageSource", Architecture = ResNetArchitecture.ResNetTiny, Epochs = 1, BatchSize = 4, ValidationSetFraction = 0, Seed = 1,
            }).Fit(data);
            int blobs = _images.Rows.Count(r => r.Label == "blob");
            model.Summary.SkippedRows.Should().ContainSingle().Which.Should().Be(new Microsoft.ML.MixedPrecision.SkippedRows(
                "training data", "label 'Label' missing (key 0)", blobs));
            warnings.Should().Contain(w => w.Contains($"Skipped {blobs} rows of the training data"));
        }

        [TestMethod]
        public void Training_rows_of_one_class_under_a_larger_key_are_refused_naming_the_class()
        {
            var ml = new MLContext(1);
            var keyer = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(_images.Rows));
            var data = keyer.Transform(ml.Data.LoadFromEnumerable(_images.Rows.Where(r => r.Label == "vertical")));
            Action fit = () => Trainer(ml).Fit(data);
            fit.Should().Throw<ArgumentException>().Which.Message.Should().Contain("'Label'").And.Contain("single class").And.Contain("'vertical'");
        }

        [TestMethod]
        public void Validation_set_without_the_feature_column_is_named()
        {
            var ml = new MLContext(1);
            var data = Keyed(ml, ml.Data.LoadFromEnumerable(_images.Rows));
            var validation = ml.Transforms.DropColumns("ImageSource").Fit(data).Transform(data);
            Action fit = () => ml.MulticlassClassification.Trainers.ImageClassification(labelColumnName: "Label", featureColumnName: "ImageSource",
                validationSet: validation).Fit(data);
            fit.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("'ImageSource'").And.Contain("validation set");
        }

        [TestMethod]
        public void Validation_set_label_that_is_not_a_key_is_refused_naming_the_validation_set()
        {
            var ml = new MLContext(1);
            var data = Keyed(ml, ml.Data.LoadFromEnumerable(_images.Rows));
            var validation = ml.Data.LoadFromEnumerable(_images.Rows);
            Action fit = () => ml.MulticlassClassification.Trainers.ImageClassification(labelColumnName: "Label", featureColumnName: "ImageSource",
                validationSet: validation).Fit(data);
            fit.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("validation set").And.Contain("MapValueToKey");
        }

        [TestMethod]
        public void Validation_set_keyed_on_its_own_is_refused_naming_the_class_that_differs()
        {
            var ml = new MLContext(1);
            var data = Keyed(ml, ml.Data.LoadFromEnumerable(_images.Rows));
            // Same three classes, first seen in another order: its own MapValueToKey numbers them differently.
            var reordered = _images.Rows.OrderBy(r => r.Label == "blob" ? 0 : 1).ToList();
            var validation = Keyed(ml, ml.Data.LoadFromEnumerable(reordered));
            Action fit = () => ml.MulticlassClassification.Trainers.ImageClassification(labelColumnName: "Label", featureColumnName: "ImageSource",
                validationSet: validation).Fit(data);
            fit.Should().Throw<ArgumentException>().Which.Message.Should().Contain("key 1 is 'blob'").And.Contain("'horizontal'").And.Contain("same fitted MapValueToKey");
        }

        [TestMethod]
        public void Zero_byte_image_is_reported_with_its_row()
        {
            var rows = CopyRows();
            rows[10].ImageSource = Array.Empty<byte>();
            FitError(rows).Should().BeOfType<InvalidDataException>().Which.Message.Should().Contain("'ImageSource'").And.Contain("row 10: the value is empty");
        }

        [TestMethod]
        public void Truncated_png_is_reported_with_its_row()
        {
            var rows = CopyRows();
            rows[9].ImageSource = rows[9].ImageSource.AsSpan(0, rows[9].ImageSource.Length / 2).ToArray();
            FitError(rows).Should().BeOfType<InvalidDataException>().Which.Message.Should().Contain("row 9: a truncated PNG");
        }

        [TestMethod]
        public void Truncated_jpeg_is_reported_with_its_row()
        {
            var rows = CopyRows();
            byte[] jpeg = EncodedImages.Jpeg(16, 16, 1, (x, y) => new[] { (byte)(x * 8 + y) });
            rows[11].ImageSource = jpeg.AsSpan(0, jpeg.Length - 6).ToArray();
            FitError(rows).Should().BeOfType<InvalidDataException>().Which.Message.Should().Contain("row 11: a truncated JPEG");
        }

        [TestMethod]
        public void Every_undecodable_row_is_counted_in_one_exception_with_the_fix()
        {
            var rows = CopyRows();
            foreach (int i in new[] { 1, 4, 8 })
                rows[i].ImageSource = Encoding.UTF8.GetBytes("not an image");
            var message = FitError(rows).Should().BeOfType<InvalidDataException>().Which.Message;
            message.Should().Contain("3 of 12 rows").And.Contain("row 1:").And.Contain("row 4:").And.Contain("row 8:").And.Contain("remove these rows");
        }

        [TestMethod]
        public void Image_declaring_more_pixels_than_the_limit_is_refused_before_decoding()
        {
            var rows = CopyRows();
            rows[10].ImageSource = EncodedImages.PngDeclaring(20_000, 20_000); // 400 megapixels: 1.6 GB once decoded
            FitError(rows).Should().BeOfType<InvalidDataException>().Which.Message.Should().Contain("row 10").And.Contain("400,000,000 pixels");
        }

        [TestMethod]
        public void One_pixel_images_train_and_score()
        {
            var ml = new MLContext(1);
            var rows = Enumerable.Range(0, 12).Select(i => new SyntheticImages.Row
            {
                ImageSource = EncodedImages.Png(1, 1, EncodedImages.Rgb, (x, y) => new[] { (byte)(80 * (i % 3)), (byte)40, (byte)200 }),
                Label = SyntheticImages.ClassNames[i % 3],
            }).ToList();
            var model = Fit(ml, rows, o => { o.ImageWidth = 0; o.ImageHeight = 0; });
            model.ImageWidth.Should().Be(1);
            var scores = model.Transform(Keyed(ml, ml.Data.LoadFromEnumerable(rows))).GetColumn<float[]>("Score").ToArray();
            scores.Should().HaveCount(12).And.OnlyContain(s => s.Length == 3 && Math.Abs(s.Sum() - 1) < 1e-4);
        }

        [TestMethod]
        public void Very_large_image_among_small_ones_is_resized_and_trains()
        {
            var ml = new MLContext(1);
            var rows = CopyRows();
            rows[0].ImageSource = EncodedImages.Png(3000, 2000, EncodedImages.Rgb, (x, y) => new[] { (byte)(x >> 4), (byte)(y >> 4), (byte)0 });
            var model = Fit(ml, rows);
            model.Summary.Epochs.Should().ContainSingle();
            model.Transform(Keyed(ml, ml.Data.LoadFromEnumerable(rows))).GetColumn<float[]>("Score").First().Should().HaveCount(3);
        }

        [TestMethod]
        public void Cmyk_jpeg_decodes_to_its_rgb_colours()
        {
            // Left half red (C=0, M=Y=100 %, K=0), right half black (K=100 %); Adobe stores the values inverted.
            byte[] jpeg = EncodedImages.Jpeg(16, 8, 4, (x, y) => x < 8 ? new byte[] { 255, 0, 0, 255 } : new byte[] { 255, 255, 255, 0 });
            var decoded = new Microsoft.ML.MixedPrecision.ImageDecoding.DecodedImageRow();
            Microsoft.ML.MixedPrecision.ImageDecoding.ImageBytesDecoder.Decode(new Microsoft.ML.MixedPrecision.ImageDecoding.EncodedImageRow { Bytes = jpeg }, decoded);
            using var image = decoded.Image;
            image.Width.Should().Be(16);
            Rgb(image, 2, 2).Should().Equal(255, 0, 0);
            Rgb(image, 12, 2).Should().Equal(0, 0, 0);
        }

        private static byte[] Rgb(MLImage image, int x, int y)
        {
            var p = image.Pixels.Slice((y * image.Width + x) * 4, 4);
            return image.PixelFormat == MLPixelFormat.Bgra32 ? new[] { p[2], p[1], p[0] } : new[] { p[0], p[1], p[2] };
        }

        [TestMethod]
        public void Grayscale_colour_alpha_and_cmyk_images_train_together_and_score()
        {
            var ml = new MLContext(1);
            var rows = CopyRows();
            rows[0].ImageSource = EncodedImages.Png(8, 8, EncodedImages.Gray, (x, y) => new[] { (byte)(y * 30) });
            rows[1].ImageSource = EncodedImages.Png(8, 8, EncodedImages.GrayAlpha, (x, y) => new[] { (byte)(x * 30), (byte)(y * 30) });
            rows[2].ImageSource = EncodedImages.Png(8, 8, EncodedImages.Rgba, (x, y) => new[] { (byte)200, (byte)(x * 30), (byte)40, (byte)(x < 4 ? 0 : 255) });
            rows[3].ImageSource = EncodedImages.Jpeg(8, 8, 4, (x, y) => new byte[] { 40, 200, 255, 255 });
            rows[4].ImageSource = EncodedImages.Jpeg(16, 16, 1, (x, y) => new[] { (byte)(x * 10 + y) });
            var model = Fit(ml, rows, o => o.Grayscale = false);
            model.Channels.Should().Be(3);
            var scores = model.Transform(Keyed(ml, ml.Data.LoadFromEnumerable(rows))).GetColumn<float[]>("Score").ToArray();
            scores.Should().HaveCount(rows.Count).And.OnlyContain(s => s.All(float.IsFinite));
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
