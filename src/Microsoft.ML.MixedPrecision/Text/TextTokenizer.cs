using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>
    /// The tokenizer training uses, written to give exactly the ids the exported ONNX graph computes
    /// (<see cref="TextTokenizerOnnx"/>): ai.onnx StringNormalizer (LOWER, locale <see cref="Locale"/>) →
    /// com.microsoft Tokenizer (<see cref="TokenPattern"/>, mincharnum 1) → ai.onnx.ml LabelEncoder (unknown → UNK) →
    /// [CLS] sentence1 [SEP] (sentence2 [SEP]) truncated, longest segment first, to the maximum length.
    /// Word level, lowercased: a token is a run of characters that are neither whitespace nor a listed punctuation
    /// mark; each punctuation mark is a token of its own. Both character sets are spelled out code point by code point
    /// (no Unicode categories), so RE2 and .NET cannot disagree about them.
    /// </summary>
    internal sealed class TextTokenizer
    {
        public const long PadId = 0;
        public const long UnknownId = 1;
        public const long ClsId = 2;
        public const long SepId = 3;
        public const int SpecialTokenCount = 4;

        /// <summary>StringNormalizer locale. "C.UTF-8" exists on glibc systems without language packs.</summary>
        public const string Locale = "C.UTF-8";

        private static readonly int[] WhitespaceCodePoints =
            new[] { 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680 }
            .Concat(Enumerable.Range(0x2000, 11))
            .Concat(new[] { 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF })
            .ToArray();

        private static readonly int[] PunctuationCodePoints =
            Enumerable.Range(0x21, 15)          // ! " # $ % & ' ( ) * + , - . /
            .Concat(Enumerable.Range(0x3A, 7))  // : ; < = > ? @
            .Concat(Enumerable.Range(0x5B, 6))  // [ \ ] ^ _ `
            .Concat(Enumerable.Range(0x7B, 4))  // { | } ~
            .Concat(new[] { 0xA1, 0xAB, 0xB7, 0xBB, 0xBF, 0x2013, 0x2014, 0x2018, 0x2019, 0x201A, 0x201C, 0x201D, 0x201E, 0x2026, 0x2039, 0x203A })
            .ToArray();

        private static readonly HashSet<int> Whitespace = new HashSet<int>(WhitespaceCodePoints);
        private static readonly HashSet<int> Punctuation = new HashSet<int>(PunctuationCodePoints);

        /// <summary>The RE2 expression of the ONNX Tokenizer: a run of word characters, or one punctuation mark.</summary>
        public static readonly string TokenPattern = BuildPattern();

        private readonly Dictionary<string, long> _ids;

        /// <param name="vocabulary">The learned tokens (normalized, unique), given ids <see cref="SpecialTokenCount"/>, +1, ...</param>
        /// <param name="maxLength">Sequence length including [CLS] and [SEP] tokens.</param>
        /// <param name="pairs">Whether sequences hold two sentences.</param>
        public TextTokenizer(IReadOnlyList<string> vocabulary, int maxLength, bool pairs)
        {
            if (vocabulary == null)
                throw new ArgumentNullException(nameof(vocabulary));
            int specials = pairs ? 3 : 2;
            if (maxLength < specials + (pairs ? 2 : 1))
                throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "The maximum sequence length is too small to hold any token.");
            Vocabulary = vocabulary;
            MaxLength = maxLength;
            Pairs = pairs;
            _ids = new Dictionary<string, long>(vocabulary.Count, StringComparer.Ordinal);
            for (int i = 0; i < vocabulary.Count; i++)
                _ids.Add(vocabulary[i], SpecialTokenCount + i);
        }

        public IReadOnlyList<string> Vocabulary { get; }
        public int MaxLength { get; }
        public bool Pairs { get; }

        /// <summary>Ids in the model's embedding table: special tokens plus the vocabulary.</summary>
        public int IdCount => SpecialTokenCount + Vocabulary.Count;

        /// <summary>
        /// Mirrors StringNormalizer(LOWER) of ONNX Runtime: each code point through towlower in the C.UTF-8 locale, which
        /// is the Unicode simple lowercase mapping (a test compares every cased code point with ONNX Runtime).
        /// </summary>
        public static string Normalize(string text)
        {
            if (string.IsNullOrEmpty(text))
                return string.Empty;
            var builder = new StringBuilder(text.Length);
            foreach (Rune rune in text.EnumerateRunes())
                builder.Append(Rune.ToLowerInvariant(rune).ToString());
            return builder.ToString();
        }

        /// <summary>Mirrors the ONNX Tokenizer with <see cref="TokenPattern"/> on already normalized text.</summary>
        public static List<string> Split(string normalized)
        {
            var tokens = new List<string>();
            if (string.IsNullOrEmpty(normalized))
                return tokens;
            var word = new StringBuilder();
            foreach (Rune rune in normalized.EnumerateRunes())
            {
                if (Whitespace.Contains(rune.Value))
                {
                    Flush(word, tokens);
                }
                else if (Punctuation.Contains(rune.Value))
                {
                    Flush(word, tokens);
                    tokens.Add(rune.ToString());
                }
                else
                {
                    word.Append(rune.ToString());
                }
            }
            Flush(word, tokens);
            return tokens;
        }

        /// <summary>Normalized tokens of one sentence (what the vocabulary is learned from).</summary>
        public static List<string> Tokenize(string text) => Split(Normalize(text));

        /// <summary>Token ids of one sentence, without special tokens.</summary>
        public long[] TokenIds(string text)
        {
            var tokens = Tokenize(text);
            var ids = new long[tokens.Count];
            for (int i = 0; i < ids.Length; i++)
                ids[i] = _ids.TryGetValue(tokens[i], out long id) ? id : UnknownId;
            return ids;
        }

        /// <summary>[CLS] s1 [SEP] (s2 [SEP]), truncated to <see cref="MaxLength"/>; not padded.</summary>
        public long[] Encode(string sentence1, string? sentence2 = null)
        {
            long[] a = TokenIds(sentence1);
            if (!Pairs)
            {
                int n = Math.Min(a.Length, MaxLength - 2);
                var single = new long[n + 2];
                single[0] = ClsId;
                Array.Copy(a, 0, single, 1, n);
                single[n + 1] = SepId;
                return single;
            }
            long[] b = TokenIds(sentence2!); // Pairs: the second text is always given
            var (n1, n2) = PairBudget(a.Length, b.Length, MaxLength);
            var pair = new long[n1 + n2 + 3];
            pair[0] = ClsId;
            Array.Copy(a, 0, pair, 1, n1);
            pair[n1 + 1] = SepId;
            Array.Copy(b, 0, pair, n1 + 2, n2);
            pair[n1 + n2 + 2] = SepId;
            return pair;
        }

        /// <summary>
        /// How many tokens of each sentence fit in <paramref name="maxLength"/> - 3: the first keeps at least half of the
        /// budget (rounded up) when both are long, and a short sentence leaves its unused share to the other.
        /// The ONNX graph computes the same with Min/Max/Sub.
        /// </summary>
        public static (int N1, int N2) PairBudget(int length1, int length2, int maxLength)
        {
            int budget = maxLength - 3;
            int half = (budget + 1) / 2;
            int n1 = Math.Min(length1, Math.Max(half, budget - length2));
            int n2 = Math.Min(length2, budget - n1);
            return (n1, n2);
        }

        private static void Flush(StringBuilder word, List<string> tokens)
        {
            if (word.Length == 0)
                return;
            tokens.Add(word.ToString());
            word.Clear();
        }

        private static string BuildPattern()
        {
            string punctuation = string.Concat(PunctuationCodePoints.Select(Escape));
            string excluded = string.Concat(WhitespaceCodePoints.Select(Escape)) + punctuation;
            return "[^" + excluded + "]+|[" + punctuation + "]";
        }

        private static string Escape(int codePoint) => "\\x{" + codePoint.ToString("X", CultureInfo.InvariantCulture) + "}";
    }
}
