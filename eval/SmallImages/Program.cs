// Small real image sets: our trainer against the stock ML.NET pipeline users already have.
//
//   build/prereqs.sh --image-datasets                      # Fashion-MNIST, Tux Paint's stamps, rsvg-convert (Debian)
//   dotnet run -c Release --project eval/SmallImages -- --set all --mode stock,scratch --seed 1
//
//   --set   fashion100|tuxstamps|all  (comma lists work)                       default all
//   --mode  stock|scratch|frozen|finetune-fp32|finetune-amp|all  (comma lists)  default all
//   --seed  N   training seed (the data split has its own fixed seed, ImageSets.SplitSeed)  default 1
//   --data DIR  where the PNG files go (default eval/SmallImages/data)
//   --output DIR  results.md (markdown table) and results.jsonl, appended to (default eval/SmallImages/output)
//
// stock:   LoadImages → ResizeImages(224) → ExtractPixels → DnnFeaturizeImage(ResNet18, frozen) → MapValueToKey
//          → cache → LbfgsMaximumEntropy → MapKeyToValue: what an ML.NET user has today.
// scratch: LoadRawImageBytes → MapValueToKey → our ImageClassification (default options, random init)
//          .WithMixedPrecision() → MapKeyToValue.
// frozen, finetune-fp32, finetune-amp: our trainer from the pretrained ResNet18 (see OurOptions).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision;
using SampleComparisons;
using SmallImages;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var settings = Settings.Parse(args);
var results = new List<Result>();
foreach (string setName in settings.Sets)
{
    var clock = Stopwatch.StartNew();
    var set = ImageSets.Load(setName, settings.DataFolder);
    Console.WriteLine($"== {set.Name}: {set.Description}; ready in {clock.Elapsed.TotalSeconds:F1} s");
    foreach (var group in set.Train.GroupBy(f => f.Label).OrderBy(g => g.Key, StringComparer.Ordinal))
        Console.WriteLine($"   {group.Key,-12} train {group.Count(),4}  test {set.Test.Count(f => f.Label == group.Key),4}");
    Console.WriteLine($"   {"total",-12} train {set.Train.Count,4}  test {set.Test.Count,4}");

    foreach (string mode in settings.Modes)
    {
        Result result;
        try
        {
            result = Comparison.Run(set, mode, settings.Seed);
        }
        catch (NotSupportedException e)
        {
            Console.WriteLine($"-- {set.Name} / {mode}: skipped ({e.Message})");
            continue;
        }
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

namespace SmallImages
{
    internal static class Comparison
    {
        public static readonly string[] Modes = { "stock", "scratch", "frozen", "finetune-fp32", "finetune-amp" };

        /// <summary>
        /// Our trainer's configuration for every mode, in one place: default options but the seed, except that scratch
        /// names the network Auto trains from scratch (ResNetSmall up to 64 px, ResNet18 above) and frozen keeps the
        /// pretrained backbone frozen. Auto itself picks the pretrained ResNet18 on both sets (small data).
        /// </summary>
        public static ImageClassificationTrainer.Options OurOptions(string mode, int seed, int imageSize)
        {
            var options = new ImageClassificationTrainer.Options
            {
                LabelColumnName = "Label",
                FeatureColumnName = "Features",
                Seed = seed,
            };
            switch (mode)
            {
                case "scratch":
                    options.Architecture = imageSize <= 64 ? ResNetArchitecture.ResNetSmall : ResNetArchitecture.ResNet18;
                    return options;
                case "frozen":        // pretrained ResNet18, backbone frozen, linear head trained on features computed once (AMP)
                    options.Backbone = BackboneTraining.Frozen;
                    return options;
                case "finetune-fp32": // pretrained ResNet18, head first, then all layers, FP32 (no WithMixedPrecision)
                case "finetune-amp":  // the same with WithMixedPrecision()
                    return options;
                default:
                    throw new ArgumentException($"'{mode}' is not a mode of our trainer");
            }
        }

        /// <summary>Applies the --option Name=Value overrides (numbers, booleans, enums) to <paramref name="options"/>.</summary>
        private static ImageClassificationTrainer.Options WithOverrides(ImageClassificationTrainer.Options options)
        {
            ComparisonCommandLine.Apply(options, Settings.OptionOverrides);
            return options;
        }

        private static string OverridesText => ComparisonCommandLine.Describe(Settings.OptionOverrides);

        /// <summary>Whether the mode wraps our trainer in WithMixedPrecision(): all but finetune-fp32.</summary>
        public static bool OurMixedPrecision(string mode) => mode != "finetune-fp32";

        public static Result Run(ImageSet set, string mode, int seed)
        {
            var mlContext = new MLContext(seed);
            var train = mlContext.Data.LoadFromEnumerable(set.Train);
            var test = mlContext.Data.LoadFromEnumerable(set.Test);
            IEstimator<ITransformer> pipeline = mode == "stock" ? StockPipeline(mlContext) : OurPipeline(mlContext, mode, seed, set.ImageSize);

            var clock = Stopwatch.StartNew();
            var model = pipeline.Fit(train);
            double fitSeconds = clock.Elapsed.TotalSeconds;

            // One pass over the test set: decode, preprocess, network, metrics.
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
        /// What an ML.NET user has today: the frozen ImageNet ResNet18 of Microsoft.ML.DnnImageFeaturizer.ResNet18 as a
        /// featurizer (its ResNetPreprocess.onnx takes planar RGB in 0..255), a linear model on its 512 features.
        /// One flat chain; the cache checkpoint right before the trainer, so features are computed once.
        /// </summary>
        public static IEstimator<ITransformer> StockPipeline(MLContext mlContext)
        {
            return mlContext.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: "ImagePath")
                .Append(mlContext.Transforms.ResizeImages("Image", imageWidth: 224, imageHeight: 224))
                .Append(mlContext.Transforms.ExtractPixels("Pixels", "Image", interleavePixelColors: false, offsetImage: 0, scaleImage: 1))
                .Append(mlContext.Transforms.DnnFeaturizeImage("Features", m => m.ModelSelector.ResNet18(mlContext, m.OutputColumn, m.InputColumn), "Pixels"))
                .Append(mlContext.Transforms.Conversion.MapValueToKey("Label"))
                .AppendCacheCheckpoint(mlContext)
                .Append(mlContext.MulticlassClassification.Trainers.LbfgsMaximumEntropy("Label", "Features"))
                .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        }

        /// <summary>The Model Builder pipeline with our trainer, configured by <see cref="OurOptions"/>.</summary>
        public static IEstimator<ITransformer> OurPipeline(MLContext mlContext, string mode, int seed, int imageSize)
        {
            var trainer = mlContext.MulticlassClassification.Trainers.ImageClassification(WithOverrides(OurOptions(mode, seed, imageSize)));
            IEstimator<ITransformer> classifier = OurMixedPrecision(mode) ? trainer.WithMixedPrecision() : trainer;
            return mlContext.Transforms.LoadRawImageBytes("Features", imageFolder: null, inputColumnName: "ImagePath")
                .Append(mlContext.Transforms.Conversion.MapValueToKey("Label"))
                .Append(classifier)
                .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        }

        private static string Describe(ITransformer model, string mode)
        {
            if (mode == "stock")
                return "ResNet18 ONNX features (224 px) + LbfgsMaximumEntropy";
            var classifier = ((IEnumerable<ITransformer>)model).OfType<ClassifierTransformer>().Single();
            var ours = classifier as ImageClassificationTransformer;
            if (ours == null)
                return "";
            var s = ours.Summary;
            return $"{ours.Architecture} {ours.Channels}x{ours.ImageHeight}x{ours.ImageWidth}, {s.Precision}, {s.EpochsRun} epochs" +
                   (s.BestEpoch is int best ? $" (best {best})" : "") + $", {s.MeanSamplesPerSecond:F0} samples/s" + OverridesText;
        }
    }

    internal sealed class Settings
    {
        public List<string> Sets { get; } = new List<string>(ImageSets.Names);
        public List<string> Modes { get; } = new List<string>(Comparison.Modes);
        public int Seed { get; private set; } = 1;
        /// <summary>--option Name=Value: an option of our trainer set away from its default (for the measurements that chose the defaults).</summary>
        public static List<(string Name, string Value)> OptionOverrides { get; } = new List<(string, string)>();
        public string DataFolder { get; private set; } = Path.Combine(SampleFolder, "data");
        public string OutputFolder { get; private set; } = Path.Combine(SampleFolder, "output");

        /// <summary>eval/SmallImages (found from the build output), or the current folder when run from elsewhere.</summary>
        public static string SampleFolder { get; } = ComparisonCommandLine.SampleFolder("SmallImages.csproj");

        public static Settings Parse(string[] args)
        {
            var s = new Settings();
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--set": ComparisonCommandLine.Choose(s.Sets, Next(), ImageSets.Names, "set"); break;
                    case "--mode": ComparisonCommandLine.Choose(s.Modes, Next(), Comparison.Modes, "mode"); break;
                    case "--seed": s.Seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--data": s.DataFolder = Path.GetFullPath(Next()); break;
                    case "--output": s.OutputFolder = Path.GetFullPath(Next()); break;
                    case "--option": OptionOverrides.Add(ComparisonCommandLine.ParseOption(Next())); break;
                    default: throw new ArgumentException($"unknown option '{args[i]}' (--set, --mode, --seed, --data, --output, --option Name=Value)");
                }
            }
            return s;
        }
    }
}
