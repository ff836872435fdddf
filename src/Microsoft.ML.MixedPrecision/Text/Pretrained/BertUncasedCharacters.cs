using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>
    /// The per-character rules of HuggingFace's BERT-uncased BasicTokenizer (clean_text, tokenize_chinese_chars,
    /// lowercase + strip_accents, whitespace and punctuation splitting), in one place so that the managed tokenizer
    /// (<see cref="BertUncasedNormalizer"/>, <see cref="BertUncasedPreTokenizer"/>) and the tables of its ONNX form
    /// (<see cref="WordPieceOnnx"/>) are computed from the same code and the same Unicode data (this runtime's).
    /// Every rule is a function of one code point; that is what lets ONNX apply them as lookup tables.
    /// The Unicode version is the runtime's (.NET 10: 16.0), so code points assigned after the reference's Python
    /// (3.11: 14.0) are kept here where Python drops them as unassigned; an exported graph carries the tables of the
    /// runtime that exported it.
    /// </summary>
    internal static class BertUncasedCharacters
    {
        private static readonly string[] Bmp = BuildBmp();
        private static readonly ConcurrentDictionary<int, string> Supplementary = new ConcurrentDictionary<int, string>();

        /// <summary>
        /// Dropped by clean_text / strip_accents: NUL, U+FFFD, every Unicode "C*" character (control, format, private
        /// use, unassigned, surrogate) except tab, CR and LF, nonspacing marks (Mn), and characters that fold to nothing.
        /// Dropped characters do not separate words ("zero\u200Bwidth" is one word).
        /// </summary>
        public static bool IsRemoved(int codePoint)
        {
            if (codePoint == 0 || codePoint == 0xFFFD)
                return true;
            if (codePoint == '\t' || codePoint == '\n' || codePoint == '\r')
                return false;
            switch (Category(codePoint))
            {
                case UnicodeCategory.Control:
                case UnicodeCategory.Format:
                case UnicodeCategory.PrivateUse:
                case UnicodeCategory.OtherNotAssigned:
                case UnicodeCategory.Surrogate:
                case UnicodeCategory.NonSpacingMark:
                    return true;
            }
            return !IsWhitespace(codePoint) && Fold(codePoint).Length == 0;
        }

        /// <summary>
        /// Word separators: space, tab, CR, LF and category Zs (BERT's _is_whitespace), plus U+2028/U+2029, which
        /// survive cleaning and then split words in Python's str.split() (and in the Rust tokenizer).
        /// </summary>
        public static bool IsWhitespace(int codePoint)
            => codePoint == ' ' || codePoint == '\t' || codePoint == '\n' || codePoint == '\r' || codePoint == 0x2028 || codePoint == 0x2029
               || Category(codePoint) == UnicodeCategory.SpaceSeparator;

        /// <summary>BERT's _is_punctuation: ASCII 33–47, 58–64, 91–96, 123–126 (so $ + &lt; = &gt; ^ ` | ~ too) and category P*.</summary>
        public static bool IsPunctuation(int codePoint)
        {
            if ((codePoint >= 33 && codePoint <= 47) || (codePoint >= 58 && codePoint <= 64) ||
                (codePoint >= 91 && codePoint <= 96) || (codePoint >= 123 && codePoint <= 126))
                return true;
            switch (Category(codePoint))
            {
                case UnicodeCategory.ConnectorPunctuation:
                case UnicodeCategory.DashPunctuation:
                case UnicodeCategory.OpenPunctuation:
                case UnicodeCategory.ClosePunctuation:
                case UnicodeCategory.InitialQuotePunctuation:
                case UnicodeCategory.FinalQuotePunctuation:
                case UnicodeCategory.OtherPunctuation:
                    return true;
                default:
                    return false;
            }
        }

        /// <summary>BERT's _is_chinese_char: the CJK Unified Ideographs blocks and extensions, and the compatibility ideographs.</summary>
        public static bool IsCjk(int cp)
            => (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
               (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
               (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);

        /// <summary>A word boundary on both sides: punctuation, or a CJK ideograph (tokenize_chinese_chars).</summary>
        public static bool IsIsolated(int codePoint) => IsPunctuation(codePoint) || IsCjk(codePoint);

        /// <summary>
        /// Lowercase and strip accents: NFD, drop Mn, lowercase each code point (simple mapping, as the Rust tokenizer
        /// the model was trained with does: no Greek final-sigma rule, which only Python's str.lower() applies), NFD and
        /// drop Mn again. "É" → "e", "İ" → "i", "한" → its three jamo, U+F900 → U+8C48.
        /// </summary>
        public static string Fold(int codePoint)
        {
            if (codePoint >= 0xD800 && codePoint <= 0xDFFF)
                return string.Empty;
            string decomposed = StripMarks(char.ConvertFromUtf32(codePoint).Normalize(NormalizationForm.FormD));
            var lower = new StringBuilder(decomposed.Length + 1);
            foreach (Rune rune in decomposed.EnumerateRunes())
                lower.Append(Rune.ToLowerInvariant(rune).ToString());
            return StripMarks(lower.ToString().Normalize(NormalizationForm.FormD));
        }

        /// <summary>
        /// What one input character becomes in the normalized text: "" if removed, " " if whitespace, otherwise its
        /// <see cref="Fold"/>. (CJK spacing is the pre-tokenizer's job: <see cref="IsIsolated"/>.)
        /// </summary>
        public static string Normalized(int codePoint)
        {
            if (codePoint < 0x10000)
                return Bmp[codePoint];
            return Supplementary.GetOrAdd(codePoint, Compute);
        }

        /// <summary>Every code point except the surrogate range, for building tables.</summary>
        public static IEnumerable<int> AllCodePoints()
        {
            for (int cp = 0; cp <= 0x10FFFF; cp++)
                if (cp < 0xD800 || cp > 0xDFFF)
                    yield return cp;
        }

        private static string Compute(int codePoint)
            => IsRemoved(codePoint) ? string.Empty : IsWhitespace(codePoint) ? " " : Fold(codePoint);

        private static UnicodeCategory Category(int codePoint) => CharUnicodeInfo.GetUnicodeCategory(codePoint);

        private static string StripMarks(string text)
        {
            var kept = new StringBuilder(text.Length);
            foreach (Rune rune in text.EnumerateRunes())
                if (Rune.GetUnicodeCategory(rune) != UnicodeCategory.NonSpacingMark)
                    kept.Append(rune.ToString());
            return kept.ToString();
        }

        private static string[] BuildBmp()
        {
            var table = new string[0x10000];
            for (int cp = 0; cp < table.Length; cp++)
                table[cp] = Compute(cp);
            return table;
        }
    }
}
