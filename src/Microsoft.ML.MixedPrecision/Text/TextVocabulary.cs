using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>The word list of a <see cref="TextTokenizer"/>: learned from training sentences or read from a file.</summary>
    internal static class TextVocabulary
    {
        /// <summary>
        /// The most frequent tokens seen at least <paramref name="minCount"/> times, at most <paramref name="maxSize"/>,
        /// most frequent first (ties in ordinal order, so the list does not depend on the row order).
        /// </summary>
        public static List<string> Learn(IEnumerable<string> sentences, int minCount, int maxSize)
        {
            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (string sentence in sentences)
            {
                foreach (string token in TextTokenizer.Tokenize(sentence))
                    counts[token] = counts.TryGetValue(token, out int c) ? c + 1 : 1;
            }
            return counts.Where(kv => kv.Value >= minCount)
                .OrderByDescending(kv => kv.Value)
                .ThenBy(kv => kv.Key, StringComparer.Ordinal)
                .Take(maxSize)
                .Select(kv => kv.Key)
                .ToList();
        }

        /// <summary>
        /// One token per line, in id order. Lines are trimmed and normalized like the text; blank lines, duplicates and
        /// entries the tokenizer can never produce (several tokens after splitting, e.g. "[CLS]" or "don't") are skipped.
        /// </summary>
        public static List<string> Read(string path, out int skipped)
        {
            var tokens = new List<string>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            skipped = 0;
            foreach (string line in File.ReadLines(path))
            {
                string trimmed = line.Trim();
                if (trimmed.Length == 0)
                    continue;
                var split = TextTokenizer.Tokenize(trimmed);
                if (split.Count != 1 || !seen.Add(split[0]))
                {
                    skipped++;
                    continue;
                }
                tokens.Add(split[0]);
            }
            return tokens;
        }
    }
}
