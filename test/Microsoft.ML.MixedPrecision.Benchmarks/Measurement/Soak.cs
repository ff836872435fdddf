using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.MixedPrecision.Benchmarks.Workloads;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Measurement
{
    /// <summary>
    /// <c>--soak</c>: does a long run leak? Thousands of AMP training steps of the image workload's bare loop, then repeated
    /// Fit → Save → Load → Transform cycles of the text trainer in one process, sampling the resident set and TorchSharp's
    /// live-tensor count (after a full GC, so tensors waiting for the finalizer do not count) along the way.
    /// </summary>
    internal static class Soak
    {
        public sealed record Sample(string Phase, int Index, long ResidentMiB, long LiveTensors);

        public static List<Sample> Run(BenchSettings settings)
        {
            var samples = new List<Sample>();
            using (var image = Workload.Create("image"))
            {
                image.LoadBareData(settings, image.BareBatches(settings));
                using var model = image.CreateModel(settings.Seed);
                using var loop = image.CreateBareLoop(model, amp: true);
                int every = Math.Max(1, settings.SoakSteps / 8);
                for (int done = 0; done <= settings.SoakSteps; done += every)
                {
                    if (done > 0)
                        loop.Run(every);
                    samples.Add(Take("steps", done));
                    Console.WriteLine($"  soak: {done} AMP steps, RSS {samples[^1].ResidentMiB} MiB, live tensors {samples[^1].LiveTensors}");
                }
            }

            using (var text = Workload.Create("text"))
            {
                string path = Path.Combine(settings.OutputFolder, "soak-text.zip");
                for (int cycle = 0; cycle <= settings.SoakCycles; cycle++)
                {
                    if (cycle > 0)
                    {
                        text.TrainWithEstimator(amp: true, settings, path); // Fit and Save
                        text.Score(path, settings);                         // Load and Transform / PredictionEngine
                    }
                    samples.Add(Take("fit-save-load-transform", cycle));
                    Console.WriteLine($"  soak: {cycle} Fit/Save/Load/Transform cycles, RSS {samples[^1].ResidentMiB} MiB, live tensors {samples[^1].LiveTensors}");
                }
            }
            return samples;
        }

        public static string Json(IReadOnlyList<Sample> samples)
        {
            string Phase(string name)
            {
                var p = samples.Where(s => s.Phase == name).ToList();
                // The first sample after the first unit of work is the baseline: one-time costs (kernels, caches) are in it.
                var first = p[1];
                var last = p[^1];
                return string.Create(CultureInfo.InvariantCulture,
                    $"\"{name}\":{{\"count\":{last.Index},\"rss_mib_after_first\":{first.ResidentMiB},\"rss_mib_at_end\":{last.ResidentMiB}," +
                    $"\"live_tensors_after_first\":{first.LiveTensors},\"live_tensors_at_end\":{last.LiveTensors}}}");
            }
            return "{\"soak\":{" + Phase("steps") + "," + Phase("fit-save-load-transform") + "}}";
        }

        private static Sample Take(string phase, int index)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            return new Sample(phase, index, ProcessMemory.ResidentBytes() >> 20, TorchSharp.torch.Tensor.TotalCount);
        }
    }
}
