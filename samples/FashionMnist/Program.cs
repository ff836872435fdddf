// Fashion-MNIST image classification with ML.NET + Microsoft.ML.MixedPrecision, the Model Builder way:
// PNG files in a folder per class → LoadRawImageBytes → MapValueToKey → ImageClassification(...).WithMixedPrecision()
// → MapKeyToValue; Evaluate on the 10k test images; save model.zip; reload it; predict one image.
//
//   dotnet run -c Release --project samples/FashionMnist                 # quick: 12k images, 3 epochs, AMP
//   dotnet run -c Release --project samples/FashionMnist -- --full       # 60k images, 8 epochs
//   ... --precision fp32|bf16|fp16|auto   --compare (AMP then FP32, same seed)   --epochs N   --train N   --batch N
//       --arch Auto|ResNetTiny|ResNetSmall|ResNet18   --lr X   --seed N
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using FashionMnist;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision;
using Spectre.Console;

var settings = SampleSettings.Parse(args);
string dataFolder = Path.Combine(settings.WorkFolder, "data");
string modelPath = Path.Combine(settings.WorkFolder, "model.zip");
Directory.CreateDirectory(settings.WorkFolder);

AnsiConsole.MarkupLine($"[bold]Fashion-MNIST[/]: writing PNG files to [grey]{dataFolder}[/] (once)...");
var clock = Stopwatch.StartNew();
var trainFiles = FashionMnistImages.Prepare("train", dataFolder, settings.TrainCount);
var testFiles = FashionMnistImages.Prepare("t10k", dataFolder);
AnsiConsole.MarkupLine($"{trainFiles.Count} training and {testFiles.Count} test images ready in {clock.Elapsed.TotalSeconds:F1} s.");

var results = new List<(string Name, TrainingPrecision Precision, double Accuracy, double MacroAccuracy, double SamplesPerSecond, double Seconds)>();
foreach (var precision in settings.Precisions)
{
    var mlContext = new MLContext(seed: settings.Seed);
    var train = mlContext.Data.LoadFromEnumerable(trainFiles);
    var test = mlContext.Data.LoadFromEnumerable(testFiles);

    var options0 = new ImageClassificationTrainer.Options();
    var options = new ImageClassificationTrainer.Options
    {
        LabelColumnName = "Label",
        FeatureColumnName = "ImageSource",
        Epochs = settings.Epochs,
        BatchSize = settings.BatchSize,
        LearningRate = settings.LearningRate ?? options0.LearningRate,
        Optimizer = settings.Optimizer ?? options0.Optimizer,
        WeightDecay = settings.WeightDecay ?? options0.WeightDecay,
        ValidationSetFraction = 0.05,
        AugmentationHorizontalFlip = true, // clothes are left-right symmetric
        Architecture = settings.Architecture,
        Seed = settings.Seed,
    };
    ITransformer model = null;
    TrainingSummary summary = null;
    AnsiConsole.Write(new Rule($"[yellow]{(precision is null ? "FP32 (no WithMixedPrecision)" : $"WithMixedPrecision({precision})")}[/]"));
    clock.Restart();
    AnsiConsole.Progress()
        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
        .Start(progress =>
        {
            var task = progress.AddTask("training", maxValue: settings.Epochs);
            options.MetricsCallback = m =>
            {
                task.Value = m.Epoch - 1 + (double)m.BatchesProcessed / m.BatchesPerEpoch;
                task.Description = $"epoch {m.Epoch}/{settings.Epochs} loss {m.TrainingLoss:F3} {m.SamplesPerSecond:F0}/s";
                if (m.IsEpochEnd)
                    AnsiConsole.MarkupLine(Markup.Escape(m.ToString()));
            };

            // The Model Builder pipeline.
            var trainer = mlContext.MulticlassClassification.Trainers.ImageClassification(options);
            IEstimator<ITransformer> classifier = precision is null
                ? trainer
                : trainer.WithMixedPrecision(new MixedPrecisionOptions { Precision = precision.Value });
            var pipeline = mlContext.Transforms.LoadRawImageBytes("ImageSource", imageFolder: null, inputColumnName: "ImagePath")
                .Append(mlContext.Transforms.Conversion.MapValueToKey("Label"))
                .Append(classifier)
                .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
            model = pipeline.Fit(train);
            summary = ((IEnumerable<ITransformer>)model).OfType<ClassifierTransformer>().Single().Summary;
        });
    double seconds = clock.Elapsed.TotalSeconds;

    var metrics = mlContext.MulticlassClassification.Evaluate(model.Transform(test));
    AnsiConsole.MarkupLine($"[green]test accuracy {metrics.MicroAccuracy:P2}[/] (macro {metrics.MacroAccuracy:P2}, log-loss {metrics.LogLoss:F3}); " +
                           $"trained in {seconds:F0} s, {summary.MeanSamplesPerSecond:F0} samples/s, precision {summary.Precision}, skipped steps {summary.SkippedSteps}");
    results.Add((precision?.ToString() ?? "FP32", summary.Precision, metrics.MicroAccuracy, metrics.MacroAccuracy, summary.MeanSamplesPerSecond, seconds));

    mlContext.Model.Save(model, train.Schema, modelPath);
    var reloaded = new MLContext().Model.Load(modelPath, out _);
    var engine = new MLContext().Model.CreatePredictionEngine<FashionMnistImages.ImageFile, ImagePrediction>(reloaded);
    var sample = testFiles[0];
    var prediction = engine.Predict(sample);
    AnsiConsole.MarkupLine($"saved [grey]{modelPath}[/] ({new FileInfo(modelPath).Length / 1024} KiB), reloaded; {Path.GetFileName(sample.ImagePath)} " +
                           $"(a {sample.Label}) is predicted [bold]{prediction.PredictedLabel}[/] with p = {prediction.Score.Max():F3}");
}

