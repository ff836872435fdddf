using System;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Text;

using A = Microsoft.ML.MixedPrecision.Export.OnnxGraphBuilder;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>
    /// The text → token ids part of a text classifier's ONNX graph, computing exactly what <see cref="TextTokenizer"/>
    /// computes in training: StringNormalizer (LOWER) → com.microsoft Tokenizer (RE2 <see cref="TextTokenizer.TokenPattern"/>)
    /// → ai.onnx.ml LabelEncoder (unknown → UNK) per sentence, then [CLS] s1 [SEP] (s2 [SEP]) truncated like
    /// <see cref="TextTokenizer.PairBudget"/> and zero-padded to the maximum length.
    /// </summary>
    internal static class TextTokenizerOnnx
    {
        public const string MicrosoftDomain = "com.microsoft";
        public const string MlDomain = "ai.onnx.ml";

        /// <summary>
        /// Appends the tokenization of <paramref name="text"/> (string [1, 1], or [1, 2] for sentence pairs, as ML.NET
        /// feeds a text column / a 2-slot text vector) and returns the value holding the ids, int64 [1, MaxLength].
        /// </summary>
        public static string AddTokenIds(OnnxGraphBuilder graph, TextTokenizer tokenizer, string text)
        {
            if (graph == null)
                throw new ArgumentNullException(nameof(graph));
            if (tokenizer == null)
                throw new ArgumentNullException(nameof(tokenizer));
            if (tokenizer.Vocabulary.Count == 0)
                throw new ArgumentException("The vocabulary is empty.", nameof(tokenizer));
            graph.UseOpset(MicrosoftDomain, 1);
            graph.UseOpset(MlDomain, 2);
            int length = tokenizer.MaxLength;
            string zero = graph.AddInitializer("tok_zero", new long[] { 0 }, 1);
            string cls = graph.AddInitializer("tok_cls", new long[] { TextTokenizer.ClsId }, 1);
            string sep = graph.AddInitializer("tok_sep", new long[] { TextTokenizer.SepId }, 1);
            string padding = graph.AddInitializer("tok_padding", new long[length], length);
            string sequence;
            if (!tokenizer.Pairs)
            {
                string ids = SentenceIds(graph, tokenizer, text);
                string n = graph.Add("Min", "tok_n", new[] { graph.Add("Shape", "tok_len", new[] { ids }), Const(graph, length - 2) });
                string kept = graph.Add("Slice", "tok_kept", new[] { ids, zero, n, zero });
                sequence = graph.Add("Concat", "tok_seq", new[] { cls, kept, sep, padding }, A.Attr("axis", 0L));
            }
            else
            {
                string one = graph.AddInitializer("tok_one", new long[] { 1 }, 1);
                string first = graph.Add("Gather", "tok_text1", new[] { text, zero }, A.Attr("axis", 1L));
                string second = graph.Add("Gather", "tok_text2", new[] { text, one }, A.Attr("axis", 1L));
                string ids1 = SentenceIds(graph, tokenizer, first);
                string ids2 = SentenceIds(graph, tokenizer, second);
                string len1 = graph.Add("Shape", "tok_len1", new[] { ids1 });
                string len2 = graph.Add("Shape", "tok_len2", new[] { ids2 });
                // n1 = min(len1, max(half, budget - len2)); n2 = min(len2, budget - n1)   (TextTokenizer.PairBudget)
                int budget = length - 3;
                string budgetValue = Const(graph, budget);
                string rest2 = graph.Add("Sub", "tok_rest2", new[] { budgetValue, len2 });
                string n1 = graph.Add("Min", "tok_n1", new[] { len1, graph.Add("Max", "tok_share1", new[] { Const(graph, (budget + 1) / 2), rest2 }) });
                string n2 = graph.Add("Min", "tok_n2", new[] { len2, graph.Add("Sub", "tok_rest1", new[] { budgetValue, n1 }) });
                string kept1 = graph.Add("Slice", "tok_kept1", new[] { ids1, zero, n1, zero });
                string kept2 = graph.Add("Slice", "tok_kept2", new[] { ids2, zero, n2, zero });
                sequence = graph.Add("Concat", "tok_seq", new[] { cls, kept1, sep, kept2, sep, padding }, A.Attr("axis", 0L));
            }
            string fixedLength = graph.Add("Slice", "tok_fixed", new[] { sequence, zero, Const(graph, length), zero });
            return graph.Add("Reshape", "token_ids", new[] { fixedLength, graph.AddInitializer("tok_shape", new long[] { 1, length }, 2) });
        }

        /// <summary>One sentence, string [1, 1] → its token ids, int64 [T] (T may be 0).</summary>
        private static string SentenceIds(OnnxGraphBuilder graph, TextTokenizer tokenizer, string text)
        {
            string normalized = AddNormalizer(graph, text);
            string tokens = graph.AddNode("Tokenizer", new[] { normalized }, new[] { "tok_tokens" }, new[]
            {
                A.Attr("mark", 0L),
                A.Attr("mincharnum", 1L),
                A.Attr("pad_value", "#"),
                A.Attr("tokenexp", TextTokenizer.TokenPattern),
            }, MicrosoftDomain)[0];
            long[] values = Enumerable.Range(TextTokenizer.SpecialTokenCount, tokenizer.Vocabulary.Count).Select(i => (long)i).ToArray();
            string ids = graph.AddNode("LabelEncoder", new[] { tokens }, new[] { "tok_ids" }, new[]
            {
                A.Attr("keys_strings", tokenizer.Vocabulary.ToArray()),
                A.Attr("values_int64s", values),
                A.Attr("default_int64", TextTokenizer.UnknownId),
            }, MlDomain)[0];
            return graph.Add("Reshape", "tok_flat", new[] { ids, graph.AddInitializer("tok_flat_shape", new long[] { -1 }, 1) });
        }

        /// <summary>StringNormalizer(LOWER), the step <see cref="TextTokenizer.Normalize"/> mirrors.</summary>
        public static string AddNormalizer(OnnxGraphBuilder graph, string text)
            => graph.Add("StringNormalizer", "tok_normalized", new[] { text },
                A.Attr("case_change_action", "LOWER"),
                A.Attr("is_case_sensitive", 1L),
                A.Attr("locale", TextTokenizer.Locale));

        private static string Const(OnnxGraphBuilder graph, long value) => graph.AddInitializer("tok_const", new[] { value }, 1);
    }
}
