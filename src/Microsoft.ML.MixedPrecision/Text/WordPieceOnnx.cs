using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;
using Microsoft.ML.MixedPrecision.Text.Pretrained;

using A = Microsoft.ML.MixedPrecision.Export.OnnxGraphBuilder;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>
    /// <see cref="WordPieceTokenizer"/> as ONNX nodes, so that a saved model tokenizes its raw text exactly as training
    /// did, with the operators stock ONNX Runtime has (ai.onnx 20, ai.onnx.ml LabelEncoder, com.microsoft Tokenizer);
    /// no Loop, every step works on all characters at once:
    /// <list type="number">
    /// <item>" " + text → com.microsoft Tokenizer whose expression matches one character that is not removed
    /// (<see cref="BertUncasedCharacters.IsRemoved"/>, spelled out as code point ranges so RE2's Unicode tables play no
    /// part) → the kept characters, tagged with the text (0 or 1) they came from.</item>
    /// <item>LabelEncoder: character → its fold (whitespace → " ", lowercase, accents stripped) for the ~15,000
    /// characters that change, "" for the others, which are gathered and appended instead (ONNX Runtime's Where takes
    /// no strings). A second Tokenizer splits the results (a Hangul syllable folds to 2–3 jamo) back into code points.</item>
    /// <item>Words: a character starts a word when it is not a space and it or its predecessor is punctuation / CJK
    /// (RegexFullMatch on the same ranges the managed side uses) or its predecessor is a space; CumSum numbers them.</item>
    /// <item>Candidates: for every character i and length l ≤ <see cref="WordPieceTokenizer.LongestPiece"/>, the
    /// substring i..i+l−1 (a Gather of the windows y[i..i+L−1], Split into columns, a running StringConcat over them),
    /// "##"-prefixed inside a word, looked up in the vocabulary (LabelEncoder, −1 if absent) and masked to the word;
    /// the longest hit per position is the greedy step there.</item>
    /// <item>Greedy walk: each word's chain of steps start → start + step → … is found for all positions at once by
    /// binary lifting (next^(2^k) with Gather, 7 levels cover the 100 steps a word can take); a position is a piece
    /// when the chain from its word's start lands on it. A word with a dead end on its chain, or longer than 100 code
    /// points, becomes one [UNK].</item>
    /// <item>[CLS] a [SEP] (b [SEP]) with longest_first truncation (<see cref="WordPieceTokenizer.PairBudget"/>).</item>
    /// </list>
    /// </summary>
    internal static class WordPieceOnnx
    {
        public const string MicrosoftDomain = "com.microsoft";
        public const string MlDomain = "ai.onnx.ml";

        private const string Padding = "<pad>";   // never one code point, so never a real character
        private const int Levels = 7;              // 2^7 − 1 = 127 ≥ 100 steps per word

        private static readonly Lazy<Tables> CharacterTables = new Lazy<Tables>(Tables.Build);

        /// <summary>
        /// Appends the tokenization of <paramref name="text"/> (string [1, 1], or [1, 2] when <paramref name="pairs"/>, as
        /// ML.NET feeds a text column or a 2-slot text vector). Returns the ids, int64 [1, L] with L the row's own
        /// length (not padded), and in <paramref name="tokenTypes"/> the token types, int64 [1, L].
        /// </summary>
        public static string AddTokenIds(OnnxGraphBuilder graph, WordPieceTokenizer tokenizer, string text, bool pairs, out string tokenTypes)
        {
            if (graph == null)
                throw new ArgumentNullException(nameof(graph));
            if (tokenizer == null)
                throw new ArgumentNullException(nameof(tokenizer));
            if (string.IsNullOrEmpty(text))
                throw new ArgumentException("The text input name is required.", nameof(text));
            graph.UseOpset(MicrosoftDomain, 1);
            graph.UseOpset(MlDomain, 2);
            var g = new Nodes(graph);
            var (pieces, part) = PieceIds(g, tokenizer, text, pairs ? 2 : 1);

            string cls = g.Long(tokenizer.ClsId);
            string sep = g.Long(tokenizer.SepId);
            string zero = g.Long(0);
            string ids, types;
            if (!pairs)
            {
                string n = g.Op("Min", g.Op("Shape", pieces), g.Long(tokenizer.MaxLength - 2));
                ids = g.Op("Concat", new[] { cls, g.Op("Slice", pieces, zero, n), sep }, A.Attr("axis", 0L));
                types = g.Op("Expand", zero, g.Op("Shape", ids));
            }
            else
            {
                string one = g.Long(1);
                string a = g.Op("Compress", pieces, g.Op("Equal", part, zero));
                string b = g.Op("Compress", pieces, g.Op("Equal", part, one));
                string len1 = g.Op("Shape", a);
                string len2 = g.Op("Shape", b);
                int budget = tokenizer.MaxLength - 3;
                string budgetValue = g.Long(budget);
                string n1 = g.Op("Min", len1, g.Op("Max", g.Op("Sub", budgetValue, len2), g.Long((budget + 1) / 2)));
                string n2 = g.Op("Min", len2, g.Op("Sub", budgetValue, n1));
                ids = g.Op("Concat", new[] { cls, g.Op("Slice", a, zero, n1), sep, g.Op("Slice", b, zero, n2), sep }, A.Attr("axis", 0L));
                string two = g.Long(2);
                types = g.Op("Concat", new[]
                {
                    g.Op("Expand", zero, g.Op("Add", n1, two)),
                    g.Op("Expand", one, g.Op("Add", n2, one)),
                }, A.Attr("axis", 0L));
            }
            tokenTypes = g.Op("Unsqueeze", types, zero);
            return g.Op("Unsqueeze", ids, zero);
        }

        /// <summary>Word-piece ids of all texts, int64 [T], and the text each came from, int64 [T].</summary>
        private static (string Ids, string Part) PieceIds(Nodes g, WordPieceTokenizer tokenizer, string text, int texts)
        {
            Tables tables = CharacterTables.Value;
            string zero = g.Long(0);
            string one = g.Long(1);
            string flatShape = g.Long(-1);

            // 1. Kept characters, each tagged with its text. The leading space gives every text one character and
            //    starts it on a word boundary.
            string spaced = g.Op("StringConcat", g.Strings(new[] { " " }, 1), text);
            string characters = g.Micro("Tokenizer", spaced, tables.KeptCharacter);
            string rows = g.Graph.AddInitializer("wp_rows", Enumerable.Range(0, texts).Select(i => (long)i).ToArray(), 1, texts, 1);
            var (kept, keptPart) = DropPadding(g, g.Op("Reshape", characters, flatShape),
                g.Op("Reshape", g.Op("Expand", rows, g.Op("Shape", characters)), flatShape));

            // 2. Fold, then back to code points.
            // ONNX Runtime's Where takes no strings: a listed character is its table value + "", any other "" + itself.
            string fromTable = g.Ml("LabelEncoder", new[] { kept },
                A.Attr("keys_strings", tables.FoldKeys), A.Attr("values_strings", tables.FoldValues), A.Attr("default_string", ""));
            string keptCount = g.Op("Squeeze", g.Op("Shape", kept), zero);
            string listed = g.Op("Not", g.Op("Equal", fromTable, g.Strings(new[] { "" }, 1)));
            string self = g.Op("Where", listed, keptCount, g.Op("Range", g.Scalar(0), keptCount, g.Scalar(1)));
            string fromSelf = g.Op("Gather", g.Op("Concat", new[] { kept, g.Strings(new[] { "" }, 1) }, A.Attr("axis", 0L)), self);
            string folded = g.Op("StringConcat", fromTable, fromSelf);
            string split = g.Micro("Tokenizer", folded, "(?s).");
            var (x, xPart) = DropPadding(g, g.Op("Reshape", split, flatShape),
                g.Op("Reshape", g.Op("Expand", g.Op("Unsqueeze", keptPart, one), g.Op("Shape", split)), flatShape));

            // 3. Words.
            string space = g.Op("Equal", x, g.Strings(new[] { " " }, 1));
            string isolated = g.Op("RegexFullMatch", new[] { x }, A.Attr("pattern", tables.Isolated));
            string notSpace = g.Op("Not", space);
            string allButLast = g.Long(-1);
            string previousSpace = g.Op("Concat", new[] { g.Bool(true), g.Op("Slice", space, zero, allButLast) }, A.Attr("axis", 0L));
            string previousIsolated = g.Op("Concat", new[] { g.Bool(false), g.Op("Slice", isolated, zero, allButLast) }, A.Attr("axis", 0L));
            string boundary = g.Op("Or", g.Op("Or", previousSpace, isolated), previousIsolated);
            string y = g.Op("Compress", x, notSpace);
            string yPart = g.Op("Compress", xPart, notSpace);
            string starts = g.Op("Compress", g.Op("And", notSpace, boundary), notSpace);

            // Every word yields at least one piece, so only the first MaxLength words of each text can reach the
            // output: the rest are dropped before the candidate step, which costs LongestPiece strings per character.
            string wordIndex = g.Op("Sub", g.Op("CumSum", g.Op("Cast", new[] { starts }, A.Attr("to", 7L)), g.Scalar(0)), one);
            string wordPart = g.Op("Unsqueeze", g.Op("Compress", yPart, starts), zero);
            string firstWord = g.Op("ReduceSum", new[] { g.Op("Cast", new[] { g.Op("Less", wordPart, TextIndexColumn(g, texts)) }, A.Attr("to", 7L)), one },
                A.Attr("keepdims", 0L));
            string early = g.Op("Less", g.Op("Sub", wordIndex, g.Op("Gather", firstWord, yPart)), g.Long(tokenizer.MaxLength));
            y = g.Op("Compress", y, early);
            yPart = g.Op("Compress", yPart, early);
            starts = g.Op("Compress", starts, early);

            string count = g.Op("Shape", y);
            string index = g.Op("Range", g.Scalar(0), g.Op("Squeeze", count, zero), g.Scalar(1));
            string wordOf = g.Op("Sub", g.Op("CumSum", g.Op("Cast", new[] { starts }, A.Attr("to", 7L)), g.Scalar(0)), one);
            string wordStart = g.Op("Compress", index, starts);
            string wordEnd = g.Op("Concat", new[] { g.Op("Slice", wordStart, one, g.Long(long.MaxValue)), count }, A.Attr("axis", 0L));
            string startOfChar = g.Op("Gather", wordStart, wordOf);
            string position = g.Op("Sub", index, startOfChar);
            string endOfChar = g.Op("Gather", wordEnd, wordOf);
            string remaining = g.Op("Sub", endOfChar, index);

            // 4. Candidate pieces [M, L]: column l−1 holds characters i..i+l−1.
            int longest = Math.Max(1, tokenizer.LongestPiece);
            string padded = g.Op("Concat", new[] { y, g.Strings(Enumerable.Repeat("", longest).ToArray(), longest) }, A.Attr("axis", 0L));
            string offsets = g.Graph.AddInitializer("wp_offsets", Enumerable.Range(0, longest).Select(i => (long)i).ToArray(), 1, longest);
            string window = g.Op("Gather", padded, g.Op("Add", g.Op("Unsqueeze", index, one), offsets)); // [M, L]: y[i + j]
            var columns = longest == 1
                ? new[] { window }
                : g.Graph.AddNode("Split", new[] { window }, Enumerable.Repeat("wp_char", longest).ToArray(),
                    new[] { A.Attr("axis", 1L), A.Attr("num_outputs", (long)longest) });
            for (int l = 1; l < longest; l++)
                columns[l] = g.Op("StringConcat", columns[l - 1], columns[l]);
            string candidates = g.Op("Concat", columns.ToArray(), A.Attr("axis", 1L));
            string inside = g.Op("Unsqueeze", g.Op("Cast", new[] { g.Op("Greater", position, zero) }, A.Attr("to", 7L)), one);
            candidates = g.Op("StringConcat", g.Op("Gather", g.Strings(new[] { "", "##" }, 2), inside), candidates);
            string vocabularyIds = g.Ml("LabelEncoder", new[] { candidates },
                A.Attr("keys_strings", tokenizer.Vocabulary.ToArray()),
                A.Attr("values_int64s", Enumerable.Range(0, tokenizer.Vocabulary.Count).Select(i => (long)i).ToArray()),
                A.Attr("default_int64", -1L));
            string lengths = g.Graph.AddInitializer("wp_lengths", Enumerable.Range(1, longest).Select(i => (long)i).ToArray(), 1, longest);
            string hit = g.Op("And", g.Op("Greater", vocabularyIds, g.Long(-1)),
                g.Op("LessOrEqual", lengths, g.Op("Unsqueeze", remaining, one)));
            string step = g.Op("ReduceMax", new[] { g.Op("Where", hit, lengths, zero), one }, A.Attr("keepdims", 0L));
            string column0 = g.Op("Unsqueeze", g.Op("Max", g.Op("Sub", step, one), zero), one);
            string pieceId = g.Op("Squeeze", g.Op("GatherElements", new[] { vocabularyIds, column0 }, A.Attr("axis", 1L)), one);

            // 5. Greedy walk by binary lifting: jump[k][i] = next^(2^k)(i), position M is the fixed end.
            string dead = g.Op("Equal", step, zero);
            string next = g.Op("Where", dead, endOfChar, g.Op("Add", index, step));
            var jump = new string[Levels];
            jump[0] = g.Op("Concat", new[] { next, count }, A.Attr("axis", 0L));
            for (int k = 1; k < Levels; k++)
                jump[k] = g.Op("Gather", jump[k - 1], jump[k - 1]);
            string at = startOfChar;
            for (int k = Levels - 1; k >= 0; k--)
            {
                string to = g.Op("Gather", jump[k], at);
                at = g.Op("Where", g.Op("LessOrEqual", to, index), to, at);
            }
            string visited = g.Op("Equal", at, index);
            string deadEnds = g.Op("Concat", new[]
            {
                zero,
                g.Op("CumSum", g.Op("Cast", new[] { g.Op("And", visited, dead) }, A.Attr("to", 7L)), g.Scalar(0)),
            }, A.Attr("axis", 0L));
            string deadInWord = g.Op("Sub", g.Op("Gather", deadEnds, wordEnd), g.Op("Gather", deadEnds, wordStart));
            string tooLong = g.Op("Greater", g.Op("Sub", wordEnd, wordStart), g.Long(WordPieceTokenizer.MaxInputCharsPerWord));
            string unknownWord = g.Op("Gather", g.Op("Or", g.Op("Greater", deadInWord, zero), tooLong), wordOf);
            string keep = g.Op("Or", g.Op("And", unknownWord, g.Op("Equal", position, zero)), g.Op("And", g.Op("Not", unknownWord), visited));
            string ids = g.Op("Where", unknownWord, g.Long(tokenizer.UnknownId), pieceId);
            return (g.Op("Compress", ids, keep), g.Op("Compress", yPart, keep));
        }

        /// <summary>0, 1, … as a column, int64 [texts, 1].</summary>
        private static string TextIndexColumn(Nodes g, int texts)
            => g.Graph.AddInitializer("wp_text_index", Enumerable.Range(0, texts).Select(i => (long)i).ToArray(), texts, 1);

        /// <summary>Removes the Tokenizer's padding from a flattened output and from its row tags.</summary>
        private static (string Values, string Tags) DropPadding(Nodes g, string values, string tags)
        {
            string real = g.Op("Not", g.Op("Equal", values, g.Strings(new[] { Padding }, 1)));
            return (g.Op("Compress", values, real), g.Op("Compress", tags, real));
        }

        /// <summary>Node and constant helpers with "wp_" value names.</summary>
        private sealed class Nodes
        {
            public Nodes(OnnxGraphBuilder graph) => Graph = graph;

            public OnnxGraphBuilder Graph { get; }

            public string Op(string opType, params string[] inputs) => Graph.AddNode(opType, inputs, new[] { "wp_" + opType })[0];

            public string Op(string opType, string[] inputs, params AttributeProto[] attributes)
                => Graph.AddNode(opType, inputs, new[] { "wp_" + opType }, attributes)[0];

            public string Ml(string opType, string[] inputs, params AttributeProto[] attributes)
                => Graph.AddNode(opType, inputs, new[] { "wp_" + opType }, attributes, MlDomain)[0];

            public string Micro(string opType, string input, string expression)
                => Graph.AddNode(opType, new[] { input }, new[] { "wp_" + opType }, new[]
                {
                    A.Attr("mark", 0L),
                    A.Attr("mincharnum", 1L),
                    A.Attr("pad_value", Padding),
                    A.Attr("tokenexp", expression),
                }, MicrosoftDomain)[0];

            public string Long(long value) => Graph.AddInitializer("wp_const", new[] { value }, 1);

            public string Scalar(long value) => Graph.AddInitializer("wp_scalar", new[] { value });

            public string Strings(string[] values, long length) => Graph.AddInitializer("wp_strings", values, length);

            public string Bool(bool value)
            {
                string tensor = Graph.AddInitializer("wp_bool", new[] { value ? 1L : 0L }, 1);
                return Op("Cast", new[] { tensor }, A.Attr("to", 9L));
            }
        }

        /// <summary>The character rules of <see cref="BertUncasedCharacters"/> as a regex class and a lookup table.</summary>
        private sealed class Tables
        {
            /// <summary>RE2: one character that is not removed.</summary>
            public string KeptCharacter = "";
            /// <summary>RE2: one punctuation mark or CJK ideograph.</summary>
            public string Isolated = "";
            public string[] FoldKeys = Array.Empty<string>();
            public string[] FoldValues = Array.Empty<string>();

            public static Tables Build()
            {
                var keys = new List<string>();
                var values = new List<string>();
                foreach (int cp in BertUncasedCharacters.AllCodePoints())
                {
                    if (BertUncasedCharacters.IsRemoved(cp))
                        continue;
                    string original = char.ConvertFromUtf32(cp);
                    string normalized = BertUncasedCharacters.Normalized(cp);
                    if (normalized != original)
                    {
                        keys.Add(original);
                        values.Add(normalized);
                    }
                }
                return new Tables
                {
                    KeptCharacter = "[^" + Ranges(BertUncasedCharacters.IsRemoved) + "]",
                    Isolated = "[" + Ranges(BertUncasedCharacters.IsIsolated) + "]",
                    FoldKeys = keys.ToArray(),
                    FoldValues = values.ToArray(),
                };
            }

            /// <summary>The code points (surrogates left out: they never reach ONNX Runtime) where <paramref name="member"/> holds, as RE2 class ranges.</summary>
            private static string Ranges(Func<int, bool> member)
            {
                var text = new StringBuilder();
                int first = -1, last = -1;
                foreach (int cp in BertUncasedCharacters.AllCodePoints().Append(int.MaxValue))
                {
                    bool inside = cp != int.MaxValue && member(cp);
                    if (inside && first >= 0 && cp == last + 1)
                    {
                        last = cp;
                        continue;
                    }
                    if (first >= 0)
                        text.Append(Escape(first)).Append(last > first ? "-" + Escape(last) : "");
                    first = last = inside ? cp : -1;
                }
                return text.ToString();
            }

            private static string Escape(int codePoint) => "\\x{" + codePoint.ToString("X", CultureInfo.InvariantCulture) + "}";
        }
    }
}
