using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>Token ids and token types (0 for the first text and its [SEP], 1 for the second and its [SEP]).</summary>
    internal sealed class EncodedText
    {
        public EncodedText(long[] ids, long[] tokenTypes)
        {
            Ids = ids;
            TokenTypes = tokenTypes;
        }

        public long[] Ids { get; }
        public long[] TokenTypes { get; }
    }

    /// <summary>
    /// The tokenizer of the pretrained text encoder (bert-base-uncased WordPiece), used in training; its ONNX form
    /// (<see cref="WordPieceOnnx"/>) computes the same ids when scoring. It tokenizes like HuggingFace's
    /// BERT-uncased pipeline: clean, space CJK ideographs, lowercase, strip accents, split on whitespace and around
    /// every punctuation mark (<see cref="BertUncasedCharacters"/>), then WordPiece greedy longest-match-first with
    /// "##" continuations; a word of more than <see cref="MaxInputCharsPerWord"/> code points, or one that cannot be
    /// covered by vocabulary pieces, becomes a single [UNK].
    /// Text is always plain text: "[CLS]" in the input is "[", "cl", "##s", "]", not the special token, so user text
    /// cannot inject control tokens (and the ONNX graph needs no special-token matching).
    /// A character is a code point, as in Python: an emoji (a surrogate pair in .NET, 4 UTF-8 bytes in ONNX Runtime) is
    /// one character, a symbol rather than punctuation, so it stays in its word, which then is usually [UNK].
    /// Lowercasing is per character, as in the Rust tokenizer the model was trained with (no final-sigma rule).
    /// </summary>
    internal sealed class WordPieceTokenizer
    {
        /// <summary>BERT's max_input_chars_per_word, counted in code points.</summary>
        public const int MaxInputCharsPerWord = 100;

        public const string PadToken = "[PAD]";
        public const string UnknownToken = "[UNK]";
        public const string ClsToken = "[CLS]";
        public const string SepToken = "[SEP]";
        private const string MaskToken = "[MASK]";
        private const string ContinuationPrefix = "##";

        private readonly BertTokenizer _tokenizer;

        /// <param name="vocabulary">WordPiece vocabulary, id = index; must hold [PAD], [UNK], [CLS] and [SEP].</param>
        /// <param name="maxLength">Longest sequence produced, special tokens included (at least 3, room for a pair's).</param>
        public WordPieceTokenizer(IReadOnlyList<string> vocabulary, int maxLength)
        {
            if (vocabulary == null)
                throw new ArgumentNullException(nameof(vocabulary));
            if (maxLength < 3)
                throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "The maximum length must hold at least [CLS] [SEP] [SEP].");
            var ids = new Dictionary<string, int>(vocabulary.Count, StringComparer.Ordinal);
            for (int i = 0; i < vocabulary.Count; i++)
            {
                string token = vocabulary[i] ?? throw new ArgumentException($"Vocabulary entry {i} is null.", nameof(vocabulary));
                if (token.Length == 0 || token.Any(c => c == '\n' || c == '\r'))
                    throw new ArgumentException($"Vocabulary entry {i} is empty or holds a line break.", nameof(vocabulary));
                // Microsoft.ML.Tokenizers counts a word's length in UTF-16 units, BERT in code points. The two agree
                // (a word over 100 units but not over 100 code points holds a character no piece holds, so it is [UNK]
                // either way) as long as no vocabulary entry holds a character outside the BMP.
                if (token.Any(char.IsSurrogate))
                    throw new ArgumentException($"Vocabulary entry {i} holds a character outside the BMP, which this tokenizer does not support.", nameof(vocabulary));
                if (!ids.TryAdd(token, i))
                    throw new ArgumentException($"Vocabulary entry {i} ('{token}') repeats entry {ids[token]}.", nameof(vocabulary));
            }
            Vocabulary = vocabulary;
            MaxLength = maxLength;
            PadId = Require(ids, PadToken);
            UnknownId = Require(ids, UnknownToken);
            ClsId = Require(ids, ClsToken);
            SepId = Require(ids, SepToken);
            LongestPiece = vocabulary.Max(t => CodePoints(t.StartsWith(ContinuationPrefix, StringComparison.Ordinal) && t.Length > 2 ? t.Substring(2) : t));

            using var stream = new MemoryStream(Encoding.UTF8.GetBytes(string.Join("\n", vocabulary) + "\n"));
            _tokenizer = BertTokenizer.Create(stream, new BertOptions
            {
                Normalizer = BertUncasedNormalizer.Instance,
                PreTokenizer = BertUncasedPreTokenizer.Instance,
                SplitOnSpecialTokens = false,
                UnknownToken = UnknownToken,
                PaddingToken = PadToken,
                ClassificationToken = ClsToken,
                SeparatorToken = SepToken,
                MaskingToken = ids.ContainsKey(MaskToken) ? MaskToken : UnknownToken,
                ContinuingSubwordPrefix = ContinuationPrefix,
                MaxInputCharsPerWord = MaxInputCharsPerWord,
            });
        }

        public IReadOnlyList<string> Vocabulary { get; }

        /// <summary>Longest sequence <see cref="Encode"/> returns, special tokens included.</summary>
        public int MaxLength { get; }

        public long PadId { get; }
        public long UnknownId { get; }
        public long ClsId { get; }
        public long SepId { get; }

        /// <summary>Code points of the longest vocabulary piece without its "##": no match can be longer.</summary>
        public int LongestPiece { get; }

        /// <summary>Word-piece ids of <paramref name="text"/>, no special tokens, not truncated; null or empty → none.</summary>
        public long[] PieceIds(string text)
        {
            if (string.IsNullOrEmpty(text))
                return Array.Empty<long>();
            return _tokenizer.EncodeToIds(text, addSpecialTokens: false).Select(id => (long)id).ToArray();
        }

        /// <summary>
        /// [CLS] first [SEP], or [CLS] first [SEP] second [SEP] when <paramref name="second"/> is not null, truncated
        /// to <see cref="MaxLength"/> (<see cref="PairBudget"/>); not padded.
        /// </summary>
        public EncodedText Encode(string first, string? second = null)
        {
            long[] a = PieceIds(first);
            if (second == null)
            {
                int n = Math.Min(a.Length, MaxLength - 2);
                var single = new long[n + 2];
                single[0] = ClsId;
                Array.Copy(a, 0, single, 1, n);
                single[n + 1] = SepId;
                return new EncodedText(single, new long[single.Length]);
            }
            long[] b = PieceIds(second);
            var (n1, n2) = PairBudget(a.Length, b.Length, MaxLength);
            var ids = new long[n1 + n2 + 3];
            var types = new long[ids.Length];
            ids[0] = ClsId;
            Array.Copy(a, 0, ids, 1, n1);
            ids[n1 + 1] = SepId;
            Array.Copy(b, 0, ids, n1 + 2, n2);
            ids[^1] = SepId;
            for (int i = n1 + 2; i < types.Length; i++)
                types[i] = 1;
            return new EncodedText(ids, types);
        }

        /// <summary>
        /// HuggingFace's longest_first truncation in closed form (it removes a token from the longer text, the second
        /// on ties, until the pair fits): budget = maxLength − 3, n1 = min(len1, max(budget − len2, ⌈budget / 2⌉)),
        /// n2 = min(len2, budget − n1). The ONNX graph computes the same with Min/Max/Sub.
        /// </summary>
        public static (int N1, int N2) PairBudget(int length1, int length2, int maxLength)
        {
            int budget = maxLength - 3;
            int n1 = Math.Min(length1, Math.Max(budget - length2, (budget + 1) / 2));
            int n2 = Math.Min(length2, budget - n1);
            return (n1, n2);
        }

        private static long Require(Dictionary<string, int> ids, string token)
            => ids.TryGetValue(token, out int id)
                ? id
                : throw new ArgumentException($"The vocabulary has no {token} entry; a BERT WordPiece vocabulary (vocab.txt) is expected.", "vocabulary");

        private static int CodePoints(string text) => text.EnumerateRunes().Count();
    }
}
