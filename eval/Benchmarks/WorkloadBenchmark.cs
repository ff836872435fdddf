using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;
using Microsoft.ML.MixedPrecision.Benchmarks.Peer;
using Microsoft.ML.MixedPrecision.Benchmarks.Report;
using Microsoft.ML.MixedPrecision.Benchmarks.Workloads;
using Microsoft.ML.MixedPrecision.Native;

namespace Microsoft.ML.MixedPrecision.Benchmarks
{
    /// <summary>
    /// The measurements of one workload: per-layer kernels, then repetitions that each time a bare-loop segment and an
    /// estimator fit in both precisions (so a slow spell of the machine hits bare, estimator, FP32 and AMP alike), then
    /// memory (child processes) and scoring. With <c>--peer</c> the PyTorch peer's FP32 and AMP segments run in each
    /// repetition right after ours, on the same batches from the same initial weights.
    /// </summary>
    internal static class WorkloadBenchmark
    {
        public static (WorkloadResult, ScoringRun) Run(Workload workload, BenchSettings settings, double bf16GemmFlops, double fp32GemmFlops)
        {
            var result = new WorkloadResult
            {
                Name = workload.Name, BatchSize = workload.BatchSize, Bf16GemmFlops = bf16GemmFlops, Fp32GemmFlops = fp32GemmFlops,
            };
            Console.WriteLine($"\n== {workload.Name} (batch {workload.BatchSize}) ==");
            string modelFolder = Path.Combine(settings.OutputFolder, "models");
            Directory.CreateDirectory(modelFolder);
            string ampModelPath = Path.Combine(modelFolder, $"{workload.Name}-amp.zip");
            string fp32ModelPath = Path.Combine(modelFolder, $"{workload.Name}-fp32.zip");

            workload.LoadBareData(settings, workload.BareBatches(settings));
            int steps = workload.StepsPerSegment(settings);
            int repetitions = workload.Repetitions(settings);
            Console.WriteLine($"bare loop: {workload.Batches.Count} prebuilt batches, {settings.BareWarmupSteps} warm-up steps, segments of {steps} steps; " +
                              $"estimator: one epoch per fit, {workload.EstimatorWarmupBatches(settings)} warm-up batches; {repetitions} repetitions");
            using var peer = settings.Peer ? StartPeer(workload, settings, result) : null;
            using (var fp32Model = workload.CreateModel(settings.Seed))
            using (var ampModel = workload.CreateModel(settings.Seed))
            using (var fp32 = workload.CreateBareLoop(fp32Model, amp: false))
            using (var amp = workload.CreateBareLoop(ampModel, amp: true))
            {
                result.TrainingFlopsPerExample = workload.TrainingFlopsPerExample(fp32Model);
                result.ParameterCount = fp32Model.parameters().Sum(p => p.numel());
                // The layer table compares FP32 with bf16 kernels: nothing to compare when AMP is not timed.
                result.Layers = settings.Amp ? LayerSpeed.Measure(workload.LayerCases(fp32Model), warmup: 2, repetitions: settings.Quick ? 3 : 9) : new List<LayerTiming>();
                foreach (var layer in result.Layers)
                    Console.WriteLine($"  layer {layer.Name} (x{layer.Count}): FP32 {layer.Fp32Milliseconds:F2} ms, bf16 {layer.Bf16Milliseconds:F2} ms, {layer.Speedup:F2}x");
                Console.WriteLine($"layers forward + backward, time-weighted: bf16 {result.LayerSpeedup:F2}x faster than FP32");

                fp32.Run(settings.BareWarmupSteps);
                if (settings.Amp)
                    amp.Run(settings.BareWarmupSteps);
                peer?.Warmup(settings.BareWarmupSteps);
                for (int rep = 0; rep < repetitions; rep++)
                {
                    foreach (bool useAmp in settings.Precisions(rep))
                    {
                        var loop = useAmp ? amp : fp32;
                        long trims = NativeHeap.Trims;
                        double rate = steps * loop.SamplesPerStep / loop.Run(steps);
                        (useAmp ? result.BareAmp : result.BareFp32).Add(rate);
                        // A trim makes the next steps fault their memory in again: say so where it happened.
                        Console.WriteLine($"  bare   {Label(useAmp)} rep {rep + 1}: {rate:F0} samples/s (heap trims: {NativeHeap.Trims - trims} in this segment, {trims} before)");
                    }
                    if (peer != null)
                    {
                        foreach (bool useAmp in settings.Precisions(rep))
                        {
                            double rate = steps * fp32.SamplesPerStep / peer.Run(useAmp, steps);
                            (useAmp ? result.Peer.Amp : result.Peer.Fp32).Add(rate);
                            Console.WriteLine($"  peer   {Label(useAmp)} rep {rep + 1}: {rate:F0} samples/s (PyTorch {result.Peer.TorchVersion})");
                        }
                    }
                    foreach (bool useAmp in settings.Precisions(rep))
                    {
                        var run = workload.TrainWithEstimator(useAmp, settings, useAmp ? ampModelPath : fp32ModelPath);
                        (useAmp ? result.EstimatorAmp : result.EstimatorFp32).Add(run.SamplesPerSecond);
                        (useAmp ? result.FitSecondsAmp : result.FitSecondsFp32).Add(run.FitSeconds);
                        if (useAmp)
                            result.EstimatorPrecision = run.Precision;
                        Console.WriteLine($"  ML.NET {Label(useAmp)} rep {rep + 1}: {run.SamplesPerSecond:F0} samples/s " +
                                          $"(precision {run.Precision}, fit {run.FitSeconds:F1} s, loss {run.TrainingLoss:F3})");
                    }
                }
                result.LossFp32 = fp32.Losses.ToList();
                result.LossAmp = amp.Losses.ToList();
                result.PhasesFp32 = PhaseMedians(fp32, settings.BareWarmupSteps);
                result.PhasesAmp = PhaseMedians(amp, settings.BareWarmupSteps);
            }
            Console.WriteLine($"bare: FP32 {result.BareFp32Median:F0}, AMP {result.BareAmpMedian:F0} samples/s ({result.BareSpeedup:F2}x); " +
                              $"{result.TrainingFlopsPerExample / 1e6:F0} MFLOP per training example");
            Console.WriteLine($"bare step phases, ms (forward / backward / clip + AdamW): FP32 {Phases(result.PhasesFp32)}, AMP {Phases(result.PhasesAmp)}");
            Console.WriteLine($"ML.NET: FP32 {result.Fp32SamplesPerSecond:F0}, AMP {result.AmpSamplesPerSecond:F0} samples/s ({result.Speedup:F2}x); " +
                              $"{result.SpeedupOfGemmRatio:F2} of the GEMM ratio {result.GemmRatio:F2}; pipeline/bare AMP {result.PipelineVsBare:F2}, FP32 {result.PipelineVsBareFp32:F2}");

            if (result.Peer != null)
            {
                Console.WriteLine($"PyTorch peer: FP32 {result.Peer.Fp32Median:F0}, AMP {result.Peer.AmpMedian:F0} samples/s; ours/peer estimator AMP {result.OursVsPeerAmp:F2}, " +
                                  $"FP32 {result.OursVsPeerFp32:F2}; bare AMP {result.BareVsPeerAmp:F2}, FP32 {result.BareVsPeerFp32:F2}");
                peer.Dispose(); // its memory is not ours to measure
            }

            for (int rep = 0; rep < workload.MemoryRepetitions(settings); rep++)
            {
                foreach (bool useAmp in settings.Precisions(rep))
                {
                    var m = MemoryProbe.Measure(workload.Name, useAmp, settings);
                    (useAmp ? result.MemoryAmp : result.MemoryFp32).Add(m);
                    Console.WriteLine($"  memory {Label(useAmp)}: rest {m.RestBytes >> 20} MiB, peak {m.PeakBytes >> 20} MiB " +
                                      $"(training +{m.TrainingBytes >> 20} MiB), activations {m.ActivationBytes >> 20} MiB");
                }
            }

            if (!settings.Quick) // minutes of large steps: not in the smoke check (--max-batch-only --quick runs it)
                MeasureMaxBatch(workload, settings, result);

            // The AMP model is the product's; without AMP timed, the FP32 one (the same ONNX graph and stock chain).
            var score = workload.Score(settings.Amp ? ampModelPath : fp32ModelPath, settings);
            Console.WriteLine($"scoring the saved {(settings.Amp ? "AMP" : "FP32")} model: Transform {score.TransformRowsPerSecond:F0} rows/s, " +
                              $"PredictionEngine {score.PredictionEngineRowsPerSecond:F0} rows/s");
            return (result, score);
        }

