using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;

namespace TextClassification
{
    /// <summary>
    /// Quotes from Debian's fortune packages, labelled by language: fortunes (English), fortunes-de, fortunes-es,
    /// fortunes-it. The files of each package are read from dpkg's own list, so nothing is guessed from folder names.
    /// </summary>
    internal static class FortuneQuotes
    {
        public sealed class Quote
        {
            public string Text { get; set; }
            public string Label { get; set; }
        }

        public static readonly (string Package, string Language)[] Packages =
        {
            ("fortunes", "en"), ("fortunes-de", "de"), ("fortunes-es", "es"), ("fortunes-it", "it"),
        };

        /// <summary>Up to <paramref name="perLanguage"/> quotes per language (20–300 characters, mostly letters), shuffled.</summary>
        public static List<Quote> Load(int perLanguage, int seed)
        {
            var random = new Random(seed);
            var all = new List<Quote>();
            foreach (var (package, language) in Packages)
            {
                string list = $"/var/lib/dpkg/info/{package}.list";
                if (!File.Exists(list))
                    throw new FileNotFoundException($"Debian package '{package}' is not installed: run ./build/prereqs.sh --text-datasets (as root) or apt-get install {package}.", list);
                var quotes = File.ReadAllLines(list)
                    .Where(f => f.StartsWith("/usr/share/games/fortunes/", StringComparison.Ordinal) && !f.EndsWith(".dat") && !f.EndsWith(".u8"))
                    .Where(f => File.Exists(f) && new FileInfo(f).LinkTarget == null)
                    .OrderBy(f => f, StringComparer.Ordinal)
                    .SelectMany(Entries)
                    .Where(IsProse)
                    .Distinct()
                    .OrderBy(_ => random.Next())
                    .Take(perLanguage)
                    .Select(t => new Quote { Text = t, Label = language })
                    .ToList();
                all.AddRange(quotes);
            }
            return all.OrderBy(_ => random.Next()).ToList();
        }

        private static IEnumerable<string> Entries(string file)
        {
            // Entries are separated by lines holding a single '%'.
            string text = File.ReadAllText(file);
            foreach (string entry in Regex.Split(text, @"^%\s*$", RegexOptions.Multiline))
                yield return Regex.Replace(entry, @"\s+", " ").Trim();
        }

        private static bool IsProse(string text)
        {
            if (text.Length < 20 || text.Length > 300)
                return false;
            int letters = text.Count(char.IsLetter);
            return letters >= 0.6 * text.Length; // skips ASCII art and tables
        }
    }
}
