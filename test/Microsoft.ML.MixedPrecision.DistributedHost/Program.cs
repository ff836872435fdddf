using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.MixedPrecision;
using Microsoft.ML.MixedPrecision.Tests.Text;
using Microsoft.ML.MixedPrecision.Tests.Training;
using Microsoft.ML.MixedPrecision.Tests.Vision;

// Usage: DistributedHost <text|image> <Float32|BFloat16|Float16> <batch size> <output prefix> [<checkpoint folder>|-] [<failing rank>|-1]
//        DistributedHost bench <text|image|resnet18> <batch size> <epochs> <rows>
// A small seeded fit, run alone or under "mpirun -np N" (DataParallel Auto). Writes its outcome to
// "<output prefix>.rank<R>.txt": SUMMARY (world size, rank, steps, epochs, best epoch, skipped steps), one EPOCH line per epoch (round-trip
// doubles), MODEL (SHA-256 of the exported ONNX weights), SCORES (the Score column on fixed rows) and LIBMPI (True when
// libmpi is mapped into the process). Prints "LOG\t…" for
// the log's data-parallel and resume lines and, on rank 0, "STEP\t<n>" after optimizer step n is checkpointed.
// With a failing rank, that rank's metrics callback throws at the first batch: the job must end with its message.
// Float16 starts at a loss scale of 2^24, so the first steps overflow and the GradScaler skips them.
// "bench" (eval/Distributed/measure.sh): the trainers' default from-scratch text transformer, or ResNetSmall / ResNet18 on
// 64-pixel images, no validation; prints the log's training lines and, from rank 0, "THREADS\t<libtorch threads>" and
// "RESULT\t<samples/s>" (the mean over the epochs, all ranks' examples counted).
string rank = Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_RANK") ?? "0";
var ml = new MLContext(seed: 1);
ml.Log += (_, e) =>
{
    if (e.Message.Contains("data-parallel", StringComparison.OrdinalIgnoreCase) || e.Message.Contains("Resuming from checkpoint")
        || (args[0] == "bench" && e.Message.StartsWith("epoch", StringComparison.Ordinal)))
        Console.WriteLine($"LOG\t[rank {rank}] {e.Message}");
};

if (args[0] == "bench")
{
    var (benchModel, benchData) = Run(ml, args[1], TrainingPrecision.Float32, int.Parse(args[2]), checkpoints: null, failingRank: -1,
        epochs: int.Parse(args[3]), rows: int.Parse(args[4]));
    if (rank == "0")
        Console.WriteLine("THREADS\t" + TorchSharp.torch.get_num_threads());
    if (rank == "0")
        Console.WriteLine("RESULT\t" + benchModel.Summary.MeanSamplesPerSecond.ToString("F1", CultureInfo.InvariantCulture));
    return 0;
}

string workload = args[0];
var precision = Enum.Parse<TrainingPrecision>(args[1]);
int batch = int.Parse(args[2], CultureInfo.InvariantCulture);
string output = args[3];
string folder = args.Length > 4 && args[4] != "-" ? args[4] : null;
int failing = args.Length > 5 ? int.Parse(args[5], CultureInfo.InvariantCulture) : -1;

var (model, data) = Run(ml, workload, precision, batch, folder, failing);
var s = model.Summary;
var lines = new List<string> { string.Join("\t", "SUMMARY", s.WorldSize, s.Rank, s.OptimizerSteps, s.EpochsRun, s.BestEpoch, s.SkippedSteps) };
lines.AddRange(s.Epochs.Select(e => string.Join("\t", "EPOCH", e.Epoch, e.OptimizerSteps, R(e.TrainingLoss), R(e.TrainingAccuracy),
    R(e.ValidationLoss), R(e.ValidationAccuracy), R(e.LearningRate))));
