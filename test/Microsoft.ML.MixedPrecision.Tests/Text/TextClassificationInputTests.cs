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
    /// <summary>Bad input gets an exception that names the column or option and what was expected; odd text is fine.</summary>
    [TestClass]
    public class TextClassificationInputTests
    {
        private sealed class NumberRow
        {
            public float Sentence1 { get; set; }
            public string Label { get; set; }
        }

        private static TextClassificationTrainer Trainer(MLContext ml, Action<TextClassificationTrainer.Options> change = null)
        {
            var options = TextClassificationTrainerTests.SmallOptions();
            options.Epochs = 1;
            change?.Invoke(options);
            return ml.MulticlassClassification.Trainers.TextClassification(options);
        }

        private static IDataView Keyed(MLContext ml, IDataView data) => ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);

        private static IDataView Sentences(MLContext ml, int count = 12) => Keyed(ml, ml.Data.LoadFromEnumerable(SyntheticText.Sentences(count, seed: 3)));

        [TestMethod]
        public void Missing_text_column_is_named()
        {
            var ml = new MLContext(1);
            var trainer = ml.MulticlassClassification.Trainers.TextClassification(sentence1ColumnName: "Text");
            Action fit = () => trainer.Fit(Sentences(ml));
            fit.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("'Text'").And.Contain("not found").And.Contain("Sentence1");
        }

        [TestMethod]
        public void Missing_second_sentence_column_is_named()
        {
            var ml = new MLContext(1);
            Action fit = () => Trainer(ml, o => o.Sentence2ColumnName = "Hypothesis").Fit(Sentences(ml));
            fit.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("'Hypothesis'").And.Contain("not found");
        }

        [TestMethod]
        public void Text_column_of_the_wrong_type_is_named_with_what_was_expected()
        {
            var ml = new MLContext(1);
            var data = Keyed(ml, ml.Data.LoadFromEnumerable(new[] { new NumberRow { Sentence1 = 1, Label = "a" }, new NumberRow { Sentence1 = 2, Label = "b" } }));
            Action fit = () => Trainer(ml).Fit(data);
            fit.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("'Sentence1'").And.Contain("text").And.Contain("Single");
        }

        [TestMethod]
        public void Label_that_is_not_a_key_is_refused_with_the_fix()
        {
            var ml = new MLContext(1);
            Action fit = () => Trainer(ml).Fit(ml.Data.LoadFromEnumerable(SyntheticText.Sentences(12, seed: 3)));
            fit.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("'Label'").And.Contain("MapValueToKey");
        }

        [TestMethod]
        public void Single_class_is_refused()
        {
            var ml = new MLContext(1);
            var rows = SyntheticText.Sentences(12, seed: 3).Select(r => new SyntheticText.Row { Sentence1 = r.Sentence1, Label = "only" });
            Action fit = () => Trainer(ml).Fit(Keyed(ml, ml.Data.LoadFromEnumerable(rows)));
            fit.Should().Throw<ArgumentException>().Which.Message.Should().Contain("'Label'").And.Contain("at least two");
        }

        [TestMethod]
        public void Empty_data_is_refused()
        {
            var ml = new MLContext(1);
            var toKey = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(SyntheticText.Sentences(6, seed: 3)));
            var empty = toKey.Transform(ml.Data.LoadFromEnumerable(new List<SyntheticText.Row>()));
            Action fit = () => Trainer(ml).Fit(empty);
            fit.Should().Throw<ArgumentException>().Which.Message.Should().Contain("empty");
        }

        [TestMethod]
        public void Bad_options_name_the_option()
        {
            var ml = new MLContext(1);
            Action heads = () => Trainer(ml, o => { o.EmbeddingSize = 64; o.NumberOfHeads = 3; });
            heads.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("NumberOfHeads");
            Action length = () => Trainer(ml, o => o.MaxSequenceLength = 2);
            length.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("MaxSequenceLength");
            Action vocabulary = () => Trainer(ml, o => o.VocabularyPath = "/nonexistent/vocab.txt");
            vocabulary.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("VocabularyPath");
        }

        [TestMethod]
        public void Empty_strings_and_very_long_texts_train_and_score()
        {
            var ml = new MLContext(1);
            var rows = SyntheticText.Sentences(24, seed: 3);
            rows[0].Sentence1 = "";
            rows[1].Sentence1 = null;
            rows[2].Sentence1 = string.Join(" ", Enumerable.Repeat("goal team stadium", 3000));
            var data = ml.Data.LoadFromEnumerable(rows);
            var model = TextClassificationTrainerTests.Pipeline(ml, Trainer(ml)).Fit(data);
            var predictions = model.Transform(data).GetColumn<string>("PredictedLabel").ToArray();
            predictions.Should().HaveCount(24).And.OnlyContain(p => SyntheticText.Topics.Contains(p));
        }

        private static List<SyntheticText.Row> OddTexts()
        {
            var rows = SyntheticText.Sentences(24, seed: 3);
            rows[0].Sentence1 = " \t\n  \u00A0 ";
            rows[1].Sentence1 = "";
            rows[2].Sentence1 = new string('x', 39_999) + " " + string.Concat(Enumerable.Repeat("goal team ", 6_000)); // 100,000 characters
            rows[2].Sentence1.Length.Should().Be(100_000);
            return rows;
        }

        [TestMethod]
        public void Whitespace_only_and_100000_character_texts_train_and_score_from_scratch()
        {
            var ml = new MLContext(1);
            var rows = OddTexts();
            var model = TextClassificationTrainerTests.Pipeline(ml, Trainer(ml)).Fit(ml.Data.LoadFromEnumerable(rows));
            var scores = model.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Score").ToArray();
            scores.Should().HaveCount(24).And.OnlyContain(s => s.Length == 3 && s.All(float.IsFinite));
        }

        [TestMethod]
        [Timeout(300_000)]
        public void Whitespace_only_and_100000_character_texts_train_and_score_with_the_pretrained_encoder()
        {
            var ml = new MLContext(1);
            var rows = OddTexts();
            var options = MiniLmTrainerTests.SmallOptions();
            options.Epochs = 1;
            var model = TextClassificationTrainerTests.Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options)).Fit(ml.Data.LoadFromEnumerable(rows));
            var scores = model.Transform(ml.Data.LoadFromEnumerable(rows.Take(4))).GetColumn<float[]>("Score").ToArray();
            scores.Should().HaveCount(4).And.OnlyContain(s => s.Length == 3 && s.All(float.IsFinite));
        }

        [TestMethod]
        public void Rows_with_a_missing_label_are_skipped_and_counted_in_the_summary()
        {
            var ml = new MLContext(1);
            var rows = SyntheticText.Sentences(24, seed: 3);
            var keyer = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows.Where(r => r.Label != "space")));
            var model = Trainer(ml).Fit(keyer.Transform(ml.Data.LoadFromEnumerable(rows)));
            model.Summary.SkippedRows.Should().ContainSingle().Which.Count.Should().Be(rows.Count(r => r.Label == "space"));
        }

        [TestMethod]
        public void Validation_set_without_the_text_column_is_named()
        {
            var ml = new MLContext(1);
            var data = Sentences(ml);
            var validation = ml.Transforms.DropColumns("Sentence1").Fit(data).Transform(data);
            Action fit = () => Trainer(ml, o => o.ValidationSet = validation).Fit(data);
            fit.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("'Sentence1'").And.Contain("validation set");
        }

        [TestMethod]
        public void Vocabulary_file_is_used_and_unusable_lines_are_skipped()
        {
            string path = Path.GetTempFileName();
            try
            {
                File.WriteAllLines(path, new[] { "[PAD]", "Goal", "team", "", "team", "don't", "orbit", "garlic" });
                TextVocabulary.Read(path, out int skipped).Should().Equal("goal", "team", "orbit", "garlic");
                skipped.Should().Be(3);
                var ml = new MLContext(1);
                var model = TextClassificationTrainerTests.Pipeline(ml, Trainer(ml, o => o.VocabularyPath = path))
                    .Fit(ml.Data.LoadFromEnumerable(SyntheticText.Sentences(24, seed: 3)));
                ((IEnumerable<ITransformer>)model).OfType<TextClassificationTransformer>().Single().VocabularySize.Should().Be(4 + 4);
            }
            finally
            {
                File.Delete(path);
            }
        }

        [TestMethod]
        public void Initial_weights_that_do_not_fit_are_refused_with_the_path()
        {
            string path = Path.GetTempFileName();
            try
            {
                File.WriteAllText(path, "not a weights file");
                var ml = new MLContext(1);
                Action fit = () => TextClassificationTrainerTests.Pipeline(ml, Trainer(ml, o => o.InitialWeightsPath = path))
                    .Fit(ml.Data.LoadFromEnumerable(SyntheticText.Sentences(12, seed: 3)));
                fit.Should().Throw<ArgumentException>().Which.Message.Should().Contain("InitialWeightsPath").And.Contain(path);
            }
            finally
            {
                File.Delete(path);
            }
        }
    }
}
