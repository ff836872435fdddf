using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Benchmarks.Report;
using ScottPlot;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Chart
{
    /// <summary>One PNG: samples/s FP32 vs AMP (bare loop and estimator) per workload, and the loss curves of both precisions.</summary>
    internal static class BenchChart
    {
        public static void Save(string path, ChartData data)
        {
            var results = data.Workloads;
            var multiplot = new Multiplot();
            multiplot.AddPlots(1 + results.Count);

            var bars = multiplot.GetPlot(0);
            bars.Title(data.Title);
            var ticks = new List<Tick>();
            double position = 0;
            foreach (var r in results)
            {
                foreach (var (label, fp32, amp) in new[] { ("bare", r.BareFp32, r.BareAmp), ("ML.NET", r.EstimatorFp32, r.EstimatorAmp) })
                {
                    var a = bars.Add.Bar(position, fp32);
                    a.Color = Colors.SteelBlue;
                    var b = bars.Add.Bar(position + 1, amp);
                    b.Color = Colors.DarkOrange;
                    ticks.Add(new Tick(position + 0.5, $"{r.Name} {label}"));
                    position += 3;
                }
            }
            bars.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
            double tallest = results.SelectMany(r => new[] { r.BareFp32, r.BareAmp, r.EstimatorFp32, r.EstimatorAmp }).DefaultIfEmpty(1).Max();
            bars.Axes.SetLimitsY(0, tallest * 1.35); // headroom for the legend
            bars.YLabel("training samples/s");
            bars.Legend.ManualItems.Add(new LegendItem { LabelText = "FP32", FillColor = Colors.SteelBlue });
            bars.Legend.ManualItems.Add(new LegendItem { LabelText = "AMP (bf16)", FillColor = Colors.DarkOrange });
            bars.ShowLegend(Alignment.UpperRight);

            for (int i = 0; i < results.Count; i++)
            {
                var r = results[i];
                var plot = multiplot.GetPlot(i + 1);
                plot.Title($"{r.Name}: training loss per step (bare loop, same init and batches)");
                AddCurve(plot, r.LossFp32, "FP32", Colors.SteelBlue);
                AddCurve(plot, r.LossAmp, "AMP (bf16)", Colors.DarkOrange);
                plot.XLabel("step");
                plot.YLabel("cross-entropy");
                plot.ShowLegend(Alignment.UpperRight);
            }
            multiplot.SavePng(path, 900, 300 * (1 + results.Count));
        }

        private static void AddCurve(Plot plot, List<double> losses, string label, Color color)
        {
            if (losses.Count == 0)
                return;
            var xs = Enumerable.Range(1, losses.Count).Select(x => (double)x).ToArray();
            var line = plot.Add.ScatterLine(xs, losses.ToArray());
            line.LegendText = label;
            line.Color = color;
        }
    }
}
