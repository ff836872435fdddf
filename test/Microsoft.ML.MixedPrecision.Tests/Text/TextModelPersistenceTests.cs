using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    /// <summary>The fitted text model is an ordinary ML.NET model: Evaluate, PredictionEngine, Save/Load with stock types only.</summary>
    [TestClass]
    public class TextModelPersistenceTests
    {
        private static readonly List<SyntheticText.Row> Rows = SyntheticText.Sentences(90, seed: 5);

        public sealed class Prediction
        {
            public string PredictedLabel { get; set; }
            public float[] Score { get; set; }
        }

        private static ITransformer Train(MLContext ml, IDataView data, string sentence2 = null)
        {
            var options = TextClassificationTrainerTests.SmallOptions();
            options.Epochs = 3;
            options.Sentence2ColumnName = sentence2;
            return TextClassificationTrainerTests.Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options).WithMixedPrecision()).Fit(data);
        }

        private static IEnumerable<ITransformer> Flatten(ITransformer t)
            => t is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : new[] { t };

        private static void AssertSavedModelIsStockAndIdentical(MLContext ml, ITransformer model, IDataView data)
        {
            string path = Path.Combine(Path.GetTempPath(), $"mp-text-{Guid.NewGuid():N}.zip");
            try
            {
                ml.Model.Save(model, data.Schema, path);
                var loaded = new MLContext(seed: 9).Model.Load(path, out var schema);
                var before = model.Transform(data).GetColumn<float[]>("Score").ToArray();
                var after = loaded.Transform(data).GetColumn<float[]>("Score").ToArray();
                after.Should().HaveCount(before.Length);
                for (int i = 0; i < before.Length; i++)
                    after[i].Should().Equal(before[i]);
                loaded.Transform(data).GetColumn<string>("PredictedLabel").Should().Equal(model.Transform(data).GetColumn<string>("PredictedLabel"));

                var types = Flatten(loaded).Select(t => t.GetType()).ToList();
                types.Should().Contain(t => t.Name == "OnnxTransformer");
                types.Where(t => !t.Assembly.GetName().Name.StartsWith("Microsoft.ML.", StringComparison.Ordinal) ||
                                 t.Assembly.GetName().Name.StartsWith("Microsoft.ML.MixedPrecision", StringComparison.Ordinal))
                    .Should().BeEmpty("every step is a stock ML.NET transformer");
                types.Should().NotContain(t => t.Name.Contains("CustomMapping"), "text needs no custom step: it is tokenized inside the ONNX graph");
            }
            finally
            {
                File.Delete(path);
            }
        }

        [TestMethod]
        public void Saved_model_loads_with_stock_transformers_and_identical_predictions()
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(Rows);
            AssertSavedModelIsStockAndIdentical(ml, Train(ml, data), data);
        }

        [TestMethod]
        public void Saved_sentence_pair_model_loads_with_stock_transformers_and_identical_predictions()
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(SyntheticText.Pairs(60, seed: 6));
            var model = Train(ml, data, sentence2: "Sentence2");
            model.Transform(data).Schema.GetColumnOrNull(MixedPrecision.Text.TextFitSteps.PairColumnName).Should().BeNull("the temporary pair column is dropped");
            AssertSavedModelIsStockAndIdentical(ml, model, data);
        }

        [TestMethod]
        public void Scores_are_probabilities_and_predictions_fit_the_training_rows()
        {
            // The chain tokenizes inside ONNX; had it tokenized differently from training, it would score near chance.
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(Rows);
            var model = Train(ml, data);
            var scores = model.Transform(data).GetColumn<float[]>("Score").ToArray();
            scores.Should().OnlyContain(s => s.Length == 3 && Math.Abs(s.Sum() - 1f) < 1e-4f);
            var predicted = model.Transform(data).GetColumn<string>("PredictedLabel").ToArray();
            predicted.Zip(Rows, (p, r) => p == r.Label).Count(x => x).Should().BeGreaterThan(Rows.Count * 2 / 3, "three epochs already fit most of the training rows");
        }

        [TestMethod]
        public void Evaluate_and_prediction_engine_work_on_the_fitted_model()
        {
            var ml = new MLContext(seed: 1);
            var data = ml.Data.LoadFromEnumerable(Rows);
            var model = Train(ml, data);
            var scored = model.Transform(data);
            var slotNames = default(VBuffer<ReadOnlyMemory<char>>);
            scored.Schema["Score"].GetSlotNames(ref slotNames);
            slotNames.DenseValues().Select(s => s.ToString()).Should().Equal(SyntheticText.Topics);

            var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
            var trainerOnly = ((IEnumerable<ITransformer>)model).OfType<TextClassificationTransformer>().Single();
            var metrics = ml.MulticlassClassification.Evaluate(trainerOnly.Transform(keyed));
            metrics.ConfusionMatrix.NumberOfClasses.Should().Be(3);

            var engine = ml.Model.CreatePredictionEngine<SyntheticText.Row, Prediction>(model);
            foreach (string text in new[] { "The rocket reached orbit around the planet!", "", new string('x', 5000) + " garlic" })
            {
                var prediction = engine.Predict(new SyntheticText.Row { Sentence1 = text });
                prediction.Score.Should().HaveCount(3);
                prediction.Score.Sum().Should().BeApproximately(1f, 1e-4f);
                prediction.PredictedLabel.Should().Be(SyntheticText.Topics[Array.IndexOf(prediction.Score, prediction.Score.Max())]);
            }
        }
    }
}
