using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;
using Microsoft.ML.MixedPrecision.Benchmarks.Workloads;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Report
{
    /// <summary>The run's results as a Markdown table (for docs/benchmarks.md) and as the one-line JSON summary.</summary>
    internal static class BenchTable
    {
        public static string Markdown(IReadOnlyList<WorkloadResult> results, IReadOnlyDictionary<string, ScoringRun> scoring, double bf16Gemm, double fp32Gemm)
        {
            var s = new StringBuilder();
            if (results.Any(r => r.EstimatorAmp.Count == 0))
                s.AppendLine("AMP was not timed (a CPU without native bf16: FP32 only, see BenchSettings.Amp); its figures read NaN.\n");
            s.AppendLine($"| measure | {string.Join(" | ", results.Select(r => $"{r.Name} (batch {r.BatchSize})"))} |");
            s.AppendLine($"|---|{string.Join("|", results.Select(_ => "---:"))}|");
            void Row(string name, Func<WorkloadResult, string> value) => s.AppendLine($"| {name} | {string.Join(" | ", results.Select(value))} |");
            Row("ML.NET estimator FP32, samples/s", r => $"{r.Fp32SamplesPerSecond:F0}");
            Row("ML.NET estimator AMP, samples/s", r => $"{r.AmpSamplesPerSecond:F0}");
            Row("**speedup** AMP / FP32", r => $"**{r.Speedup:F2}**");
            Row("speedup as a fraction of the bf16 / fp32 GEMM ratio (ratio)", r => $"{r.SpeedupOfGemmRatio:F2} ({r.GemmRatio:F2})");
            Row("bare TorchSharp loop FP32, samples/s", r => $"{r.BareFp32Median:F0}");
            Row("bare TorchSharp loop AMP, samples/s", r => $"{r.BareAmpMedian:F0}");
            Row("bare speedup AMP / FP32", r => $"{r.BareSpeedup:F2}");
            Row("bare step ms FP32: forward / backward / clip+AdamW", r => WorkloadBenchmark.Phases(r.PhasesFp32));
            Row("bare step ms AMP: forward / backward / clip+AdamW", r => WorkloadBenchmark.Phases(r.PhasesAmp));
            Row("AMP speedup of forward / backward / clip+AdamW", r => $"{r.PhasesFp32.Forward / r.PhasesAmp.Forward:F2} / {r.PhasesFp32.Backward / r.PhasesAmp.Backward:F2} / {r.PhasesFp32.Optimizer / r.PhasesAmp.Optimizer:F2}");
            Row("its layers alone (fwd + bwd at real shapes), bf16 speedup", r => $"{r.LayerSpeedup:F2}");
            Row("**pipeline_vs_bare** AMP (FP32)", r => $"**{r.PipelineVsBare:F2}** ({r.PipelineVsBareFp32:F2})");
            Row("peak RSS FP32 / AMP, MiB", r => $"{Mib(r.Median(r.MemoryFp32, m => m.PeakBytes))} / {Mib(r.Median(r.MemoryAmp, m => m.PeakBytes))}");
            Row("training memory (peak − rest) FP32 / AMP, MiB", r => $"{Mib(r.Median(r.MemoryFp32, m => m.TrainingBytes))} / {Mib(r.Median(r.MemoryAmp, m => m.TrainingBytes))}");
            Row("parameters; their FP32 weights + grads + AdamW moments, MiB", r => $"{r.ParameterCount / 1e6:F2} M; {Mib(r.Float32StateBytes)}");
            Row("**rss_ratio** (training memory) AMP / FP32", r => $"**{r.RssRatio:F2}**");
            Row("whole-process peak RSS AMP / FP32", r => $"{r.ProcessRssRatio:F2}");
            Row("activations at end of forward FP32 / AMP, MiB", r => $"{Mib(r.Median(r.MemoryFp32, m => m.ActivationBytes))} / {Mib(r.Median(r.MemoryAmp, m => m.ActivationBytes))} ({r.ActivationRatio:F2})");
            Row($"**max batch** within {MaxBatch.BudgetMib} MiB peak RSS FP32 / AMP (**max_batch_ratio**)", r =>
                $"{r.MaxBatchFp32?.Batch.ToString() ?? "–"} / {r.MaxBatchAmp?.Batch.ToString() ?? "–"} (**{r.MaxBatchRatio:F2}**)");
            Row("training MFLOP per example (3 × forward)", r => $"{r.TrainingFlopsPerExample / 1e6:F0}");
            Row("**mfu** (estimator AMP vs bf16 GEMM)", r => $"**{r.Mfu:F2}**");
            Row("mfu of the bare AMP loop", r => $"{r.MfuBare:F2}");
            Row("fit wall clock FP32 / AMP, s", r => $"{Stats(r.FitSecondsFp32):F1} / {Stats(r.FitSecondsAmp):F1}");
            Row("scoring the saved model, Transform rows/s", r => $"{scoring[r.Name].TransformRowsPerSecond:F0}");
            Row("scoring, PredictionEngine rows/s", r => $"{scoring[r.Name].PredictionEngineRowsPerSecond:F0}");
            if (results.Any(r => r.Peer != null))
            {
                string Peer(WorkloadResult r, Func<PeerResult, string> value) => r.Peer == null ? "–" : value(r.Peer);
                Row("PyTorch peer (bare loop) FP32, samples/s", r => Peer(r, p => $"{p.Fp32Median:F0}"));
                Row("PyTorch peer (bare loop) AMP, samples/s", r => Peer(r, p => $"{p.AmpMedian:F0}"));
                Row("PyTorch peer conv weight layout (its faster one per precision)", r => Peer(r, p => p.Layouts ?? "–"));
                Row("**ours_vs_peer** AMP: estimator (bare)", r => Peer(r, _ => $"**{r.OursVsPeerAmp:F2}** ({r.BareVsPeerAmp:F2})"));
                Row("**ours_vs_peer** FP32: estimator (bare)", r => Peer(r, _ => $"**{r.OursVsPeerFp32:F2}** ({r.BareVsPeerFp32:F2})"));
                Row("peer parity: parameters equal; first-step loss rel. diff FP32 / AMP", r => Peer(r, p =>
                    $"{(p.ParameterCount == r.ParameterCount ? "yes" : $"NO ({p.ParameterCount})")}; {p.FirstLossDifferenceFp32:E1} / {p.FirstLossDifferenceAmp:E1}" +
                    (p.ParityPassed(r.ParameterCount) ? "" : " FAILED")));
            }
            s.AppendLine();
            foreach (var r in results)
            {
                s.AppendLine($"| {r.Name} layer, forward + backward | count | FP32 ms | bf16 ms | bf16 speedup |");
                s.AppendLine("|---|---:|---:|---:|---:|");
                foreach (var l in r.Layers)
                    s.AppendLine($"| {l.Name} | {l.Count} | {l.Fp32Milliseconds:F2} | {l.Bf16Milliseconds:F2} | {l.Speedup:F2} |");
                s.AppendLine();
            }
            s.AppendLine($"Measured GEMM rate (2 cores): bf16 {bf16Gemm / 1e9:F0} GFLOP/s, fp32 {fp32Gemm / 1e9:F0} GFLOP/s.");
            return s.ToString();
        }

        public static string Json(IReadOnlyList<WorkloadResult> results, IReadOnlyDictionary<string, ScoringRun> scoring)
        {
            var root = new Dictionary<string, object>();
            foreach (var r in results)
            {
                root[r.Name] = new Dictionary<string, double?>
                {
                    ["fp32_samples_per_s"] = Round(r.Fp32SamplesPerSecond),
                    ["amp_samples_per_s"] = Round(r.AmpSamplesPerSecond),
                    ["speedup"] = Round(r.Speedup),
                    ["gemm_ratio"] = Round(r.GemmRatio),
                    ["speedup_of_gemm_ratio"] = Round(r.SpeedupOfGemmRatio),
                    ["pipeline_vs_bare"] = Round(r.PipelineVsBare),
                    ["rss_ratio"] = Round(r.RssRatio),
                    ["mfu"] = Round(r.Mfu),
                    ["bare_fp32_samples_per_s"] = Round(r.BareFp32Median),
                    ["bare_amp_samples_per_s"] = Round(r.BareAmpMedian),
                    ["bare_speedup"] = Round(r.BareSpeedup),
                    ["pipeline_vs_bare_fp32"] = Round(r.PipelineVsBareFp32),
                    ["process_rss_ratio"] = Round(r.ProcessRssRatio),
                    ["activation_ratio"] = Round(r.ActivationRatio),
                    ["layer_speedup"] = Round(r.LayerSpeedup),
                    ["max_batch_fp32"] = r.MaxBatchFp32?.Batch,
                    ["max_batch_amp"] = r.MaxBatchAmp?.Batch,
                    ["max_batch_ratio"] = Round(r.MaxBatchRatio),
                    ["max_batch_budget_mib"] = r.MaxBatchFp32 == null && r.MaxBatchAmp == null ? null : MaxBatch.BudgetMib,
                };
            }
            var scores = new Dictionary<string, double?>();
            foreach (var (name, score) in scoring)
                scores[$"{name}_rows_per_s"] = Round(score.TransformRowsPerSecond);
            foreach (var (name, score) in scoring)
                scores[$"{name}_prediction_engine_rows_per_s"] = Round(score.PredictionEngineRowsPerSecond);
            root["scoring"] = scores;
            var peers = results.Where(r => r.Peer != null).ToList();
            if (peers.Count > 0)
            {
                var peer = new Dictionary<string, object>
                {
                    ["torch"] = peers[0].Peer.TorchVersion,
                    ["threads"] = peers[0].Peer.Threads,
                    ["blas"] = peers[0].Peer.Blas,
                };
                var ratios = new Dictionary<string, object>();
                foreach (var r in peers)
                {
                    var p = r.Peer;
                    peer[r.Name] = new Dictionary<string, object>
                    {
                        ["fp32_samples_per_s"] = Round(p.Fp32Median),
                        ["amp_samples_per_s"] = Round(p.AmpMedian),
                        ["parameter_count"] = p.ParameterCount,
                        ["conv_layouts"] = p.Layouts,
                        ["parity"] = new Dictionary<string, object>
                        {
                            ["passed"] = p.ParityPassed(r.ParameterCount),
                            ["parameter_count_equal"] = p.ParameterCount == r.ParameterCount,
                            ["first_loss_rel_diff_fp32"] = Finite(p.FirstLossDifferenceFp32),
                            ["first_loss_rel_diff_amp"] = Finite(p.FirstLossDifferenceAmp),
                            ["max_loss_rel_diff_fp32"] = Finite(p.MaxLossDifferenceFp32),
                            ["max_loss_rel_diff_amp"] = Finite(p.MaxLossDifferenceAmp),
                            ["ours_losses_fp32"] = p.OursParityFp32,
                            ["peer_losses_fp32"] = p.PeerParityFp32,
                            ["ours_losses_amp"] = p.OursParityAmp,
                            ["peer_losses_amp"] = p.PeerParityAmp,
                        },
                    };
                    ratios[r.Name] = new Dictionary<string, double?>
                    {
                        ["amp"] = Round(r.OursVsPeerAmp),
                        ["fp32"] = Round(r.OursVsPeerFp32),
                        ["bare_amp"] = Round(r.BareVsPeerAmp),
                        ["bare_fp32"] = Round(r.BareVsPeerFp32),
                    };
                }
                root["peer"] = peer;
                root["ours_vs_peer"] = ratios;
            }
            return JsonSerializer.Serialize(root);
        }

        /// <summary>Rounded for reading; null when a figure could not be computed (JSON has no NaN).</summary>
        private static double? Round(double value) => double.IsFinite(value) ? Math.Round(value, value >= 100 ? 1 : 3) : null;

        /// <summary>Unrounded; null when not measured (JSON has no NaN).</summary>
        private static double? Finite(double value) => double.IsFinite(value) ? value : null;

        private static string Mib(double bytes) => (bytes / (1 << 20)).ToString("F0", CultureInfo.InvariantCulture);

        private static double Stats(List<double> values) => Measurement.Stats.Median(values);
    }
}
