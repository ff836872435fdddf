using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading.Tasks;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Scoring
{
    /// <summary>
    /// Saves models here and loads + scores them in a separate process (ConsumerCheck) that references only stock ML.NET
    /// packages and the decode assembly — not Microsoft.ML.MixedPrecision or TorchSharp — and makes no
    /// registration call.
    /// </summary>
    [TestClass]
    public sealed class SeparateProcessLoadTests
    {
        [TestMethod]
        [Timeout(180_000)]
        public void FreshConsumerProcess_LoadsAndScoresBothImageInputKinds_Identically()
        {
            using var d = new ScoringTestData(imageCount: 4, seed: 5);
            var ml = new MLContext(1);
            var (bytesData, bytesModel, _) = ImageScoringChainTests.BytesCase(ml, d);
            var (imageData, imageModel, _) = ImageScoringChainTests.ImageCase(ml, d);
            string bytesZip = Path.Combine(d.Folder, "bytes-model.zip"), imageZip = Path.Combine(d.Folder, "image-model.zip");
            ml.Model.Save(bytesModel, bytesData.Schema, bytesZip);
            ml.Model.Save(imageModel, imageData.Schema, imageZip);

            var expectedLabels = bytesModel.Transform(bytesData).GetColumn<uint>("PredictedLabel").Select(k => ScoringTestData.LabelOfClass[k - 1]).ToList();
            var expectedScores = bytesModel.Transform(bytesData).GetColumn<float[]>("Score").ToList();
            string[] files = d.Samples.Select(s => s.Path).ToArray();

            // Both consumers at once: each is mostly process start-up.
            var bytesRun = Task.Run(() => RunConsumer(bytesZip, "bytes", "ImageSource", files));
            var imageRun = Task.Run(() => RunConsumer(imageZip, "image", "Image", files));
            Task.WaitAll(bytesRun, imageRun);

            foreach (var (run, kind) in new[] { (bytesRun.Result, "bytes"), (imageRun.Result, "image") })
            {
                var rows = run.Where(l => l.StartsWith("ROW\t")).Select(l => l.Split('\t')).ToList();
                rows.Select(r => r[1]).Should().Equal(expectedLabels, kind);
                var scores = rows.Select(r => r[2].Split(';').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray()).ToList();
                scores.Should().BeEquivalentTo(expectedScores, o => o.WithStrictOrdering(), kind + ": scores must be identical across processes");
                Line(run, "SLOTNAMES").Should().Be("cat;dog;bird");
                Line(run, "EVALUATE").Should().Be("1");
                var assemblies = Line(run, "ASSEMBLIES").Split(';', StringSplitOptions.RemoveEmptyEntries);
                // (Google.Protobuf does get loaded: Microsoft.ML.OnnxTransformer itself depends on it.)
                assemblies.Should().NotContain(a => a.StartsWith("TorchSharp") || a == "Microsoft.ML.MixedPrecision", kind);
                if (kind == "bytes")
                    assemblies.Should().Contain("Microsoft.ML.MixedPrecision.ImageDecoding", "Model.Load finds and loads the decode assembly by itself");
                else
                    assemblies.Should().NotContain("Microsoft.ML.MixedPrecision.ImageDecoding", "the image-column model is fully stock");
            }
        }

        internal static string Line(IEnumerable<string> output, string tag)
            => output.Single(l => l.StartsWith(tag + "\t")).Substring(tag.Length + 1);

        internal static List<string> RunConsumer(string zip, string kind, string column, string[] files)
        {
            return ChildProcess.Run("ConsumerCheckDll", TimeSpan.FromSeconds(150), $"consumer ({kind})",
                new[] { zip, kind, column }.Concat(files).ToArray());
        }
    }
}