lines.Add("MODEL\t" + CheckpointRun.ModelHash(ml, model, data.Schema));
var scores = ml.Data.CreateEnumerable<Scored>(model.Transform(data), reuseRowObject: false).Take(24).SelectMany(r => r.Score);
lines.Add("SCORES\t" + string.Join(" ", scores.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
// Without a launcher nothing of MPI may be loaded: whether libmpi is mapped into this process.
lines.Add("LIBMPI\t" + File.ReadAllText("/proc/self/maps").Contains("libmpi.so"));
File.WriteAllLines($"{output}.rank{s.Rank}.txt", lines);
return 0;

static (ClassifierTransformer Model, IDataView Data) Run(MLContext ml, string workload, TrainingPrecision precision, int batch, string checkpoints,
    int failingRank, int epochs = 3, int rows = 0)
{
    int rank = int.Parse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_RANK") ?? "0", CultureInfo.InvariantCulture);
    Action<TrainingMetrics> callback = m =>
    {
        if (rank == failingRank)
            throw new InvalidOperationException($"deliberate failure of rank {rank} in the metrics callback");
        if (!m.IsEpochEnd && rank == 0)
            Console.WriteLine("STEP\t" + m.OptimizerSteps);
    };
    if (workload == "text" && rows > 0)
    {
        var bench = new TextClassificationTrainer.Options
        {
            Encoder = TextEncoderKind.FromScratch, Epochs = epochs, BatchSize = batch, ValidationSetFraction = 0, Seed = 7, MinTokenCount = 1,
        };
        var benchRaw = ml.Data.LoadFromEnumerable(SyntheticText.Sentences(rows, seed: 11));
        var benchKeyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(benchRaw).Transform(benchRaw);
        return (ml.MulticlassClassification.Trainers.TextClassification(bench).Fit(benchKeyed), benchKeyed);
    }
    if (workload == "text")
    {
        // From scratch, no dropout (each rank would draw other masks than one process does over the whole batch) and no
        // BatchNorm (LayerNorm only): a 2-rank fit at batch B computes what a 1-rank fit at batch 2B computes.
        var options = CheckpointRun.Options(checkpoints, everySteps: 1);
        options.Dropout = 0;
        options.BatchSize = batch;
        options.Epochs = epochs;
        options.MetricsEveryBatches = 1;
        options.MetricsCallback = callback;
        var raw = ml.Data.LoadFromEnumerable(SyntheticText.Sentences(rows > 0 ? rows : 150, seed: 11));
        var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw);
        var trainer = ml.MulticlassClassification.Trainers.TextClassification(options);
        var model = precision == TrainingPrecision.Float32 ? trainer.Fit(keyed)
            : trainer.WithMixedPrecision(new MixedPrecisionOptions
            {
                Precision = precision, InitialLossScale = precision == TrainingPrecision.Float16 ? 1 << 24 : 65536,
            }).Fit(keyed);
        return (model, keyed);
    }
    // A from-scratch ResNet with BatchNorm: its running statistics are per rank during an epoch and averaged at its end.
    using var images = new SyntheticImages(rows > 0 ? rows : 96, size: rows > 0 ? 64 : 24, seed: 3);
    var imageRaw = ml.Data.LoadFromEnumerable(images.Rows);
    var imageData = ml.Transforms.Conversion.MapValueToKey("Label").Fit(imageRaw).Transform(imageRaw);
    var imageOptions = new ImageClassificationTrainer.Options
    {
        FeatureColumnName = "ImageSource",
        Architecture = workload == "resnet18" ? ResNetArchitecture.ResNet18 : ResNetArchitecture.ResNetSmall,
        Epochs = epochs,
        BatchSize = batch,
        ValidationSetFraction = rows > 0 ? 0 : 0.25,
        Seed = 5,
        CheckpointDirectory = checkpoints,
        CheckpointEverySteps = 1,
        MetricsEveryBatches = 1,
        MetricsCallback = callback,
    };
    var imageTrainer = ml.MulticlassClassification.Trainers.ImageClassification(imageOptions);
    var imageModel = precision == TrainingPrecision.Float32 ? imageTrainer.Fit(imageData)
        : imageTrainer.WithMixedPrecision(new MixedPrecisionOptions { Precision = precision }).Fit(imageData);
    return (imageModel, imageData);
}

static string R(double? value) => value?.ToString("R", CultureInfo.InvariantCulture) ?? "-";

internal sealed class Scored
{
    public float[] Score { get; set; }
}
