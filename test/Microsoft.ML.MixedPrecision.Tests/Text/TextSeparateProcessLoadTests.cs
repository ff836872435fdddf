using System;
using System.Globalization;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Tests.Scoring;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    /// <summary>
    /// A saved text model loads and scores in a separate process (ConsumerCheck) that references only stock ML.NET
    /// packages: tokenization is inside the ONNX graph, so not even the image decode assembly gets loaded.
    /// </summary>
    [TestClass]
    public sealed class TextSeparateProcessLoadTests
    {
        [TestMethod]
        [Timeout(180_000)]
        public void Fresh_consumer_process_loads_and_scores_a_text_model_identically()
        {
            var ml = new MLContext(seed: 1);
            var rows = SyntheticText.Sentences(60, seed: 8);
            var data = ml.Data.LoadFromEnumerable(rows);
            var options = TextClassificationTrainerTests.SmallOptions();
            options.Epochs = 2;
            var model = TextClassificationTrainerTests.Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options).WithMixedPrecision()).Fit(data);
            string zip = Path.Combine(Path.GetTempPath(), $"mp-text-consumer-{Guid.NewGuid():N}.zip");
            try
            {
                // The trainer's model alone (text in, Score + key PredictedLabel out): the consumer has no Label column.
                var trained = ((System.Collections.Generic.IEnumerable<ITransformer>)model).OfType<TextClassificationTransformer>().Single();
                ml.Model.Save(trained, data.Schema, zip);
                string[] sentences = { "The striker scored a goal!", "", "Bake the dough with garlic and butter.", "ÉTOILES et planète: «orbit» 😀" };
                var input = ml.Data.LoadFromEnumerable(sentences.Select(s => new SyntheticText.Row { Sentence1 = s, Label = SyntheticText.Topics[0] }));
                var scored = trained.Transform(input);
                var expectedLabels = scored.GetColumn<uint>("PredictedLabel").Select(k => trained.ClassNames[(int)k - 1]).ToList();
                var expectedScores = scored.GetColumn<float[]>("Score").ToList();

                var run = SeparateProcessLoadTests.RunConsumer(zip, "text", "Sentence1", sentences);
                var lines = run.Where(l => l.StartsWith("ROW\t")).Select(l => l.Split('\t')).ToList();
                lines.Select(r => r[1]).Should().Equal(expectedLabels);
                var scores = lines.Select(r => r[2].Split(';').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray()).ToList();
                scores.Should().BeEquivalentTo(expectedScores, o => o.WithStrictOrdering(), "scores must be identical across processes");
                SeparateProcessLoadTests.Line(run, "SLOTNAMES").Should().Be(string.Join(";", SyntheticText.Topics));
                var assemblies = SeparateProcessLoadTests.Line(run, "ASSEMBLIES").Split(';', StringSplitOptions.RemoveEmptyEntries);
                assemblies.Should().NotContain(a => a.StartsWith("TorchSharp") || a == "Microsoft.ML.MixedPrecision" || a == "Microsoft.ML.MixedPrecision.ImageDecoding",
                    "nothing but stock ML.NET, ONNX Runtime (and the consumer itself) is needed for a text model");
            }
            finally
            {
                File.Delete(zip);
            }
        }
    }
}