var table = new Table().AddColumns("run", "precision used", "test accuracy", "macro accuracy", "train samples/s", "train + eval s");
foreach (var r in results)
    table.AddRow(r.Name, r.Precision.ToString(), $"{r.Accuracy:P2}", $"{r.MacroAccuracy:P2}", $"{r.SamplesPerSecond:F0}", $"{r.Seconds:F0}");
AnsiConsole.Write(table);
foreach (var r in results)
    Console.WriteLine($"RESULT run={r.Name} precision={r.Precision} arch={settings.Architecture} train={trainFiles.Count} epochs={settings.Epochs} batch={settings.BatchSize} " +
                      $"test_accuracy={r.Accuracy:F4} samples_per_s={r.SamplesPerSecond:F0} seconds={r.Seconds:F0}");

internal sealed class ImagePrediction
{
    public string PredictedLabel { get; set; }
    public float[] Score { get; set; }
}

internal sealed class SampleSettings
{
    public int? TrainCount { get; private set; } = 12000;
    public int Epochs { get; private set; } = 3;
    public int BatchSize { get; private set; } = 128;
    public double? LearningRate { get; private set; }
    public OptimizerKind? Optimizer { get; private set; }
    public double? WeightDecay { get; private set; }
    public int Seed { get; private set; } = 1;
    public ResNetArchitecture Architecture { get; private set; } = ResNetArchitecture.Auto;
    public string WorkFolder { get; private set; } = Path.Combine(Path.GetTempPath(), "mixedprecision-fashion-mnist");
    public List<TrainingPrecision?> Precisions { get; } = new List<TrainingPrecision?> { TrainingPrecision.Auto };

    public static SampleSettings Parse(string[] args)
    {
        var s = new SampleSettings();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--full": s.TrainCount = null; s.Epochs = 8; break;
                case "--train": s.TrainCount = int.Parse(Next()); break;
                case "--epochs": s.Epochs = int.Parse(Next()); break;
                case "--batch": s.BatchSize = int.Parse(Next()); break;
                case "--lr": s.LearningRate = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--optimizer": s.Optimizer = Next() == "sgd" ? OptimizerKind.SgdMomentum : OptimizerKind.AdamW; break;
                case "--wd": s.WeightDecay = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--seed": s.Seed = int.Parse(Next()); break;
                case "--arch": s.Architecture = Enum.Parse<ResNetArchitecture>(Next(), ignoreCase: true); break;
                case "--work": s.WorkFolder = Next(); break;
                case "--compare": s.Precisions.Clear(); s.Precisions.Add(TrainingPrecision.Auto); s.Precisions.Add(null); break;
                case "--precision":
                    s.Precisions.Clear();
                    s.Precisions.Add(Next() switch
                    {
                        "fp32" => null,
                        "bf16" => TrainingPrecision.BFloat16,
                        "fp16" => TrainingPrecision.Float16,
                        "auto" => TrainingPrecision.Auto,
                        var other => throw new ArgumentException($"unknown precision '{other}' (fp32, bf16, fp16, auto)"),
                    });
                    break;
                default: throw new ArgumentException($"unknown option '{args[i]}'");
            }
        }
        return s;
    }
}
