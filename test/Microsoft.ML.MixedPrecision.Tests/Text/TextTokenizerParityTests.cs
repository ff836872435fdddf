using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    /// <summary>
    /// Training tokenizes in managed code; scoring tokenizes inside the ONNX graph. They must give the same ids, or the
    /// saved model would see different inputs from the ones it was trained on. ONNX Runtime runs the exported
    /// tokenization graph here and its ids are compared with <see cref="TextTokenizer"/>'s on tricky strings.
    /// </summary>
    [TestClass]
    public class TextTokenizerParityTests
    {
        private static readonly string LongText = string.Join(" ", Enumerable.Range(0, 400).Select(i => i % 7 == 0 ? "Zebra," : "the"));

        private static readonly string[] Tricky =
        {
            "",
            " ",
            "Hello, World!",
            "HELLO world hello",
            "  leading and   trailing   spaces  ",
            "tabs\tand\nnewlines\r\nand\u000bvertical",
            "l'homme qui «rit» — c'est ça…",
            "Ärger über Öl und Straße; ÉCOLE à Paris",
            "¿Qué pasa? ¡Nada!",
            "ΣΊΣΥΦΟΣ και Ελληνικά",
            "Кириллица ПРИВЕТ мир",
            "İstanbul ıı KELVIN \u212A sign",
            "日本語のテキスト、中文。",
            "emoji 😀 inside 👍🏽 text",
            "😀",
            "😀😀 x",
            "a😀",
            "non\u00a0breaking\u2009thin\u3000ideographic",
            "x__y--z..w",
            "digits 12345 and 3.14 and 1,000",
            "zero\u200bwidth and soft\u00adhyphen",
            "unknownword qwertyuiop zebra",
            "[CLS] [SEP] [PAD] #",
            "\\back\\slash/ \"quoted\" `tick` {brace} [bracket] (paren) <angle>",
            "ÀÉÎÕÜ ÇÑ Ø Æ Œ ß ẞ",
            "ǅ ǈ ǋ titlecase",
            LongText,
        };

        private static readonly List<string> Vocabulary = TextVocabulary.Learn(Tricky.Concat(new[] { "hello world the zebra", "über öl" }), minCount: 1, maxSize: 60);

        [TestMethod]
        public void Onnx_tokenization_gives_the_training_ids_on_tricky_strings()
        {
            var tokenizer = new TextTokenizer(Vocabulary, maxLength: 24, pairs: false);
            using var session = IdSession(tokenizer);
            foreach (string text in Tricky)
            {
                long[] onnx = RunIds(session, new[] { text });
                long[] managed = Padded(tokenizer.Encode(text), tokenizer.MaxLength);
                onnx.Should().Equal(managed, $"text \"{text}\" (managed tokens: {string.Join(" | ", TextTokenizer.Tokenize(text))})");
            }
        }

        [TestMethod]
        public void Onnx_tokenization_of_sentence_pairs_truncates_like_training()
        {
            var tokenizer = new TextTokenizer(Vocabulary, maxLength: 16, pairs: true);
            using var session = IdSession(tokenizer);
            string[] pool = { "", "Hello, World!", LongText, "über öl", "😀", "the zebra the zebra the zebra the zebra the zebra the zebra" };
            foreach (string a in pool)
            {
                foreach (string b in pool)
                {
                    long[] onnx = RunIds(session, new[] { a, b });
                    onnx.Should().Equal(Padded(tokenizer.Encode(a, b), tokenizer.MaxLength), $"pair (\"{Short(a)}\", \"{Short(b)}\")");
                }
            }
        }

        [TestMethod]
        public void Very_long_text_is_truncated_to_the_maximum_length()
        {
            var tokenizer = new TextTokenizer(Vocabulary, maxLength: 10, pairs: false);
            long[] ids = tokenizer.Encode(LongText);
            ids.Should().HaveCount(10);
            ids[0].Should().Be(TextTokenizer.ClsId);
            ids[^1].Should().Be(TextTokenizer.SepId);
            var (n1, n2) = TextTokenizer.PairBudget(100, 100, 16);
            (n1 + n2).Should().Be(13);
            n1.Should().Be(7);
            TextTokenizer.PairBudget(2, 100, 16).Should().Be((2, 11));
            TextTokenizer.PairBudget(100, 3, 16).Should().Be((10, 3));
        }

        [TestMethod]
        public void Lowercasing_matches_onnx_runtime_for_every_cased_letter()
        {
            // Every code point whose .NET lowercase differs from itself, plus their lowercase forms, in chunks.
            var letters = Enumerable.Range(0, 0x110000)
                .Where(c => c < 0xD800 || c > 0xDFFF)
                .Select(c => new Rune(c))
                .Where(r => Rune.ToLowerInvariant(r) != r || Rune.ToUpperInvariant(r) != r)
                .ToList();
            var graph = new OnnxGraphBuilder("normalize");
            graph.AddInput("text", TensorProto.Types.DataType.String, new long?[] { 1, 1 });
            string normalized = TextTokenizerOnnx.AddNormalizer(graph, "text");
            graph.AddNode("Identity", new[] { normalized }, new[] { "out" }, exactOutputNames: true);
            graph.AddOutput("out", TensorProto.Types.DataType.String, new long?[] { 1, 1 });
            using var session = new InferenceSession(graph.ToBytes());
            var mismatches = new List<string>();
            foreach (var chunk in letters.Chunk(64))
            {
                string text = string.Concat(chunk.Select(r => r.ToString() + " "));
                string onnx = RunStrings(session, text);
                string managed = TextTokenizer.Normalize(text);
                if (onnx == managed)
                    continue;
                var o = onnx.EnumerateRunes().ToArray();
                var m = managed.EnumerateRunes().ToArray();
                for (int i = 0; i < Math.Min(o.Length, m.Length); i++)
                    if (o[i] != m[i])
                        mismatches.Add($"U+{chunk[i / 2].Value:X4}: onnx U+{o[i].Value:X4}, .NET U+{m[i].Value:X4}");
            }
            Console.WriteLine($"{letters.Count} cased code points, {mismatches.Count} mismatches");
            mismatches.Should().BeEmpty();
            foreach (string text in new[] { "😀", "😀😀😀", "A😀B", "𐐀𐐁 DESERET", "𞤀 ADLAM" })
                RunStrings(session, text).Should().Be(TextTokenizer.Normalize(text), "4-byte characters survive the normalizer");
        }

        private static string Short(string s) => s.Length > 20 ? s.Substring(0, 20) + "…" : s;

        private static long[] Padded(long[] ids, int length)
        {
            var padded = new long[length];
            Array.Copy(ids, padded, ids.Length);
            return padded;
        }

        private static InferenceSession IdSession(TextTokenizer tokenizer)
        {
            var graph = TextClassifierOnnx.TokenIdGraph(tokenizer, "text", out string ids);
            graph.AddNode("Identity", new[] { ids }, new[] { "ids" }, exactOutputNames: true);
            graph.AddOutput("ids", TensorProto.Types.DataType.Int64, new long?[] { 1, tokenizer.MaxLength });
            return new InferenceSession(graph.ToBytes());
        }

        private static long[] RunIds(InferenceSession session, string[] texts)
        {
            var input = new DenseTensor<string>(texts, new[] { 1, texts.Length });
            using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("text", input) });
            return results.Single().AsTensor<long>().ToArray();
        }

        private static string RunStrings(InferenceSession session, string text)
        {
            var input = new DenseTensor<string>(new[] { text }, new[] { 1, 1 });
            using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("text", input) });
            return results.Single().AsTensor<string>().Single();
        }
    }
}
