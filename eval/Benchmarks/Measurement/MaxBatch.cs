using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.MixedPrecision.Benchmarks.Workloads;
using Microsoft.ML.MixedPrecision.Native;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Measurement
{
    /// <summary>
    /// The largest batch whose training step keeps the process's peak resident memory within a budget, per precision, in
    /// a fresh child process each (the trainer's own step probe, TrainingStepMemory: forward in the precision, loss,
    /// backward, AdamW's two moments beside it, on the workload's largest examples, from a trimmed heap). From 8 examples the
    /// child doubles the batch, then probes where the line through its two largest probes crosses the budget (at least
    /// 1/16 above the largest batch that fitted, at most twice it), until the largest batch that fits and the smallest
    /// that does not are within 1/8 of each other (or <see cref="Cap"/> fits): the measurement's noise is a few percent.
    /// </summary>
    internal static class MaxBatch
    {
        public const string ChildFlag = "--max-batch-probe";
        private const string ResultPrefix = "MAXBATCH ";

        /// <summary>The budget: the whole process's peak RSS, runtime, libtorch, data and model included.</summary>
        public const int BudgetMib = 2048;

        /// <summary>The largest batch searched: text batches of short sentences fit by the thousand.</summary>
        public const int Cap = 8192;

        public sealed class Result
        {
            public int Batch { get; init; }
            public long PeakMib { get; init; }
            public List<int[]> Probes { get; init; } = new List<int[]>(); // [batch, peak MiB]
            public double Seconds { get; init; }
        }

        /// <summary>Where the line through the two largest probes reaches the budget.</summary>
        private static int Predicted(SortedDictionary<int, long> probes)
        {
            var top = probes.Reverse().Take(2).ToArray();
            double slope = (double)(top[0].Value - top[1].Value) / (top[0].Key - top[1].Key);
            if (slope <= 0)
                return top[0].Key * 2;
            return (int)Math.Min(Cap, top[0].Key + (BudgetMib - top[0].Value) / slope);
        }

        public static Result Measure(string workload, bool amp, BenchSettings settings)
        {
            return ChildRun.Result<Result>(new[] { ChildFlag, workload, amp ? "amp" : "fp32", settings.Seed.ToString(CultureInfo.InvariantCulture), settings.Quick ? "quick" : "full" }, ResultPrefix, $"max-batch probe ({workload}, {(amp ? "amp" : "fp32")})");
        }

        /// <summary>The child's side: <c>--max-batch-probe workload fp32|amp seed quick|full</c>.</summary>
        public static int RunChild(string[] args)
        {
            var clock = Stopwatch.StartNew();
            bool amp = args[2] == "amp";
            var settings = BenchSettings.Parse(args[4] == "quick" ? new[] { "--seed", args[3], "--quick" } : new[] { "--seed", args[3] });
            using Workload workload = Workload.Create(args[1]);
            workload.LoadBareData(settings, maxBatches: 1);
            using var model = workload.CreateModel(settings.Seed);
            using var retain = NativeHeap.RetainFreedMemory(); // as in a fit
            var peakAt = workload.StepMemory(model, amp);
            var probes = new SortedDictionary<int, long>();
            bool Fits(int batch) => (probes[batch] = peakAt(batch) >> 20) <= BudgetMib;
            int fits = 0, fails = Cap + 1, batch = 8;
            while (true)
            {
                if (Fits(batch))
                    fits = batch;
                else
                    fails = batch;
                if (fits == 0 || fits == Cap || fails - fits <= Math.Max(1, fits / 8))
                    break;
                int guess = probes.Count < 2 ? fits * 2 : Predicted(probes);
                batch = Math.Clamp(guess, fits + Math.Max(1, fits / 16), Math.Min(fails - 1, fits * 2));
            }
            var result = new Result
            {
                Batch = fits, PeakMib = fits > 0 ? probes[fits] : 0, Probes = probes.Select(p => new[] { p.Key, (int)p.Value }).ToList(),
                Seconds = clock.Elapsed.TotalSeconds,
            };
            Console.WriteLine(ResultPrefix + JsonSerializer.Serialize(result));
            return 0;
        }
    }
}
