using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    /// <summary>
    /// Tiny topic-classification sets made in the test: three topics with their own words, mixed with filler words every
    /// topic shares, random casing and punctuation. A word-level model separates them only by the topic words.
    /// </summary>
    internal static class SyntheticText
    {
        public static readonly string[] Topics = { "sports", "cooking", "space" };

        private static readonly string[][] TopicWords =
        {
            new[] { "goal", "match", "team", "score", "referee", "league", "striker", "stadium", "coach", "penalty", "tennis", "racket" },
            new[] { "oven", "recipe", "butter", "flour", "simmer", "garlic", "sauce", "bake", "onion", "pepper", "kitchen", "dough" },
            new[] { "orbit", "planet", "rocket", "galaxy", "comet", "nebula", "astronaut", "telescope", "moon", "launch", "stars", "gravity" },
        };

        private static readonly string[] Filler =
            { "the", "a", "was", "very", "today", "we", "saw", "and", "then", "it", "really", "after", "with", "our", "new", "big", "some", "again" };

        private static readonly string[] Punctuation = { ".", "!", "?", ",", "" };

        public sealed class Row
        {
            public string Sentence1 { get; set; }
            public string Label { get; set; }
        }

        public sealed class PairRow
        {
            public string Sentence1 { get; set; }
            public string Sentence2 { get; set; }
            public string Label { get; set; }
        }

        public static List<Row> Sentences(int count, int seed)
        {
            var random = new Random(seed);
            return Enumerable.Range(0, count).Select(i =>
            {
                int topic = i % Topics.Length;
                return new Row { Sentence1 = Sentence(random, topic), Label = Topics[topic] };
            }).ToList();
        }

        /// <summary>
        /// Two sentences about two different topics; the label is the topic of the SECOND one. Both topics' words are in
        /// every pair, so a model that cannot tell the segments apart is right half the time at best.
        /// </summary>
        public static List<PairRow> Pairs(int count, int seed)
        {
            var random = new Random(seed);
            return Enumerable.Range(0, count).Select(i =>
            {
                int b = i % Topics.Length;
                int a = (b + 1 + random.Next(Topics.Length - 1)) % Topics.Length;
                return new PairRow { Sentence1 = Sentence(random, a), Sentence2 = Sentence(random, b), Label = Topics[b] };
            }).ToList();
        }

        public static string Sentence(Random random, int topic)
        {
            int length = random.Next(6, 13);
            int topical = random.Next(2, 4);
            var words = new List<string>();
            for (int w = 0; w < length; w++)
            {
                string word = w < topical ? TopicWords[topic][random.Next(TopicWords[topic].Length)] : Filler[random.Next(Filler.Length)];
                if (random.Next(8) == 0)
                    word = char.ToUpperInvariant(word[0]) + word.Substring(1);
                words.Add(word);
            }
            // Topic words anywhere in the sentence.
            words = words.OrderBy(_ => random.Next()).ToList();
            return string.Join(" ", words) + Punctuation[random.Next(Punctuation.Length)];
        }
    }
}
