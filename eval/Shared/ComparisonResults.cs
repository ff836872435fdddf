// What the comparison samples (SmallImages, DebianText) write for each (set, mode) they measure: a row of results.md
// and a line of results.jsonl, with the recall of every class. Linked into both projects.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace SampleComparisons
{
    /// <summary>One (set, mode) measurement.</summary>
    internal sealed record Result(
        string Time, string Commit, string Set, string Mode, int Seed, int Train, int Test, int Classes,
        double MicroAccuracy, double MacroAccuracy, double FitSeconds, double ScoreRowsPerSecond, string Detail,
        IReadOnlyDictionary<string, double> PerClassRecall);

    /// <summary>Recall of every class, named by the Score column's slot names.</summary>
    internal static class ClassRecall
    {
        public static Dictionary<string, double> PerClass(IDataView scored, ConfusionMatrix confusion)
        {
            var names = default(VBuffer<ReadOnlyMemory<char>>);
            var score = scored.Schema["Score"];
            bool named = score.HasSlotNames();
            if (named)
                score.GetSlotNames(ref names);
            var recall = new Dictionary<string, double>();
            var slots = named ? names.DenseValues().Select(n => n.ToString()).ToArray() : null;
            for (int i = 0; i < confusion.PerClassRecall.Count; i++)
                recall[named && i < slots.Length ? slots[i] : i.ToString()] = confusion.PerClassRecall[i];
            return recall.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => kv.Value);
        }
    }

    /// <summary>results.md (a markdown table, header written once) and results.jsonl (one JSON object a line).</summary>
    internal static class ResultFiles
    {
        public const string MarkdownHeader =
            "| time (UTC) | commit | set | mode | seed | train | test | micro acc | macro acc | Fit s | scoring rows/s | detail |\n" +
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|";

        public static string MarkdownRow(Result r) =>
            $"| {r.Time} | {r.Commit} | {r.Set} | {r.Mode} | {r.Seed} | {r.Train} | {r.Test} | {r.MicroAccuracy:F4} | {r.MacroAccuracy:F4} | " +
            $"{r.FitSeconds:F1} | {r.ScoreRowsPerSecond:F0} | {r.Detail} |";

        public static void Append(string folder, Result r)
        {
            Directory.CreateDirectory(folder);
            string markdown = Path.Combine(folder, "results.md");
            if (!File.Exists(markdown))
                File.WriteAllText(markdown, MarkdownHeader + "\n");
            File.AppendAllText(markdown, MarkdownRow(r) + "\n");
            var json = new
            {
                time = r.Time, commit = r.Commit, set = r.Set, mode = r.Mode, seed = r.Seed, train = r.Train, test = r.Test, classes = r.Classes,
                micro_accuracy = Math.Round(r.MicroAccuracy, 4), macro_accuracy = Math.Round(r.MacroAccuracy, 4),
                fit_seconds = Math.Round(r.FitSeconds, 2), score_rows_per_second = Math.Round(r.ScoreRowsPerSecond, 1),
                detail = r.Detail, per_class_recall = r.PerClassRecall.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 4)),
            };
            File.AppendAllText(Path.Combine(folder, "results.jsonl"), JsonSerializer.Serialize(json, JsonOptions) + "\n");
        }

        private static readonly JsonSerializerOptions JsonOptions = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

        /// <summary>The checkout <paramref name="folder"/> is in (git describe --always --dirty), or "" without git.</summary>
        public static string Commit(string folder) => _commit ??= ReadCommit(folder);

        private static string _commit;

        private static string ReadCommit(string folder)
        {
            try
            {
                var start = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
                    WorkingDirectory = folder };
                foreach (string a in new[] { "describe", "--always", "--dirty" })
                    start.ArgumentList.Add(a);
                using var git = Process.Start(start);
                string output = git.StandardOutput.ReadToEnd().Trim();
                git.WaitForExit();
                return git.ExitCode == 0 ? output : "";
            }
            catch (Exception)
            {
                return "";
            }
        }
    }
}
