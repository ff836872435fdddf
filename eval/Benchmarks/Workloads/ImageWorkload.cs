using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FashionMnist;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;
using Microsoft.ML.MixedPrecision.Vision;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Workloads
{
    /// <summary>
    /// The Fashion-MNIST sample's trainer: ResNet (Auto = ResNetSmall at 28×28 gray), batch 128, the trainer's default
    /// optimizer, on real Fashion-MNIST images (PNG files through LoadRawImageBytes, as in the sample).
    /// </summary>
    internal sealed class ImageWorkload : Workload
    {
        private const int Size = 28;
        private static readonly ImageClassificationTrainer.Options Defaults = new ImageClassificationTrainer.Options();
        private readonly string _folder = Path.Combine(Path.GetTempPath(), "mixedprecision-fashion-mnist", "data");

        public override string Name => "image";
        public override int BatchSize => 128;
        public override double LearningRate => Defaults.LearningRate;
        public override double WeightDecay => Defaults.WeightDecay;
        public override double ClipNorm => Defaults.GradientClipNorm ?? double.PositiveInfinity;

        public override int BareBatches(BenchSettings settings) => settings.Quick ? 8 : 48;

        // Every batch has the same shape, so any run of steps is representative.
        public override int StepsPerSegment(BenchSettings settings) => settings.ImageStepsPerSegment;

        public override void LoadBareData(BenchSettings settings, int maxBatches)
        {
            var (pixels, labels, rows, columns) = FashionMnistImages.ReadIdx("train", maxBatches * BatchSize);
            var data = new ImageTrainingData(pixels, labels.Select(l => (long)l).ToArray(), 1, rows, columns, ImageAugmentation.None);
            PrebuildBatches(data, settings.Seed, maxBatches);
        }

        public override Module CreateModel(int seed)
        {
            manual_seed(seed);
            var model = new ResNet(1, FashionMnistImages.ClassNames.Length, ResNetArchitecture.ResNetSmall);
            model.SetChannelsLast(true); // as the trainer does, in both precisions
            return model;
        }

        public override double TrainingFlopsPerExample(Module model)
            => FlopCounter.TrainingToForward * FlopCounter.ResNetForward((ResNet)model, Size, Size);

        public override IEnumerable<LayerCase> LayerCases(Module model) => ResNetLayerCases.Convolutions((ResNet)model, Size, Size, BatchSize);

        public override EstimatorRun TrainWithEstimator(bool amp, BenchSettings settings, string modelPath)
        {
            var files = FashionMnistImages.Prepare("train", _folder, settings.ImageTrainingImages);
            var mlContext = new MLContext(seed: settings.Seed);
            var train = mlContext.Data.LoadFromEnumerable(files);
            var clock = new SteadyStateClock(EstimatorWarmupBatches(settings));
            var options = new ImageClassificationTrainer.Options
            {
                LabelColumnName = "Label",
                FeatureColumnName = "ImageSource",
                Architecture = ResNetArchitecture.ResNetSmall, // the bare loop's network, whatever the number of images
                Epochs = 1,
                BatchSize = BatchSize,
                ValidationSetFraction = 0, // time training only
                AugmentationHorizontalFlip = true,
                Seed = settings.Seed,
                MetricsEveryBatches = clock.ReportEvery,
                MetricsCallback = clock.OnMetrics,
            };
            return FitAndSaveImagePipeline(mlContext, options, amp, train, files.Count, clock, modelPath);
        }

        public override ScoringRun Score(string modelPath, BenchSettings settings)
        {
            var files = FashionMnistImages.Prepare("t10k", _folder, settings.ScoringTransformRows);
            return ScoringTimer.Measure(modelPath, files, settings);
        }
    }
}
