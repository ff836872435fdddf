// ./build.sh bench [--quick]: FP32 vs AMP (bf16 autocast) training throughput, the ML.NET pipeline's cost over a bare
// TorchSharp loop, peak memory, model FLOPs utilization and scoring throughput, for the image and text trainers and the
// image trainer's fine-tune of the pretrained ResNet18, and the largest batch each precision trains within a memory budget.
// FP32 and AMP measurements alternate in this one process (memory: one child process per measurement); every figure
// is a median; ratios are computed from the medians. The last line printed is one JSON object (see docs/benchmarks.md).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Benchmarks;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;
using Microsoft.ML.MixedPrecision.Benchmarks.Report;
using Microsoft.ML.MixedPrecision.Benchmarks.Workloads;
using static TorchSharp.torch;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
if (args.Length > 0 && args[0] == MemoryProbe.ChildFlag)
    return MemoryProbe.RunChild(args);
if (args.Length > 0 && args[0] == MaxBatch.ChildFlag)
    return MaxBatch.RunChild(args);

var settings = BenchSettings.Parse(args);
if (settings.Only != null && !Workload.Names.Contains(settings.Only))
{
    Console.Error.WriteLine($"--only {settings.Only}: no such workload ({string.Join(", ", Workload.Names)}).");
    return 2;
}
TorchRuntime.EnsureAvailable();
var total = Stopwatch.StartNew();
Directory.CreateDirectory(settings.OutputFolder);
var machine = MachineInfo.Describe();
Console.WriteLine($"Microsoft.ML.MixedPrecision benchmark ({(settings.Quick ? "quick smoke check" : "full run")}), {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
Console.WriteLine(machine);
if (!AmpCapabilities.CpuHasFastBFloat16)
    Console.WriteLine(settings.Amp
        ? "warning: this CPU has no native bf16 instructions (avx512_bf16/amx); AMP cannot be fast here (--force-amp)."
        : "this CPU has no native bf16 instructions (avx512_bf16/amx): timing FP32 only, the AMP figures stay empty " +
          "(bf16 runs on slow reference kernels here, and the trainers' Auto trains in float32); --force-amp times bf16 anyway.");

double bf16Gemm = settings.Amp ? GemmRate.Measure(ScalarType.BFloat16, settings.GemmSize) : double.NaN;
double fp32Gemm = GemmRate.Measure(ScalarType.Float32, settings.GemmSize);
Console.WriteLine($"GEMM {settings.GemmSize}³: bf16 {bf16Gemm / 1e9:F0} GFLOP/s, fp32 {fp32Gemm / 1e9:F0} GFLOP/s ({bf16Gemm / fp32Gemm:F2}x)");

if (settings.SoakOnly)
{
    var (soakSamples, soakPhases) = Soak.Run(settings);
    string soakJson = Soak.Json(soakSamples, soakPhases);
    File.WriteAllText(Path.Combine(settings.OutputFolder, "soak.json"), soakJson + "\n");
    Console.WriteLine($"total {total.Elapsed.TotalSeconds:F0} s");
    Console.WriteLine(soakJson);
    return 0;
}

if (settings.MaxBatchOnly)
{
    var maxBatches = new List<WorkloadResult>();
    foreach (string name in Workload.Names.Where(n => settings.Only == null || settings.Only == n))
    {
        using var workload = Workload.Create(name);
        Console.WriteLine($"\n== {name}: largest batch within {MaxBatch.BudgetMib} MiB ==");
        var result = new WorkloadResult { Name = name, BatchSize = workload.BatchSize };
        WorkloadBenchmark.MeasureMaxBatch(workload, settings, result);
        maxBatches.Add(result);
    }
    string maxBatchJson = BenchTable.Json(maxBatches, new Dictionary<string, ScoringRun>());
    File.WriteAllText(Path.Combine(settings.OutputFolder, "max-batch.json"), maxBatchJson + "\n");
    Console.WriteLine($"total {total.Elapsed.TotalSeconds:F0} s");
    Console.WriteLine(maxBatchJson);
    return 0;
}

var results = new List<WorkloadResult>();
var scoring = new Dictionary<string, ScoringRun>();
foreach (string name in Workload.Names.Where(n => settings.Only == null || settings.Only == n))
{
    using (var workload = Workload.Create(name))
    {
        var (result, score) = WorkloadBenchmark.Run(workload, settings, bf16Gemm, fp32Gemm);
        results.Add(result);
        scoring[workload.Name] = score;
    }
}

string chartPath = ChartProcess.Draw(settings.OutputFolder, $"FP32 vs AMP training, {machine.CpuModel} ({machine.Cores} cores), {DateTime.UtcNow:yyyy-MM-dd}", results);
string table = BenchTable.Markdown(results, scoring, bf16Gemm, fp32Gemm);
File.WriteAllText(Path.Combine(settings.OutputFolder, "benchmark.md"), table);
Console.WriteLine();
Console.WriteLine(table);
Console.WriteLine($"chart: {chartPath}; table: {Path.Combine(settings.OutputFolder, "benchmark.md")}; total {total.Elapsed.TotalSeconds:F0} s");
string json = BenchTable.Json(results, scoring);
File.WriteAllText(Path.Combine(settings.OutputFolder, "benchmark.json"), json + "\n");
Console.WriteLine(json);
return 0;
