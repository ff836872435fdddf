using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.MixedPrecision.Benchmarks.Workloads;
using Microsoft.ML.MixedPrecision.Native;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Measurement
{
    /// <summary>
    /// <c>--soak</c>: does a long run leak? Thousands of AMP training steps (FP32 on a CPU without native bf16, as the
    /// rest of the bench) of the image workload's bare loop, then repeated Fit → Save → Load → Transform cycles of the
    /// image and text trainers in one process, sampling the resident set, the bytes in use in the native heap and
    /// TorchSharp's live-tensor count (after a full GC, so tensors waiting for the finalizer do not count) along the way.
    /// </summary>
    /// <remarks>
    /// TorchSharp's count is not a pure live-tensor count: <c>new Parameter(tensor)</c> takes over the tensor's native
    /// handle without decrementing the count (TorchSharp 0.107, <c>Tensor.MoveHandle</c>), so every parameter ever
    /// made leaves the count one higher although nothing native is kept. Each Fit builds a network, so the count climbs
    /// by the network's parameter count per cycle. The soak measures that offset in the same process (a network of the
    /// same kind made and disposed) and reports the drift net of it.
    /// </remarks>
    internal static class Soak
    {
        public sealed record Sample(string Phase, int Index, long ResidentMiB, double HeapInUseMiB, double HeapFootprintMiB, double ManagedMiB, long LiveTensors, long HeapTrims);

        public sealed record CyclePhase(string Name, long CountOffsetPerNetwork);

        public static (List<Sample> Samples, List<CyclePhase> Phases) Run(BenchSettings settings)
        {
            var samples = new List<Sample>();
            var phases = new List<CyclePhase>();
            using (var image = Workload.Create("image"))
            {
                image.LoadBareData(settings, image.BareBatches(settings));
                using (var model = image.CreateModel(settings.Seed))
                using (var loop = image.CreateBareLoop(model, amp: settings.Amp))
                {
                    int every = Math.Max(1, settings.SoakSteps / 16);
                    for (int done = 0; done <= settings.SoakSteps; done += every)
                    {
                        if (done > 0)
                            loop.Run(every);
                        samples.Add(Take("steps", done));
                    }
                }
                phases.Add(FitCycles(image, settings, samples));
            }
            using (var text = Workload.Create("text"))
            {
                text.LoadBareData(settings, 1); // only for CreateModel's vocabulary
                phases.Add(FitCycles(text, settings, samples));
            }
            return (samples, phases);
        }

        private static CyclePhase FitCycles(Workload workload, BenchSettings settings, List<Sample> samples)
        {
            string phase = workload.Name + "-fit-save-load-transform";
            string path = Path.Combine(settings.OutputFolder, $"soak-{workload.Name}.zip");
            for (int cycle = 0; cycle <= settings.SoakCycles; cycle++)
            {
                if (cycle > 0)
                {
                    workload.TrainWithEstimator(amp: settings.Amp, settings, path); // Fit and Save
                    workload.Score(path, settings);                         // Load and Transform / PredictionEngine
                }
                samples.Add(Take(phase, cycle));
            }

            // The count's offset for one network of the kind each Fit builds (see remarks).
            long before = TorchTensorCount.AfterGc();
            workload.CreateModel(settings.Seed).Dispose();
            long offset = TorchTensorCount.AfterGc() - before;
            Console.WriteLine($"  soak: {workload.Name}: making and disposing one network raises TorchSharp's tensor count by {offset}");
            return new CyclePhase(phase, offset);
        }

        public static string Json(IReadOnlyList<Sample> samples, IReadOnlyList<CyclePhase> cyclePhases)
        {
            string Phase(string name, long offsetPerUnit)
            {
                var p = samples.Where(s => s.Phase == name).ToList();
                // The first sample after the first unit of work is the baseline: one-time costs (kernels, caches) are in it.
                var first = p[1];
                var last = p[^1];
                long units = last.Index - first.Index;
                long netDrift = last.LiveTensors - first.LiveTensors - units * offsetPerUnit;
                return string.Create(CultureInfo.InvariantCulture,
                    $"\"{name}\":{{\"count\":{last.Index},\"rss_mib_after_first\":{first.ResidentMiB},\"rss_mib_at_end\":{last.ResidentMiB}," +
                    $"\"rss_mib_max_after_first\":{p.Skip(1).Max(s => s.ResidentMiB)}," +
                    $"\"heap_in_use_mib_after_first\":{first.HeapInUseMiB:F1},\"heap_in_use_mib_at_end\":{last.HeapInUseMiB:F1}," +
                    $"\"heap_held_mib_after_first\":{first.HeapFootprintMiB:F1},\"heap_held_mib_at_end\":{last.HeapFootprintMiB:F1}," +
                    $"\"managed_mib_after_first\":{first.ManagedMiB:F1},\"managed_mib_at_end\":{last.ManagedMiB:F1}," +
                    $"\"live_tensors_after_first\":{first.LiveTensors},\"live_tensors_at_end\":{last.LiveTensors}," +
                    $"\"heap_trims\":{last.HeapTrims - p[0].HeapTrims},\"count_offset_per_unit\":{offsetPerUnit},\"live_tensors_net_drift\":{netDrift}}}");
            }
            var parts = new List<string> { Phase("steps", 0) };
            // With --soak-cycles 0 a cycle phase holds only its starting sample: nothing to report.
            parts.AddRange(cyclePhases.Where(c => samples.Count(s => s.Phase == c.Name) > 1).Select(c => Phase(c.Name, c.CountOffsetPerNetwork)));
            return "{\"soak\":{" + string.Join(",", parts) + "}}";
        }

        private static Sample Take(string phase, int index)
        {
            long liveTensors = TorchTensorCount.AfterGc();
            var sample = new Sample(phase, index, ProcessMemory.ResidentBytes() >> 20, ProcessMemory.NativeHeapInUse() / (1024.0 * 1024.0),
                ProcessMemory.NativeHeapFootprint() / (1024.0 * 1024.0),
                ManagedBytesAfterGc() / (1024.0 * 1024.0), liveTensors, NativeHeap.Trims);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  soak: {phase} {index}: RSS {sample.ResidentMiB} MiB, native heap in use {sample.HeapInUseMiB:F1} of {sample.HeapFootprintMiB:F1} MiB held, managed heap {sample.ManagedMiB:F1} MiB, TorchSharp tensor count {sample.LiveTensors}, heap trims so far {sample.HeapTrims}"));
            return sample;
        }

        /// <summary>The managed heap's size at the full GC TorchTensorCount.AfterGc just made, less its free fragments.</summary>
        private static long ManagedBytesAfterGc()
        {
            var info = GC.GetGCMemoryInfo(GCKind.FullBlocking);
            return info.HeapSizeBytes - info.FragmentedBytes;
        }
    }
}
