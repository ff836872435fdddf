// Language identification of quotes with ML.NET + Microsoft.ML.MixedPrecision: Debian's fortune files in English,
// German, Spanish and Italian → MapValueToKey → TextClassification(...) (by default the pretrained MiniLM fine-tuned;
// --encoder scratch: a small Transformer from scratch; optionally .WithMixedPrecision()) → MapKeyToValue; Evaluate;
// save model.zip; reload it; predict a sentence.
//
//   ./build/prereqs.sh --text-datasets                                  # as root: apt-get install fortunes{,-de,-es,-it}
//   dotnet run -c Release --project samples/TextClassification          # quick: 1500 quotes per language, 3 epochs, AMP (auto)
//   ... --compare (FP32 then AMP, same seed)   --epochs N   --per-language N   --precision fp32|bf16|auto   --batch N
//       --threads N (libtorch intra-op threads; 1 avoids OpenMP stalls when other jobs share the cores)
//       --encoder auto|minilm|scratch (the trainer's Encoder option; default auto)
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.MixedPrecision;
using TextClassification;

var settings = SampleSettings.Parse(args);
if (settings.Threads > 0)
    TorchSharp.torch.set_num_threads(settings.Threads);
var clock = Stopwatch.StartNew();
var quotes = FortuneQuotes.Load(settings.PerLanguage, settings.Seed);
int testCount = quotes.Count / 5;
var testQuotes = quotes.Take(testCount).ToList();
var trainQuotes = quotes.Skip(testCount).ToList();
Console.WriteLine($"Fortune quotes: {trainQuotes.Count} for training, {testQuotes.Count} for testing " +
                  $"({string.Join(", ", quotes.GroupBy(q => q.Label).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"))}), loaded in {clock.Elapsed.TotalSeconds:F1} s.");
string modelPath = Path.Combine(Path.GetTempPath(), "mixedprecision-text-model.zip");

var results = new List<(string Name, TrainingPrecision Precision, double Accuracy, double MacroAccuracy, double SamplesPerSecond, double Seconds)>();
foreach (var precision in settings.Precisions)
{
    var mlContext = new MLContext(seed: settings.Seed);
    var train = mlContext.Data.LoadFromEnumerable(trainQuotes);
    var test = mlContext.Data.LoadFromEnumerable(testQuotes);
    string name = precision is null ? "FP32" : precision.ToString();
    Console.WriteLine($"--- {(precision is null ? "FP32 (no WithMixedPrecision)" : $"WithMixedPrecision({precision})")} ---");

    var options = new TextClassificationTrainer.Options
    {
        LabelColumnName = "Label",
        Sentence1ColumnName = "Text",
        Epochs = settings.Epochs,
        BatchSize = settings.BatchSize,
        MaxSequenceLength = 64,
        Encoder = settings.Encoder,
        ValidationSetFraction = 0.05,
        Seed = settings.Seed,
        MetricsEveryBatches = 10,
        MetricsCallback = m =>
        {
            if (m.IsEpochEnd)
                Console.WriteLine("\r" + m);
            else
                Console.Write($"\repoch {m.Epoch}/{settings.Epochs} batch {m.BatchesProcessed}/{m.BatchesPerEpoch} loss {m.TrainingLoss:F3} {m.SamplesPerSecond:F0} samples/s   ");
        },
    };
    var trainer = mlContext.MulticlassClassification.Trainers.TextClassification(options);
    IEstimator<ITransformer> classifier = precision is null
        ? trainer
        : trainer.WithMixedPrecision(new MixedPrecisionOptions { Precision = precision.Value });
    var pipeline = mlContext.Transforms.Conversion.MapValueToKey("Label")
        .Append(classifier)
        .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

    clock.Restart();
    var model = pipeline.Fit(train);
    var summary = ((IEnumerable<ITransformer>)model).OfType<ClassifierTransformer>().Single().Summary;
    double seconds = clock.Elapsed.TotalSeconds;

    var metrics = mlContext.MulticlassClassification.Evaluate(model.Transform(test));
    Console.WriteLine($"test accuracy {metrics.MicroAccuracy:P2} (macro {metrics.MacroAccuracy:P2}, log-loss {metrics.LogLoss:F3}); trained in {seconds:F0} s, " +
                      $"{summary.MeanSamplesPerSecond:F0} samples/s, precision {summary.Precision} (matmuls ran in {summary.ObservedActivationType})");
    Console.WriteLine(metrics.ConfusionMatrix.GetFormattedConfusionTable());
    results.Add((name, summary.Precision, metrics.MicroAccuracy, metrics.MacroAccuracy, summary.MeanSamplesPerSecond, seconds));

    mlContext.Model.Save(model, train.Schema, modelPath);
    var reloadContext = new MLContext();
    var reloaded = reloadContext.Model.Load(modelPath, out _);
    var engine = reloadContext.Model.CreatePredictionEngine<FortuneQuotes.Quote, LanguagePrediction>(reloaded);
    foreach (string sentence in new[] { "Wer nicht wagt, der nicht gewinnt.", "The early bird catches the worm.", "Chi va piano va sano e va lontano.", "Más vale tarde que nunca." })
    {
        var prediction = engine.Predict(new FortuneQuotes.Quote { Text = sentence });
        Console.WriteLine($"reloaded {Path.GetFileName(modelPath)} ({new FileInfo(modelPath).Length / 1024} KiB): \"{sentence}\" → {prediction.PredictedLabel} (p = {prediction.Score.Max():F3})");
    }
}

