using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Vision
{
    /// <summary>The fitted model is an ordinary ML.NET model: Evaluate, PredictionEngine, Save/Load with stock types.</summary>
    [TestClass]
    public class ImageModelPersistenceTests
    {
        private static SyntheticImages _images;

        [ClassInitialize]
        public static void CreateImages(TestContext context) => _images = new SyntheticImages(36, size: 12, seed: 5, color: true);

        [ClassCleanup]
        public static void DeleteImages() => _images?.Dispose();

        public sealed class Prediction
        {
            public string PredictedLabel { get; set; }
            public float[] Score { get; set; }
        }

        private static ITransformer Train(MLContext ml, IDataView data, string featureColumn, IEstimator<ITransformer> before = null)
        {
            var trainer = ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
            {
                FeatureColumnName = featureColumn, Architecture = ResNetArchitecture.ResNetSmall, Epochs = 1, BatchSize = 12, ValidationSetFraction = 0, Seed = 3,
            }).WithMixedPrecision();
            IEstimator<ITransformer> pipeline = ml.Transforms.Conversion.MapValueToKey("Label");
            if (before != null)
                pipeline = pipeline.Append(before);
            return pipeline.Append(trainer).Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel")).Fit(data);
        }

        private static IEnumerable<ITransformer> Flatten(ITransformer t)
            => t is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : new[] { t };

        [TestMethod]
        public void Saved_bytes_model_loads_with_stock_transformers_and_identical_predictions()
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(_images.Rows);
            var model = Train(ml, data, "ImageSource");
            string path = Path.Combine(Path.GetTempPath(), $"mp-image-{Guid.NewGuid():N}.zip");
            try
            {
                ml.Model.Save(model, data.Schema, path);
                var fresh = new MLContext(seed: 9);
                var loaded = fresh.Model.Load(path, out var schema);
                schema.GetColumnOrNull("ImageSource").Should().NotBeNull();

                var before = model.Transform(data).GetColumn<float[]>("Score").ToArray();
                var after = loaded.Transform(fresh.Data.LoadFromEnumerable(_images.Rows)).GetColumn<float[]>("Score").ToArray();
                after.Should().HaveCount(before.Length);
                for (int i = 0; i < before.Length; i++)
                    after[i].Should().Equal(before[i]);

                var types = Flatten(loaded).Select(t => t.GetType()).ToList();
                types.Should().Contain(t => t.Name == "OnnxTransformer");
                types.Where(t => !t.Assembly.GetName().Name.StartsWith("Microsoft.ML.", StringComparison.Ordinal) ||
                                 t.Assembly.GetName().Name.StartsWith("Microsoft.ML.MixedPrecision", StringComparison.Ordinal))
                    .Should().BeEmpty("every step is a stock ML.NET transformer (the bytes decoder is a stock CustomMapping transformer)");
                types.Should().NotContain(t => t.Assembly.GetName().Name == "TorchSharp");
            }
            finally
            {
                File.Delete(path);
            }
        }

        [TestMethod]
        public void Evaluate_and_prediction_engine_work_on_the_fitted_model()
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(_images.Rows);
            var model = Train(ml, data, "ImageSource");
            var scored = model.Transform(data);
            var scoreColumn = scored.Schema["Score"];
            var slotNames = default(VBuffer<ReadOnlyMemory<char>>);
            scoreColumn.GetSlotNames(ref slotNames);
            slotNames.DenseValues().Select(s => s.ToString()).Should().Equal("horizontal", "vertical", "blob");

            var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
            var trainerOnly = ((IEnumerable<ITransformer>)model).OfType<ImageClassificationTransformer>().Single();
            var metrics = ml.MulticlassClassification.Evaluate(trainerOnly.Transform(keyed));
            metrics.ConfusionMatrix.NumberOfClasses.Should().Be(3);

            var engine = ml.Model.CreatePredictionEngine<SyntheticImages.Row, Prediction>(model);
            var prediction = engine.Predict(_images.Rows[0]);
            prediction.Score.Should().HaveCount(3);
            prediction.Score.Sum().Should().BeApproximately(1f, 1e-4f);
            SyntheticImages.ClassNames.Should().Contain(prediction.PredictedLabel);
            prediction.PredictedLabel.Should().Be(SyntheticImages.ClassNames[Array.IndexOf(prediction.Score, prediction.Score.Max())]);
        }

        [TestMethod]
        public void Image_column_from_load_images_trains_and_saves_fully_stock()
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(_images.Rows.Select(r => new PathRow { ImagePath = r.ImagePath, Label = r.Label }));
            var model = Train(ml, data, "Image", ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: "ImagePath"));
            string path = Path.Combine(Path.GetTempPath(), $"mp-image-col-{Guid.NewGuid():N}.zip");
            try
            {
                ml.Model.Save(model, data.Schema, path);
                var loaded = new MLContext(seed: 2).Model.Load(path, out _);
                Flatten(loaded).Should().NotContain(t => t.GetType().Name.Contains("CustomMapping"), "the image-column path needs no custom step");
                var before = model.Transform(data).GetColumn<float[]>("Score").ToArray();
                var after = loaded.Transform(data).GetColumn<float[]>("Score").ToArray();
                for (int i = 0; i < before.Length; i++)
                    after[i].Should().Equal(before[i]);
            }
            finally
            {
                File.Delete(path);
            }
        }

        public sealed class PathRow
        {
            public string ImagePath { get; set; }
            public string Label { get; set; }
        }
    }
}
