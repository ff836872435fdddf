using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.Json;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Report
{
    /// <summary>Writes the chart data next to the results and runs the chart process on it.</summary>
    internal static class ChartProcess
    {
        public static string Draw(string folder, string title, IReadOnlyList<WorkloadResult> results)
        {
            var data = new ChartData
            {
                Title = title,
                Workloads = results.Select(r => new ChartSeries
                {
                    Name = r.Name,
                    BareFp32 = r.BareFp32Median,
                    BareAmp = Drawable(r.BareAmpMedian),
                    EstimatorFp32 = r.Fp32SamplesPerSecond,
                    EstimatorAmp = Drawable(r.AmpSamplesPerSecond),
                    LossFp32 = r.LossFp32,
                    LossAmp = r.LossAmp,
                }).ToList(),
            };
            string dataPath = Path.Combine(folder, "chart-data.json");
            string pngPath = Path.Combine(folder, "benchmark.png");
            File.WriteAllText(dataPath, JsonSerializer.Serialize(data));
            string chartDll = typeof(ChartProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ChartDll").Value;
            var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string arg in new[] { chartDll, dataPath, pngPath })
                start.ArgumentList.Add(arg);
            using var chart = Process.Start(start);
            string output = chart.StandardOutput.ReadToEnd() + chart.StandardError.ReadToEnd();
            chart.WaitForExit();
            if (chart.ExitCode != 0)
                throw new InvalidOperationException($"Drawing the chart failed ({chartDll}):\n{output}");
            return pngPath;
        }

        /// <summary>A figure that was not measured (AMP on a CPU without native bf16) as an empty bar: JSON has no NaN.</summary>
        private static double Drawable(double value) => double.IsFinite(value) ? value : 0;
    }
}
