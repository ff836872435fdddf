using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.ImageDecoding;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Scoring
{
    [TestClass]
    public sealed class ImageScoringChainTests
    {
        private static ScoringTestData _data;

        [ClassInitialize]
        public static void Init(TestContext _) => _data = new ScoringTestData();

        [ClassCleanup]
        public static void Cleanup() => _data?.Dispose();

        internal static ImageInputOptions BytesOptions => new ImageInputOptions
        {
            Kind = ImageInputKind.EncodedBytes, ColumnName = "ImageSource",
            Width = ScoringTestData.Width, Height = ScoringTestData.Height, Channels = ScoringTestData.Channels,
        };

        internal static ImageInputOptions ImageOptions => new ImageInputOptions
        {
            Kind = ImageInputKind.Image, ColumnName = "Image",
            Width = ScoringTestData.Width, Height = ScoringTestData.Height, Channels = ScoringTestData.Channels,
        };

        /// <summary>Bytes rows with Label as key (as the trainer sees them) and the fitted classifier.</summary>
        internal static (IDataView Data, ITransformer Model, string[] Names) BytesCase(MLContext ml, ScoringTestData d)
        {
            IDataView raw = ml.Data.LoadFromEnumerable(d.Samples.Select((s, i) => new BytesInput { ImageSource = s.Bytes, Label = s.Label, Comment = "row" + i }).ToList());
            IDataView keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw);
            var names = ClassificationOutputChain.GetClassNames(keyed.Schema["Label"], out int k);
            var model = ImageInputChain.BuildClassifier(ml, BytesOptions, d.ImageModel(), names, k);
            return (keyed, model, names.DenseValues().Select(n => n.ToString()).ToArray());
        }

        internal static (IDataView Data, ITransformer Model, string[] Names) ImageCase(MLContext ml, ScoringTestData d)
        {
            IDataView raw = ml.Data.LoadFromEnumerable(d.Samples.Select(s => new PathInput { ImagePath = s.Path, Label = s.Label }).ToList());
            IDataView loaded = ml.Transforms.LoadImages("Image", null, "ImagePath").Append(ml.Transforms.Conversion.MapValueToKey("Label")).Fit(raw).Transform(raw);
            var names = ClassificationOutputChain.GetClassNames(loaded.Schema["Label"], out int k);
            var model = ImageInputChain.BuildClassifier(ml, ImageOptions, d.ImageModel(), names, k);
            return (loaded, model, names.DenseValues().Select(n => n.ToString()).ToArray());
        }

        [TestMethod]
        public void Score_IsKnownSizeVector_WithClassNamesAsSlotNames()
        {
            var ml = new MLContext(1);
            var (data, model, names) = ImageCase(ml, _data);
            var score = model.Transform(data).Schema["Score"];

            score.Type.Should().Be(new VectorDataViewType(NumberDataViewType.Single, ScoringTestData.Classes));
            VBuffer<ReadOnlyMemory<char>> slotNames = default;
            score.GetSlotNames(ref slotNames);
            slotNames.DenseValues().Select(s => s.ToString()).Should().Equal("cat", "dog", "bird");
            names.Should().Equal("cat", "dog", "bird");
        }

        [TestMethod]
        public void PredictedLabel_IsScalarKey_WithTheLabelsKeyValues()
        {
            var ml = new MLContext(1);
            var (data, model, _) = BytesCase(ml, _data);
            var schema = model.Transform(data).Schema;

            var predicted = schema["PredictedLabel"];
            predicted.Type.Should().BeOfType<KeyDataViewType>();
            ((KeyDataViewType)predicted.Type).Count.Should().Be(((KeyDataViewType)data.Schema["Label"].Type).Count);
            VBuffer<ReadOnlyMemory<char>> predictedValues = default, labelValues = default;
            predicted.GetKeyValues(ref predictedValues);
            data.Schema["Label"].GetKeyValues(ref labelValues);
            predictedValues.DenseValues().Select(v => v.ToString()).Should().Equal(labelValues.DenseValues().Select(v => v.ToString()));
        }

        [TestMethod]
        public void Output_KeepsUserColumns_AndAddsOnlyScoreAndPredictedLabel()
        {
            var ml = new MLContext(1);
            var (data, model, _) = BytesCase(ml, _data);
            var outNames = model.Transform(data).Schema.Where(c => !c.IsHidden).Select(c => c.Name).ToList();
            outNames.Should().BeEquivalentTo(new[] { "ImageSource", "Label", "Comment", "Score", "PredictedLabel" });
            model.Transform(data).GetColumn<string>("Comment").Should().Equal(_data.Samples.Select((_, i) => "row" + i));
        }

        [TestMethod]
        public void Bytes_ScoresAndPredictions_MatchReferenceComputation()
        {
            var ml = new MLContext(1);
            var (data, model, names) = BytesCase(ml, _data);
            IDataView scored = ml.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel").Fit(model.Transform(data)).Transform(model.Transform(data));

            var scores = scored.GetColumn<float[]>("Score").ToList();
            var keys = scored.GetColumn<uint>("PredictedLabel").ToList();
            var texts = scored.GetColumn<string>("PredictedText").ToList();
            for (int i = 0; i < _data.Samples.Count; i++)
            {
                float[] reference = _data.ReferenceProbabilities(_data.Samples[i].Pixels);
                scores[i].Should().BeEquivalentTo(reference, o => o.Using<float>(c => c.Subject.Should().BeApproximately(c.Expectation, 1e-5f)).WhenTypeIs<float>());
                int best = ScoringTestData.ArgMax(reference);
                keys[i].Should().Be((uint)best + 1);
                texts[i].Should().Be(names[best]);
            }
            keys.Distinct().Count().Should().BeGreaterThan(1, "the test weights should not predict one class for every image");
        }

        [TestMethod]
        public void ImageColumn_ScoresMatchBytesPath()
        {
            var ml = new MLContext(1);
            var (bytesData, bytesModel, _) = BytesCase(ml, _data);
            var (imageData, imageModel, _) = ImageCase(ml, _data);
            var fromBytes = bytesModel.Transform(bytesData).GetColumn<float[]>("Score").ToList();
            var fromImages = imageModel.Transform(imageData).GetColumn<float[]>("Score").ToList();
            fromImages.Should().BeEquivalentTo(fromBytes, o => o.WithStrictOrdering());
        }

        [TestMethod]
        public void Evaluate_WorksOnTheOutput_WithClassNamesInTheConfusionTable()
        {
            var ml = new MLContext(1);
            var (data, model, _) = BytesCase(ml, _data);
            var metrics = ml.MulticlassClassification.Evaluate(model.Transform(data), "Label", "Score", "PredictedLabel");

            double expected = _data.Samples.Count(s => ScoringTestData.LabelOfClass[ScoringTestData.ArgMax(_data.ReferenceProbabilities(s.Pixels))] == s.Label)
                / (double)_data.Samples.Count;
            metrics.MicroAccuracy.Should().BeApproximately(expected, 1e-9);
            metrics.PerClassLogLoss.Should().HaveCount(ScoringTestData.Classes);
            string table = metrics.ConfusionMatrix.GetFormattedConfusionTable();
            table.Should().Contain("cat").And.Contain("dog").And.Contain("bird");
        }

        [TestMethod]
        public void PredictionEngine_Works()
        {
            var ml = new MLContext(1);
            var (_, model, _) = BytesCase(ml, _data);
            var withText = new TransformerChain<ITransformer>(model, ml.Transforms.Conversion.MapKeyToValue("PredictedLabel")
                .Fit(model.Transform(ImageInputChain.CreateEmptyInput(ml, BytesOptions))));
            var engine = ml.Model.CreatePredictionEngine<BytesInput, TextPrediction>(withText);
            for (int i = 0; i < _data.Samples.Count; i++)
            {
                var p = engine.Predict(new BytesInput { ImageSource = _data.Samples[i].Bytes });
                var reference = _data.ReferenceProbabilities(_data.Samples[i].Pixels);
                p.PredictedLabel.Should().Be(ScoringTestData.LabelOfClass[ScoringTestData.ArgMax(reference)]);
                p.Score.Should().HaveCount(ScoringTestData.Classes);
            }
        }

        public sealed class TextPrediction
        {
            public string PredictedLabel;
            public float[] Score;
        }

        [TestMethod]
        public void SaveLoad_SameProcess_GivesIdenticalScores()
        {
            var ml = new MLContext(1);
            var (data, model, _) = BytesCase(ml, _data);
            string zip = Path.Combine(_data.Folder, "same-process.zip");
            ml.Model.Save(model, data.Schema, zip);

            var ml2 = new MLContext(2);
            ITransformer loaded = ml2.Model.Load(zip, out _);
            var before = model.Transform(data).GetColumn<float[]>("Score").ToList();
            IDataView after = loaded.Transform(data);
            after.GetColumn<float[]>("Score").ToList().Should().BeEquivalentTo(before, o => o.WithStrictOrdering());
            after.GetColumn<uint>("PredictedLabel").Should().Equal(model.Transform(data).GetColumn<uint>("PredictedLabel"));
            VBuffer<ReadOnlyMemory<char>> slotNames = default, keyValues = default;
            after.Schema["Score"].GetSlotNames(ref slotNames);
            after.Schema["PredictedLabel"].GetKeyValues(ref keyValues);
            slotNames.DenseValues().Select(s => s.ToString()).Should().Equal("cat", "dog", "bird");
            keyValues.DenseValues().Select(s => s.ToString()).Should().Equal("cat", "dog", "bird");
        }

        [TestMethod]
        public void LoadedChain_IsStockTransformers_ExceptTheDecodeStep()
        {
            var ml = new MLContext(1);
            var (data, model, _) = BytesCase(ml, _data);
            string zip = Path.Combine(_data.Folder, "stock-check.zip");
            ml.Model.Save(model, data.Schema, zip);
            var loaded = (TransformerChain<ITransformer>)new MLContext(3).Model.Load(zip, out _);

            var types = loaded.Select(t => t.GetType()).ToList();
            types.Select(t => t.Name).Should().Equal(
                "ColumnCopyingTransformer", "CustomMappingTransformer`2", "ImageResizingTransformer", "ImagePixelExtractingTransformer",
                "ColumnSelectingTransformer", "OnnxTransformer", "HashingTransformer", "ValueMappingTransformer", "ColumnSelectingTransformer");
            foreach (var t in types)
                t.Assembly.GetName().Name.Should().StartWith("Microsoft.ML.").And.NotStartWith("Microsoft.ML.MixedPrecision", t.Name);
            var ours = types.SelectMany(t => t.GetGenericArguments()).Select(a => a.Assembly).Distinct().ToList();
            ours.Should().Equal(new[] { typeof(ImageBytesDecoder).Assembly }, "only the decode step refers to our code");
            typeof(ImageBytesDecoder).Assembly.GetReferencedAssemblies().Select(a => a.Name)
                .Should().NotContain(n => n.StartsWith("TorchSharp") || n.StartsWith("Google.Protobuf") || n == "Microsoft.ML.MixedPrecision");
        }

        [TestMethod]
        public void ImageColumnChain_IsFullyStock()
        {
            var ml = new MLContext(1);
            var (data, model, _) = ImageCase(ml, _data);
            string zip = Path.Combine(_data.Folder, "image-stock.zip");
            ml.Model.Save(model, data.Schema, zip);
            var loaded = (TransformerChain<ITransformer>)new MLContext(3).Model.Load(zip, out _);
            loaded.Select(t => t.GetType().Name).Should().Equal(
                "ImageResizingTransformer", "ImagePixelExtractingTransformer", "ColumnSelectingTransformer",
                "OnnxTransformer", "HashingTransformer", "ValueMappingTransformer", "ColumnSelectingTransformer");
            loaded.Select(t => t.GetType()).Should().OnlyContain(t => t.Assembly.GetName().Name.StartsWith("Microsoft.ML.") && !t.IsGenericType);
        }

        [TestMethod]
        public void TrainingPreprocessing_GivesExactlyTheReferencePixels()
        {
            var ml = new MLContext(1);
            IDataView raw = ml.Data.LoadFromEnumerable(_data.Samples.Select(s => new BytesInput { ImageSource = s.Bytes, Label = s.Label }).ToList());
            var pre = ImageInputChain.FitPreprocessing(ml, BytesOptions, raw);
            IDataView pixels = pre.Transform(raw);

            pixels.Schema[ImageInputChain.PixelsColumnName].Type.Should().Be(new VectorDataViewType(NumberDataViewType.Single, 3, 4, 4));
            pixels.Schema.Select(c => c.Name).Should().NotContain(n => n.StartsWith("MixedPrecision.") && n != ImageInputChain.PixelsColumnName);
            var got = pixels.GetColumn<float[]>(ImageInputChain.PixelsColumnName).ToList();
            for (int i = 0; i < got.Count; i++)
                got[i].Should().Equal(_data.Samples[i].Pixels);
        }

        [TestMethod]
        public void Grayscale_AndResize_GiveOnePlaneOfTheTargetSize()
        {
            var ml = new MLContext(1);
            var options = new ImageInputOptions { Kind = ImageInputKind.EncodedBytes, ColumnName = "ImageSource", Width = 2, Height = 3, Channels = 1 };
            IDataView raw = ml.Data.LoadFromEnumerable(_data.Samples.Take(2).Select(s => new BytesInput { ImageSource = s.Bytes }).ToList());
            var pixels = ImageInputChain.FitPreprocessing(ml, options, raw).Transform(raw);
            pixels.Schema[ImageInputChain.PixelsColumnName].Type.Should().Be(new VectorDataViewType(NumberDataViewType.Single, 1, 3, 2));
            pixels.GetColumn<float[]>(ImageInputChain.PixelsColumnName).Should().OnlyContain(v => v.Length == 6 && v.All(x => x >= 0 && x <= 1));
        }

        [TestMethod]
        public void UndecodableBytes_ThrowNamingColumnAndRow()
        {
            var ml = new MLContext(1);
            var (_, model, _) = BytesCase(ml, _data);
            var rows = _data.Samples.Take(3).Select(s => new BytesInput { ImageSource = s.Bytes, Label = s.Label }).ToList();
            rows[2].ImageSource = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
            IDataView bad = ml.Data.LoadFromEnumerable(rows);

            Action act = () => model.Transform(bad).GetColumn<float[]>("Score").ToList();
            var thrown = act.Should().Throw<Exception>().Which;
            var decodeError = Flatten(thrown).OfType<InvalidDataException>().FirstOrDefault();
            decodeError.Should().NotBeNull("the decoder's own exception must surface, got: " + thrown);
            decodeError.Message.Should().Contain(ImageBytesDecoder.InputColumnName).And.Contain("row 2");
        }

        private static IEnumerable<Exception> Flatten(Exception e)
        {
            for (; e != null; e = e.InnerException)
            {
                yield return e;
                if (e is AggregateException agg)
                    foreach (var inner in agg.InnerExceptions.SelectMany(Flatten))
                        yield return inner;
            }
        }
    }
}