        /// <summary>The largest batch within the budget in each precision (a child process each; AMP only when AMP is timed).</summary>
        public static void MeasureMaxBatch(Workload workload, BenchSettings settings, WorkloadResult result)
        {
            foreach (bool useAmp in settings.Amp ? new[] { false, true } : new[] { false })
            {
                var m = MaxBatch.Measure(workload.Name, useAmp, settings);
                if (useAmp)
                    result.MaxBatchAmp = m;
                else
                    result.MaxBatchFp32 = m;
                Console.WriteLine($"  max batch {Label(useAmp)} within {MaxBatch.BudgetMib} MiB: {m.Batch} (peak {m.PeakMib} MiB; probes " +
                                  $"{string.Join(", ", m.Probes.Select(p => $"{p[0]} → {p[1]}"))} MiB; {m.Seconds:F0} s)");
            }
        }

        /// <summary>
        /// Exports a fresh model's weights and the batches to the peer, then checks that it mirrors ours: the same
        /// parameter count, and the same per-step losses over <see cref="BenchSettings.PeerParitySteps"/> steps from those
        /// weights (dropout off in the text networks; the CNNs have none), FP32 and AMP.
        /// </summary>
        private static PyTorchPeer StartPeer(Workload workload, BenchSettings settings, WorkloadResult result)
        {
            PyTorchPeer peer;
            List<double> oursFp32, oursAmp;
            long ours;
            using (var model = workload.CreateModel(settings.Seed))
            {
                ours = model.parameters().Sum(p => p.numel());
                peer = PyTorchPeer.Start(workload, model, settings.PeerFolder, settings.Amp);
                oursFp32 = ParityLosses(workload, model, amp: false, settings.PeerParitySteps);
            }
            oursAmp = new List<double>();
            if (settings.Amp)
            {
                using var model = workload.CreateModel(settings.Seed);
                oursAmp = ParityLosses(workload, model, amp: true, settings.PeerParitySteps);
            }
            var (peerFp32, peerAmp) = peer.Parity(settings.PeerParitySteps);
            result.Peer = new PeerResult
            {
                TorchVersion = peer.Info.GetProperty("torch").GetString(),
                Threads = peer.Info.GetProperty("threads").GetInt32(),
                Blas = peer.Info.GetProperty("blas").GetString(),
                ParameterCount = peer.Info.GetProperty("parameter_count").GetInt64(),
                Layouts = Layouts(peer.Info.GetProperty("layouts")),
                OursParityFp32 = oursFp32, OursParityAmp = oursAmp, PeerParityFp32 = peerFp32, PeerParityAmp = peerAmp,
            };
            var r = result.Peer;
            Console.WriteLine($"PyTorch peer {r.TorchVersion} ({r.Threads} threads, BLAS {r.Blas}{(r.Layouts is null ? "" : $"; conv weights {r.Layouts}, its faster layouts")}): " +
                              $"{r.ParameterCount:N0} parameters (ours {ours:N0}); " +
                              $"{settings.PeerParitySteps} steps from the same weights: losses FP32 ours {Join(oursFp32)} / peer {Join(peerFp32)}, " +
                              $"AMP ours {Join(oursAmp)} / peer {Join(peerAmp)}; first-step relative difference FP32 {r.FirstLossDifferenceFp32:E1}, " +
                              $"AMP {r.FirstLossDifferenceAmp:E1} (tolerance {PeerResult.Fp32Tolerance:E0} / {PeerResult.AmpTolerance:E0}): " +
                              (r.ParityPassed(ours) ? "parity ok" : "PARITY FAILED"));
            return peer;
        }

