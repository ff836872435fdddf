using System;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>
    /// BERT-uncased cleaning and folding for Microsoft.ML.Tokenizers, character by character
    /// (<see cref="BertUncasedCharacters.Normalized"/>): removed characters vanish, whitespace becomes a space, CJK
    /// ideographs get a space on each side, everything else is lowercased with its accents stripped.
    /// The package's own BertNormalizer deletes tab/CR/LF instead of spacing them, which glues words together.
    /// </summary>
    internal sealed class BertUncasedNormalizer : Normalizer
    {
        public static readonly BertUncasedNormalizer Instance = new BertUncasedNormalizer();

        public override string Normalize(string original) => Normalize(original.AsSpan());

        public override string Normalize(ReadOnlySpan<char> original)
        {
            var normalized = new StringBuilder(original.Length + 8);
            int i = 0;
            while (i < original.Length)
            {
                // A lone surrogate is U+FFFD to Rune, which is removed, as ONNX Runtime's UTF-8 conversion makes it.
                Rune.DecodeFromUtf16(original.Slice(i), out Rune rune, out int consumed);
                i += consumed;
                string text = BertUncasedCharacters.Normalized(rune.Value);
                if (text.Length > 0 && BertUncasedCharacters.IsCjk(rune.Value)) // removed first: an unassigned code point in a CJK block splits nothing
                    normalized.Append(' ').Append(text).Append(' ');
                else
                    normalized.Append(text);
            }
            return normalized.ToString();
        }
    }
}
