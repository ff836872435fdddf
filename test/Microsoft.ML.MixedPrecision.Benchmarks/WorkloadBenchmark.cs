using System;
using System.IO;
using System.Linq;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;
using Microsoft.ML.MixedPrecision.Benchmarks.Report;
using Microsoft.ML.MixedPrecision.Benchmarks.Workloads;

namespace Microsoft.ML.MixedPrecision.Benchmarks
{
    /// <summary>
    /// The measurements of one workload: per-layer kernels, then repetitions that each time a bare-loop segment and an
    /// estimator fit in both precisions (so a slow spell of the machine hits bare, estimator, FP32 and AMP alike), then
    /// memory (child processes) and scoring.
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

            workload.LoadBareData(settings, workload.BareBatches(settings));
            int steps = workload.StepsPerSegment(settings);
            int repetitions = workload.Repetitions(settings);
            Console.WriteLine($"bare loop: {workload.Batches.Count} prebuilt batches, {settings.BareWarmupSteps} warm-up steps, segments of {steps} steps; " +
                              $"estimator: one epoch per fit, {workload.EstimatorWarmupBatches(settings)} warm-up batches; {repetitions} repetitions");
            using (var fp32Model = workload.CreateModel(settings.Seed))
            using (var ampModel = workload.CreateModel(settings.Seed))
            using (var fp32 = workload.CreateBareLoop(fp32Model, amp: false))
            using (var amp = workload.CreateBareLoop(ampModel, amp: true))
            {
                result.TrainingFlopsPerExample = workload.TrainingFlopsPerExample(fp32Model);
                result.ParameterCount = fp32Model.parameters().Sum(p => p.numel());
                result.Layers = LayerSpeed.Measure(workload.LayerCases(fp32Model), warmup: 2, repetitions: settings.Quick ? 3 : 9);
                foreach (var layer in result.Layers)
                    Console.WriteLine($"  layer {layer.Name} (x{layer.Count}): FP32 {layer.Fp32Milliseconds:F2} ms, bf16 {layer.Bf16Milliseconds:F2} ms, {layer.Speedup:F2}x");
                Console.WriteLine($"layers forward + backward, time-weighted: bf16 {result.LayerSpeedup:F2}x faster than FP32");

                fp32.Run(settings.BareWarmupSteps);
                amp.Run(settings.BareWarmupSteps);
                for (int rep = 0; rep < repetitions; rep++)
                {
                    foreach (bool useAmp in Stats.InterleavedOrder(rep))
                    {
                        var loop = useAmp ? amp : fp32;
                        double rate = steps * loop.SamplesPerStep / loop.Run(steps);
                        (useAmp ? result.BareAmp : result.BareFp32).Add(rate);
                        Console.WriteLine($"  bare   {Label(useAmp)} rep {rep + 1}: {rate:F0} samples/s");
                    }
                    foreach (bool useAmp in Stats.InterleavedOrder(rep))
                    {
                        var run = workload.TrainWithEstimator(useAmp, settings, useAmp ? ampModelPath : Path.Combine(modelFolder, $"{workload.Name}-fp32.zip"));
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

            for (int rep = 0; rep < workload.MemoryRepetitions(settings); rep++)
            {
                foreach (bool useAmp in Stats.InterleavedOrder(rep))
                {
                    var m = MemoryProbe.Measure(workload.Name, useAmp, settings);
                    (useAmp ? result.MemoryAmp : result.MemoryFp32).Add(m);
                    Console.WriteLine($"  memory {Label(useAmp)}: rest {m.RestBytes >> 20} MiB, peak {m.PeakBytes >> 20} MiB " +
                                      $"(training +{m.TrainingBytes >> 20} MiB), activations {m.ActivationBytes >> 20} MiB");
                }
            }

            var score = workload.Score(ampModelPath, settings);
            Console.WriteLine($"scoring the saved AMP model: Transform {score.TransformRowsPerSecond:F0} rows/s, " +
                              $"PredictionEngine {score.PredictionEngineRowsPerSecond:F0} rows/s");
            return (result, score);
        }

        private static string Label(bool amp) => amp ? "AMP " : "FP32";

        private static (double, double, double) PhaseMedians(BareLoop loop, int warmupSteps)
        {
            var timed = loop.PhaseMilliseconds.Skip(warmupSteps).ToList();
            return (Stats.Median(timed.Select(p => p.Forward)), Stats.Median(timed.Select(p => p.Backward)), Stats.Median(timed.Select(p => p.Optimizer)));
        }

        internal static string Phases((double Forward, double Backward, double Optimizer) p) => $"{p.Forward:F1} / {p.Backward:F1} / {p.Optimizer:F1}";
    }
}
