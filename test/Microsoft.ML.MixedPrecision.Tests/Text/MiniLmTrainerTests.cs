using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Export.Proto;
using Microsoft.ML.MixedPrecision.Tests.Scoring;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.ML.MixedPrecision.Text.Pretrained;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    /// <summary>The text trainer fine-tuning the pretrained all-MiniLM-L6-v2, its export and its saved model.</summary>
    [TestClass]
    public class MiniLmTrainerTests
    {
        private static readonly List<SyntheticText.Row> Train = SyntheticText.Sentences(96, seed: 11);
        private static readonly List<SyntheticText.Row> Test = SyntheticText.Sentences(60, seed: 12);
        private static readonly string[] Texts =
        {
            "The striker scored a goal!", "", "Bake the dough with garlic and butter.", "ÉTOILES et planète: «orbit» 😀",
            "  tabs\tand\nnewlines  ", "$5+3=8 ~ über-naïve café 東京",
        };

        private static (TextClassificationTransformer Model, List<string> Log)? _fitted;

        internal static TextClassificationTrainer.Options SmallOptions() => new TextClassificationTrainer.Options
        {
            Epochs = 2,
            BatchSize = 16,
            MaxSequenceLength = 32,
            ValidationSetFraction = 0,
            Seed = 3,
        };

        /// <summary>One AMP fine-tune with default options (Auto: the pretrained encoder) shared by the tests that only read it.</summary>
        private static (TextClassificationTransformer Model, List<string> Log) Fitted()
        {
            if (_fitted is { } done)
                return done;
            var ml = new MLContext(seed: 1);
            var log = new List<string>();
            ml.Log += (_, e) => { if (e.Source.Contains("TextClassification")) lock (log) log.Add(e.Message); };
            var model = TextClassificationTrainerTests.Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(SmallOptions())
                    .WithMixedPrecision(new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16 })) // Auto is Float32 on a CPU without bf16
                .Fit(ml.Data.LoadFromEnumerable(Train));
            var trained = ((IEnumerable<ITransformer>)model).OfType<TextClassificationTransformer>().Single();
            _fitted = (trained, log);
            return _fitted.Value;
        }

        [TestMethod]
        [Timeout(300_000)]
        public void Auto_fine_tunes_the_pretrained_encoder_in_bf16_and_learns_topics()
        {
            var (model, log) = Fitted();
            log.Should().Contain(m => m.Contains("Encoder Auto: fine-tuning all-MiniLM-L6-v2"));
            model.Summary.ObservedActivationType.Should().Be("BFloat16", "the encoder's matmuls run under bf16 autocast");
            var ml = new MLContext(seed: 1);
            var scored = model.Transform(ml.Data.LoadFromEnumerable(Test));
            var predicted = scored.GetColumn<uint>("PredictedLabel").Select(k => model.ClassNames[(int)k - 1]).ToList();
            double accuracy = predicted.Zip(Test, (p, r) => p == r.Label ? 1.0 : 0.0).Average();
            accuracy.Should().BeGreaterThan(0.9, "the topic words are easy for a pretrained encoder");
        }

        [TestMethod]
        [Timeout(300_000)]
        public void Saved_model_scores_identically_after_load_and_in_a_fresh_consumer_process()
        {
            var (model, _) = Fitted();
            var ml = new MLContext(seed: 1);
            var input = ml.Data.LoadFromEnumerable(Texts.Select(s => new SyntheticText.Row { Sentence1 = s, Label = SyntheticText.Topics[0] }));
            var expectedScores = model.Transform(input).GetColumn<float[]>("Score").ToList();
            var expectedLabels = model.Transform(input).GetColumn<uint>("PredictedLabel").Select(k => model.ClassNames[(int)k - 1]).ToList();
            string zip = Path.Combine(Path.GetTempPath(), $"mp-minilm-{Guid.NewGuid():N}.zip");
            try
            {
                ml.Model.Save(model, input.Schema, zip);
                var loaded = ml.Model.Load(zip, out _);
                loaded.Transform(input).GetColumn<float[]>("Score").ToList().Should().BeEquivalentTo(expectedScores, o => o.WithStrictOrdering());

                var run = SeparateProcessLoadTests.RunConsumer(zip, "text", "Sentence1", Texts);
                var lines = run.Where(l => l.StartsWith("ROW\t")).Select(l => l.Split('\t')).ToList();
                lines.Select(r => r[1]).Should().Equal(expectedLabels);
                var scores = lines.Select(r => r[2].Split(';').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray()).ToList();
                scores.Should().BeEquivalentTo(expectedScores, o => o.WithStrictOrdering(), "scores must be identical across processes");
                var assemblies = SeparateProcessLoadTests.Line(run, "ASSEMBLIES").Split(';', StringSplitOptions.RemoveEmptyEntries);
                assemblies.Should().NotContain(a => a.StartsWith("TorchSharp") || a == "Microsoft.ML.MixedPrecision" || a == "Microsoft.ML.MixedPrecision.ImageDecoding"
                    || a.StartsWith("SentenceTransformers"),
                    "the saved model needs stock ML.NET and ONNX Runtime only");
            }
            finally
            {
                File.Delete(zip);
            }
        }

        [TestMethod]
        public void Exported_graph_tokenizes_and_scores_like_the_network_for_single_texts_and_pairs()
        {
            var package = MiniLmImportTests.Package;
            var tokenizer = new WordPieceTokenizer(package.Vocabulary, maxLength: 24);
            manual_seed(5);
            using var model = new BertClassifier(BertShape.MiniLmL6(classes: 3));
            BertImport.Load(model, MiniLmImportTests.Encoder);
            model.eval();
            foreach (bool pairs in new[] { false, true })
            {
                var graph = BertClassifierOnnx.Build(model, tokenizer, "text", pairs, "all-MiniLM-L6-v2", out string logits);
                graph.AddNode("Identity", new[] { logits }, new[] { "logits" }, exactOutputNames: true);
                graph.AddOutput("logits", TensorProto.Types.DataType.Float, new long?[] { 1, 3 });
                using var session = new InferenceSession(graph.ToBytes());
                double worst = 0;
                for (int i = 0; i < Texts.Length; i++)
                {
                    string first = Texts[i], second = pairs ? Texts[(i + 1) % Texts.Length] + " and a rather long second sentence to truncate" : null;
                    var text = pairs ? new[] { first, second } : new[] { first };
                    var input = NamedOnnxValue.CreateFromTensor("text", new DenseTensor<string>(text, new[] { 1, text.Length }));
                    using var results = session.Run(new[] { input });
                    float[] actual = results.First().AsTensor<float>().ToArray();
                    long[] ids = tokenizer.Encode(first, second).Ids;
                    using (no_grad())
                    using (var expected = model.forward(tensor(ids, new long[] { 1, ids.Length })))
                        worst = Math.Max(worst, expected.data<float>().ToArray().Zip(actual, (e, a) => Math.Abs(e - a)).Max());
                }
                worst.Should().BeLessThanOrEqualTo(1e-4, $"the ONNX graph ({(pairs ? "pairs" : "single texts")}) must compute the trained network's logits");
            }
        }

        [TestMethod]
        [Timeout(300_000)]
        public void Sentence_pairs_fine_tune_tells_the_segments_apart_and_survive_save_and_load()
        {
            var ml = new MLContext(seed: 1);
            var options = SmallOptions();
            options.Sentence2ColumnName = "Sentence2";
            options.Epochs = 3;
            var train = ml.Data.LoadFromEnumerable(SyntheticText.Pairs(120, seed: 21));
            var model = TextClassificationTrainerTests.Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options).WithMixedPrecision()).Fit(train);
            var test = ml.Data.LoadFromEnumerable(SyntheticText.Pairs(60, seed: 22));
            var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
            metrics.MicroAccuracy.Should().BeGreaterThan(0.8, "the label is the second sentence's topic; both topics are in every pair");
            string zip = Path.Combine(Path.GetTempPath(), $"mp-minilm-pairs-{Guid.NewGuid():N}.zip");
            try
            {
                ml.Model.Save(model, train.Schema, zip);
                var loaded = ml.Model.Load(zip, out _);
                loaded.Transform(test).GetColumn<float[]>("Score").ToList()
                    .Should().BeEquivalentTo(model.Transform(test).GetColumn<float[]>("Score").ToList(), o => o.WithStrictOrdering());
            }
            finally
            {
                File.Delete(zip);
            }
        }

        [TestMethod]
        public void MaxSequenceLength_beyond_the_pretrained_positions_names_the_option_and_the_fix()
        {
            var ml = new MLContext(seed: 1);
            var options = SmallOptions();
            options.MaxSequenceLength = 600;
            Action fit = () => TextClassificationTrainerTests.Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options))
                .Fit(ml.Data.LoadFromEnumerable(Train));
            fit.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*MaxSequenceLength*at most 512*FromScratch*");
        }

        [TestMethod]
        public void Length_bucketing_batches_similar_lengths_and_keeps_every_example_once()
        {
            var random = new Random(1);
            var sequences = Enumerable.Range(0, 1000).Select(_ => new long[random.Next(3, 120)]).ToArray();
            var data = new TextTrainingData(sequences, new long[sequences.Length], bucketByLength: true);
            int[] shuffled = ExampleOrder.Shuffled(sequences.Length, new Random(2));
            int[] arranged = ((ITrainingData<TextTrainingData.PaddedIds>)data).ArrangeBatches(shuffled, 16, new Random(3));
            arranged.Should().BeEquivalentTo(shuffled, "bucketing reorders, it never drops or repeats an example");
            double Padding(int[] order) => Enumerable.Range(0, order.Length / 16).Sum(b =>
            {
                var lengths = order.Skip(b * 16).Take(16).Select(i => sequences[i].Length).ToList();
                return lengths.Sum(l => lengths.Max() - l);
            });
            Padding(arranged).Should().BeLessThan(Padding(shuffled) / 5, "sorted windows put similar lengths together");
            var plain = new TextTrainingData(sequences, new long[sequences.Length]);
            ((ITrainingData<TextTrainingData.PaddedIds>)plain).ArrangeBatches(shuffled, 16, new Random(3)).Should().Equal(shuffled);
        }
    }
}