Console.WriteLine($"{"run",-10}{"precision",-11}{"test acc",10}{"macro acc",11}{"samples/s",11}{"seconds",9}");
foreach (var r in results)
    Console.WriteLine($"{r.Name,-10}{r.Precision,-11}{r.Accuracy,10:P2}{r.MacroAccuracy,11:P2}{r.SamplesPerSecond,11:F0}{r.Seconds,9:F0}");
foreach (var r in results)
    Console.WriteLine($"RESULT run={r.Name} precision={r.Precision} train={trainQuotes.Count} test={testQuotes.Count} epochs={settings.Epochs} batch={settings.BatchSize} " +
                      $"test_accuracy={r.Accuracy.ToString("F4", CultureInfo.InvariantCulture)} samples_per_s={r.SamplesPerSecond:F0} seconds={r.Seconds:F0}");

internal sealed class LanguagePrediction
{
    public string PredictedLabel { get; set; }
    public float[] Score { get; set; }
}

internal sealed class SampleSettings
{
    public int PerLanguage { get; private set; } = 1500;
    public int Epochs { get; private set; } = 3;
    public int BatchSize { get; private set; } = 32;
    public int Seed { get; private set; } = 1;
    public int Threads { get; private set; }
    public TextEncoderKind Encoder { get; private set; } = TextEncoderKind.Auto;
    public List<TrainingPrecision?> Precisions { get; } = new List<TrainingPrecision?> { TrainingPrecision.Auto };

    public static SampleSettings Parse(string[] args)
    {
        var s = new SampleSettings();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--epochs": s.Epochs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--per-language": s.PerLanguage = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--batch": s.BatchSize = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--threads": s.Threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--seed": s.Seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--encoder":
                    s.Encoder = Next() switch
                    {
                        "auto" => TextEncoderKind.Auto,
                        "minilm" => TextEncoderKind.MiniLmL6,
                        "scratch" => TextEncoderKind.FromScratch,
                        var other => throw new ArgumentException($"unknown encoder '{other}' (auto, minilm, scratch)"),
                    };
                    break;
                case "--compare": s.Precisions.Clear(); s.Precisions.Add(null); s.Precisions.Add(TrainingPrecision.Auto); break;
                case "--precision":
                    s.Precisions.Clear();
                    s.Precisions.Add(Next() switch
                    {
                        "fp32" => null,
                        "bf16" => TrainingPrecision.BFloat16,
                        "auto" => TrainingPrecision.Auto,
                        var other => throw new ArgumentException($"unknown precision '{other}' (fp32, bf16, auto)"),
                    });
                    break;
                default: throw new ArgumentException($"unknown option '{args[i]}'");
            }
        }
        return s;
    }
}
