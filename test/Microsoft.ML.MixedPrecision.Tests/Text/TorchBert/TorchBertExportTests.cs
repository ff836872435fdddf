using System;
using System.Diagnostics;
using System.IO;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Text.Pretrained;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Text.TorchBert
{
    /// <summary>
    /// A Hugging Face-style BertModel of another shape (3 layers, width 64, 4 heads, FFN 96) with random weights, exported
    /// to ONNX at test time by Debian's python3-torch 1.13 (export_bert.py), read by topology and checked against ONNX
    /// Runtime on the same file: opset 14 (LayerNorm decomposed) and 17 (one LayerNormalization node).
    /// </summary>
    [TestClass]
    public sealed class TorchBertExportTests
    {
        [TestMethod]
        [DataRow(14, DisplayName = "opset 14: decomposed LayerNorm")]
        [DataRow(17, DisplayName = "opset 17: LayerNormalization")]
        public void PyTorch_export_of_a_bert_is_read_and_matches_onnx_runtime(int opset)
        {
            string folder = BertOnnxImportTests.TempFolder();
            try
            {
                Export(folder, opset);
                string path = Path.Combine(folder, "model.onnx");
                var encoder = PretrainedTextEncoder.Read(path, vocabularyPath: null);
                var layout = encoder.Layout;
                (layout.Layers.Count, layout.Width, layout.Heads, layout.FeedForward).Should().Be((3, 64, 4, 96));
                (layout.VocabularySize, layout.MaxPositions, layout.TokenTypeCount).Should().Be((120, 32, 2));
                layout.EmbeddingNorm.Epsilon.Should().BeApproximately(1e-12, 1e-15);
                var tokenizer = new WordPieceTokenizer(encoder.Vocabulary, maxLength: 32);
                long[][] sequences =
                {
                    tokenizer.Encode("the rocket reached orbit.").Ids,
                    tokenizer.Encode("bake the dough!").Ids,
                    tokenizer.Encode("the team", "a goal, the goal").Ids,
                };
                BertOnnxImportTests.WorstDifference(encoder, File.ReadAllBytes(path), tokenizer, sequences).Should().BeLessThanOrEqualTo(1e-4);
            }
            finally
            {
                if (Directory.Exists(folder))
                    Directory.Delete(folder, recursive: true);
            }
        }

        private static void Export(string folder, int opset)
        {
            string script = Path.Combine(AppContext.BaseDirectory, "Text", "TorchBert", "export_bert.py");
            var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(script);
            psi.ArgumentList.Add(folder);
            psi.ArgumentList.Add(opset.ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var python = Process.Start(psi)!;
            var stderr = python.StandardError.ReadToEndAsync();
            string stdout = python.StandardOutput.ReadToEnd();
            python.WaitForExit(120_000).Should().BeTrue("exporting the small BERT takes seconds");
            python.ExitCode.Should().Be(0, $"export_bert.py needs Debian's python3-torch (build/prereqs.sh --torchvision):\n{stdout}\n{stderr.Result}");
        }
    }
}