        /// <summary>"fp32 nchw, amp channels_last" from the peer's {"fp32": …, "amp": …}, or null for networks without a layout.</summary>
        private static string Layouts(System.Text.Json.JsonElement layouts)
        {
            var chosen = new[] { "fp32", "amp" }.Select(p => (p, layout: layouts.GetProperty(p).GetString())).Where(c => c.layout != null).ToList();
            return chosen.Count == 0 ? null : string.Join(", ", chosen.Select(c => $"{c.p} {c.layout}"));
        }

        private static List<double> ParityLosses(Workload workload, TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> model, bool amp, int steps)
        {
            using var loop = workload.CreateBareLoop(model, amp);
            if (model is not Vision.ResNet)
                model.eval(); // the text networks: no BatchNorm, so eval() only turns dropout off, as in the peer
            loop.Run(steps);
            return loop.Losses.ToList();
        }

        private static string Join(IEnumerable<double> values) => string.Join(" ", values.Select(v => v.ToString("F5")));

        private static string Label(bool amp) => amp ? "AMP " : "FP32";

        private static (double, double, double) PhaseMedians(BareLoop loop, int warmupSteps)
        {
            var timed = loop.PhaseMilliseconds.Skip(warmupSteps).ToList();
            return (Stats.Median(timed.Select(p => p.Forward)), Stats.Median(timed.Select(p => p.Backward)), Stats.Median(timed.Select(p => p.Optimizer)));
        }

        internal static string Phases((double Forward, double Backward, double Optimizer) p) => $"{p.Forward:F1} / {p.Backward:F1} / {p.Optimizer:F1}";
    }
}
