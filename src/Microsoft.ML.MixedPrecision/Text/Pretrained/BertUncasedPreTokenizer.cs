using System;
using System.Collections.Generic;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>
    /// BERT's word splitting on text that <see cref="BertUncasedNormalizer"/> produced: spaces separate words, and every
    /// punctuation mark or CJK ideograph (<see cref="BertUncasedCharacters.IsIsolated"/>) is a word of its own.
    /// The package's word-or-punctuation pre-tokenizer instead drops symbols such as $ + &lt; = &gt; ^ | ~ and keeps "_"
    /// inside words.
    /// </summary>
    internal sealed class BertUncasedPreTokenizer : PreTokenizer
    {
        public static readonly BertUncasedPreTokenizer Instance = new BertUncasedPreTokenizer();

        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Split(text.AsSpan());

        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text);

        /// <summary>(offset, length) in UTF-16 units of each word of <paramref name="text"/>.</summary>
        public static List<(int Offset, int Length)> Split(ReadOnlySpan<char> text)
        {
            var words = new List<(int Offset, int Length)>();
            int start = -1;
            int i = 0;
            while (i < text.Length)
            {
                Rune.DecodeFromUtf16(text.Slice(i), out Rune rune, out int consumed);
                if (rune.Value == ' ')
                {
                    Flush(words, ref start, i);
                }
                else if (BertUncasedCharacters.IsIsolated(rune.Value))
                {
                    Flush(words, ref start, i);
                    words.Add((i, consumed));
                }
                else if (start < 0)
                {
                    start = i;
                }
                i += consumed;
            }
            Flush(words, ref start, text.Length);
            return words;
        }

        private static void Flush(List<(int Offset, int Length)> words, ref int start, int end)
        {
            if (start >= 0)
                words.Add((start, end - start));
            start = -1;
        }
    }
}
