using System.Collections.Generic;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Report
{
    /// <summary>What the chart process draws: medians and loss curves per workload (shared by both projects as source).</summary>
    public sealed class ChartData
    {
        public string Title { get; set; }
        public List<ChartSeries> Workloads { get; set; } = new List<ChartSeries>();
    }

    public sealed class ChartSeries
    {
        public string Name { get; set; }
        public double BareFp32 { get; set; }
        public double BareAmp { get; set; }
        public double EstimatorFp32 { get; set; }
        public double EstimatorAmp { get; set; }
        public List<double> LossFp32 { get; set; } = new List<double>();
        public List<double> LossAmp { get; set; } = new List<double>();
    }
}
