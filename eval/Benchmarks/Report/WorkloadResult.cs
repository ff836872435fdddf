using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Report
{
    /// <summary>Everything measured for one workload; every ratio is computed from medians.</summary>
    internal sealed class WorkloadResult
    {
        public string Name { get; init; }
        public int BatchSize { get; init; }
        public List<double> BareFp32 { get; } = new List<double>();
        public List<double> BareAmp { get; } = new List<double>();
        public List<double> EstimatorFp32 { get; } = new List<double>();
        public List<double> EstimatorAmp { get; } = new List<double>();
        public List<double> FitSecondsFp32 { get; } = new List<double>();
        public List<double> FitSecondsAmp { get; } = new List<double>();
        public List<MemoryProbe.Result> MemoryFp32 { get; } = new List<MemoryProbe.Result>();
        public List<MemoryProbe.Result> MemoryAmp { get; } = new List<MemoryProbe.Result>();
        /// <summary>The largest batch within <see cref="MaxBatch.BudgetMib"/> of peak RSS, per precision (null: not measured).</summary>
        public MaxBatch.Result MaxBatchFp32 { get; set; }
        public MaxBatch.Result MaxBatchAmp { get; set; }

        /// <summary>max_batch_amp / max_batch_fp32: how much larger a batch AMP trains at the same memory.</summary>
        public double MaxBatchRatio => MaxBatchFp32 is { Batch: > 0 } f && MaxBatchAmp is { } a ? (double)a.Batch / f.Batch : double.NaN;

        public List<double> LossFp32 { get; set; } = new List<double>();
        public List<double> LossAmp { get; set; } = new List<double>();
        /// <summary>Median ms of forward, backward and clip + optimizer step in the bare loop's timed steps.</summary>
        public (double Forward, double Backward, double Optimizer) PhasesFp32 { get; set; }
        public (double Forward, double Backward, double Optimizer) PhasesAmp { get; set; }
        public double TrainingFlopsPerExample { get; set; }

        /// <summary>Trainable parameters; both precisions keep them in float32 with their gradients and two AdamW moments.</summary>
        public long ParameterCount { get; set; }

        /// <summary>float32 weights + gradients + AdamW's two moments: memory AMP cannot halve.</summary>
        public long Float32StateBytes => ParameterCount * 4 * 4;

        /// <summary>Forward + backward of the network's layers at their real shapes, FP32 vs bf16 tensors.</summary>
        public List<LayerTiming> Layers { get; set; } = new List<LayerTiming>();

        /// <summary>Time-weighted bf16 speedup of those layers, each counted as often as the network has it.</summary>
        public double LayerSpeedup => Stats.Ratio(Layers.Sum(l => l.Count * l.Fp32Milliseconds), Layers.Sum(l => l.Count * l.Bf16Milliseconds));
        public double Bf16GemmFlops { get; set; }
        public double Fp32GemmFlops { get; set; }

        /// <summary>bf16 / fp32 rate of the large GEMM measured in this run: about the best any bf16 step can gain here.</summary>
        public double GemmRatio => Stats.Ratio(Bf16GemmFlops, Fp32GemmFlops);

        /// <summary>The estimator's AMP speedup as a fraction of <see cref="GemmRatio"/>.</summary>
        public double SpeedupOfGemmRatio => Stats.Ratio(Speedup, GemmRatio);
        public string EstimatorPrecision { get; set; }

        public double BareFp32Median => Stats.Median(BareFp32);
        public double BareAmpMedian => Stats.Median(BareAmp);
        public double Fp32SamplesPerSecond => Stats.Median(EstimatorFp32);
        public double AmpSamplesPerSecond => Stats.Median(EstimatorAmp);

        /// <summary>AMP / FP32 samples/s through the ML.NET estimator: what a user gets.</summary>
        public double Speedup => Stats.Ratio(AmpSamplesPerSecond, Fp32SamplesPerSecond);
        public double BareSpeedup => Stats.Ratio(BareAmpMedian, BareFp32Median);

        /// <summary>Estimator / bare loop samples/s, for AMP (the product's path) and for FP32.</summary>
        public double PipelineVsBare => Stats.Ratio(AmpSamplesPerSecond, BareAmpMedian);
        public double PipelineVsBareFp32 => Stats.Ratio(Fp32SamplesPerSecond, BareFp32Median);

        /// <summary>Memory training adds to the process (peak RSS − RSS at rest), AMP / FP32.</summary>
        public double RssRatio => Stats.Ratio(Stats.Median(MemoryAmp.ConvertAll(m => (double)m.TrainingBytes)),
            Stats.Median(MemoryFp32.ConvertAll(m => (double)m.TrainingBytes)));

        /// <summary>Whole-process peak RSS (runtime, libraries and data included), AMP / FP32.</summary>
        public double ProcessRssRatio => Stats.Ratio(Stats.Median(MemoryAmp.ConvertAll(m => (double)m.PeakBytes)),
            Stats.Median(MemoryFp32.ConvertAll(m => (double)m.PeakBytes)));

        /// <summary>Tensor bytes alive at the end of forward (activations kept for backward), AMP / FP32.</summary>
        public double ActivationRatio => Stats.Ratio(Stats.Median(MemoryAmp.ConvertAll(m => (double)m.ActivationBytes)),
            Stats.Median(MemoryFp32.ConvertAll(m => (double)m.ActivationBytes)));

        /// <summary>Model FLOPs utilization of the AMP estimator: training FLOP/s over the measured bf16 GEMM FLOP/s.</summary>
        public double Mfu => Stats.Ratio(TrainingFlopsPerExample * AmpSamplesPerSecond, Bf16GemmFlops);
        public double MfuBare => Stats.Ratio(TrainingFlopsPerExample * BareAmpMedian, Bf16GemmFlops);

        /// <summary>The PyTorch peer's figures (<c>--peer</c>), or null.</summary>
        public PeerResult Peer { get; set; }

        /// <summary>Ours ÷ the PyTorch peer's samples/s: the estimator's and the bare loop's, AMP and FP32.</summary>
        public double OursVsPeerAmp => Stats.Ratio(AmpSamplesPerSecond, Peer?.AmpMedian ?? double.NaN);
        public double OursVsPeerFp32 => Stats.Ratio(Fp32SamplesPerSecond, Peer?.Fp32Median ?? double.NaN);
        public double BareVsPeerAmp => Stats.Ratio(BareAmpMedian, Peer?.AmpMedian ?? double.NaN);
        public double BareVsPeerFp32 => Stats.Ratio(BareFp32Median, Peer?.Fp32Median ?? double.NaN);

        public double Median(List<MemoryProbe.Result> results, System.Func<MemoryProbe.Result, long> value)
            => Stats.Median(results.ConvertAll(r => (double)value(r)));
    }
}
