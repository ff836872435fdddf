using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Tests.Scoring;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    /// <summary>The public trainer fine-tuning an encoder the user brings: a SentenceTransformers package DLL or an ONNX file + vocab.txt.</summary>
    [TestClass]
    public class BringYourOwnTextEncoderTests
    {
        private static readonly List<SyntheticText.Row> Train = SyntheticText.Sentences(48, seed: 21);
        private static readonly string[] Texts = { "The striker scored a goal!", "", "bake the dough with garlic", "a comet passed the planet" };

        private static TextClassificationTrainer.Options Options(string pretrained) => new TextClassificationTrainer.Options
        {
            PretrainedModelPath = pretrained,
            Epochs = 1,
            BatchSize = 16,
            MaxSequenceLength = 16,
            ValidationSetFraction = 0,
            Seed = 4,
        };

        private static (ITransformer Model, List<string> Log) Fit(TextClassificationTrainer.Options options)
        {
            var ml = new MLContext(seed: 1);
            var log = new List<string>();
            ml.Log += (_, e) => { if (e.Source.Contains("TextClassification")) lock (log) log.Add(e.Message); };
            var model = TextClassificationTrainerTests.Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options)
                    .WithMixedPrecision(new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16 }))
                .Fit(ml.Data.LoadFromEnumerable(Train));
            return (model, log);
        }

        [TestMethod]
        [Timeout(300_000)]
        public void ArcticXs_dll_fine_tunes_and_its_saved_model_scores_the_same_in_a_stock_consumer_process()
        {
            var (pipeline, log) = Fit(Options(BertOnnxImportTests.ArcticDll));
            var model = ((IEnumerable<ITransformer>)pipeline).OfType<TextClassificationTransformer>().Single();
            log.Should().Contain(m => m.Contains("fine-tuning snowflake-arctic-embed-xs (6 post-LN layers, width 384, 12 heads"));
            var ml = new MLContext(seed: 1);
            var input = ml.Data.LoadFromEnumerable(Texts.Select(s => new SyntheticText.Row { Sentence1 = s, Label = SyntheticText.Topics[0] }));
            var expectedScores = model.Transform(input).GetColumn<float[]>("Score").ToList();
            var expectedLabels = model.Transform(input).GetColumn<uint>("PredictedLabel").Select(k => model.ClassNames[(int)k - 1]).ToList();
            string zip = Path.Combine(Path.GetTempPath(), $"mp-arctic-{Guid.NewGuid():N}.zip");
            try
            {
                ml.Model.Save(model, input.Schema, zip);
                var run = SeparateProcessLoadTests.RunConsumer(zip, "text", "Sentence1", Texts);
                var rows = run.Where(l => l.StartsWith("ROW\t")).Select(l => l.Split('\t')).ToList();
                rows.Select(r => r[1]).Should().Equal(expectedLabels);
                var scores = rows.Select(r => r[2].Split(';').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray()).ToList();
                scores.Should().BeEquivalentTo(expectedScores, o => o.WithStrictOrdering(), "stock ML.NET scores the saved model as the fitted one does");
            }
            finally
            {
                File.Delete(zip);
            }
        }

        [TestMethod]
        [Timeout(300_000)]
        public void Onnx_file_with_vocab_txt_beside_it_fine_tunes_its_own_shape_and_scores_the_same_after_load()
        {
            string folder = BertOnnxImportTests.TempFolder();
            try
            {
                string path = new TinyBertOnnx { Layers = 2, Width = 32, Heads = 2, FeedForward = 64, MaxPositions = 20 }.Write(folder);
                var (model, log) = Fit(Options(path));
                log.Should().Contain(m => m.Contains("fine-tuning model (2 post-LN layers, width 32, 2 heads, FFN 64") && m.Contains(path));
                var ml = new MLContext(seed: 1);
                var input = ml.Data.LoadFromEnumerable(Texts.Select(s => new SyntheticText.Row { Sentence1 = s, Label = SyntheticText.Topics[0] }));
                var expected = model.Transform(input).GetColumn<float[]>("Score").ToList();
                string zip = Path.Combine(folder, "fitted.zip");
                ml.Model.Save(model, input.Schema, zip);
                var loaded = ml.Model.Load(zip, out _);
                loaded.Transform(input).GetColumn<float[]>("Score").ToList().Should().BeEquivalentTo(expected, o => o.WithStrictOrdering());
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        [TestMethod]
        public void Onnx_file_without_vocab_txt_names_the_VocabularyPath_option()
        {
            string folder = BertOnnxImportTests.TempFolder();
            try
            {
                string path = new TinyBertOnnx().Write(folder);
                File.Delete(Path.Combine(folder, "vocab.txt"));
                Action fit = () => Fit(Options(path));
                fit.Should().Throw<FileNotFoundException>()
                    .WithMessage($"*'{path}' is an ONNX graph and needs its WordPiece vocabulary*{Path.Combine(folder, "vocab.txt")}*VocabularyPath*");
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }
}
