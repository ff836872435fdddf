using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text.Json;
using Microsoft.ML.MixedPrecision.Benchmarks.Workloads;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Measurement
{
    /// <summary>
    /// Peak memory of training at one batch size, measured in a fresh child process per precision: a process's peak
    /// RSS only grows, and glibc keeps freed heap pages, so FP32 and AMP cannot share a process and be told apart.
    /// </summary>
    internal static class MemoryProbe
    {
        public const string ChildFlag = "--memory-probe";
        private const string ResultPrefix = "MEMORY ";

        public sealed class Result
        {
            /// <summary>RSS with data, model and optimizer ready, before the first step.</summary>
            public long RestBytes { get; init; }

            /// <summary>Peak RSS over the training steps (VmHWM, reset just before them).</summary>
            public long PeakBytes { get; init; }

            /// <summary>Largest growth of malloc's in-use bytes from a step's start to the end of its forward: the activations kept for backward.</summary>
            public long ActivationBytes { get; init; }

            public long TrainingBytes => PeakBytes - RestBytes;
        }

        /// <summary>Runs the child process for one workload and precision and returns what it measured.</summary>
        public static Result Measure(string workload, bool amp, BenchSettings settings)
        {
            return ChildRun.Result<Result>(new[] { ChildFlag, workload, amp ? "amp" : "fp32", settings.MemorySteps.ToString(CultureInfo.InvariantCulture),
                         settings.Seed.ToString(CultureInfo.InvariantCulture), settings.Quick ? "quick" : "full" }, ResultPrefix, $"memory probe ({workload}, {(amp ? "amp" : "fp32")})");
        }

        /// <summary>The child's side: <c>--memory-probe image|text|pretrained fp32|amp steps seed quick|full</c> (the data of the parent's run).</summary>
        public static int RunChild(string[] args)
        {
            string name = args[1];
            bool amp = args[2] == "amp";
            int steps = int.Parse(args[3], CultureInfo.InvariantCulture);
            var settings = BenchSettings.Parse(args[5] == "quick" ? new[] { "--seed", args[4], "--quick" } : new[] { "--seed", args[4] });
            using Workload workload = Workload.Create(name);
            workload.LoadBareData(settings, maxBatches: steps + 1);
            using var model = workload.CreateModel(settings.Seed);
            using var loop = workload.CreateBareLoop(model, amp);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            long rest = ProcessMemory.ResidentBytes();
            if (!ProcessMemory.ResetPeak())
                throw new InvalidOperationException("Cannot reset the peak RSS (/proc/self/clear_refs): peak memory cannot be measured here.");
            long activations = 0;
            for (int i = 0; i < steps; i++)
            {
                long before = ProcessMemory.NativeHeapInUse();
                loop.Step(() => activations = Math.Max(activations, ProcessMemory.NativeHeapInUse() - before));
            }
            var result = new Result { RestBytes = rest, PeakBytes = ProcessMemory.PeakResidentBytes(), ActivationBytes = activations };
            Console.WriteLine(ResultPrefix + JsonSerializer.Serialize(result));
            return 0;
        }
    }
}
