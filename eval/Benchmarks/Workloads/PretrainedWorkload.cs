using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FashionMnist;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.ML.MixedPrecision.Vision.Pretrained;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Workloads
{
    /// <summary>
    /// What the image trainer does by default on small data: the full fine-tune of CNTK's ImageNet ResNet18 (4 stages of
    /// 2, 2, 2, 3 blocks, max pool after the stem) at the trainer's default size for it (128×128 RGB), batch 64, AdamW
    /// with the backbone at <see cref="ImageClassificationTrainer.Options.BackboneLearningRateFactor"/> × the head's rate
    /// and no weight decay on BatchNorm and bias parameters. Data: the Fashion-MNIST PNGs of the image workload; the
    /// trainer upscales the 28 px gray images to 3 × 128 × 128 (R = G = B), and the bare loop's batches are upscaled
    /// the same way (bilinear, in managed code), so both train on the same shape and value range.
    /// </summary>
    internal sealed class PretrainedWorkload : Workload
    {
        private const int Channels = 3; // the pretrained network always reads color
        private static readonly int Size = ImageClassificationTrainer.PretrainedImageSize;
        private static readonly ImageClassificationTrainer.Options Defaults = new ImageClassificationTrainer.Options();
        private readonly string _folder = Path.Combine(Path.GetTempPath(), "mixedprecision-fashion-mnist", "data");
        private string _weightsPath;

        public override string Name => "pretrained";
        public override int BatchSize => Defaults.BatchSize;
        public override double LearningRate => Defaults.LearningRate;
        public override double WeightDecay => Defaults.WeightDecay;
        public override double ClipNorm => Defaults.GradientClipNorm ?? double.PositiveInfinity;

        public override int BareBatches(BenchSettings settings) => settings.Quick ? 4 : 8;

        public override int StepsPerSegment(BenchSettings settings) => settings.PretrainedStepsPerSegment;

        public override int Repetitions(BenchSettings settings) => settings.PretrainedRepetitions;

        public override int EstimatorWarmupBatches(BenchSettings settings) => settings.PretrainedEstimatorWarmupBatches;

        public override int MemoryRepetitions(BenchSettings settings) => settings.PretrainedMemoryRepetitions;

        public override void LoadBareData(BenchSettings settings, int maxBatches)
        {
            var (pixels, labels, rows, columns) = FashionMnistImages.ReadIdx("train", maxBatches * BatchSize);
            var rgb = UpscaleGrayToRgb(pixels, labels.Length, rows, columns, Size, Size);
            var data = new ImageTrainingData(rgb, labels.Select(l => (long)l).ToArray(), Channels, Size, Size, ImageAugmentation.None);
            PrebuildBatches(data, settings.Seed, maxBatches);
        }

        public override Module CreateModel(int seed)
        {
            _weightsPath ??= PretrainedResNet18File.Find()
                ?? throw new FileNotFoundException($"The pretrained ResNet18 weights were not found ({string.Join(", ", PretrainedResNet18File.Candidates())}). {PretrainedResNet18File.Fix}");
            manual_seed(seed); // the new head's initial weights
            var model = ResNetOnnxImport.Load(_weightsPath, FashionMnistImages.ClassNames.Length, null, PretrainedResNet18File.Fix).Model;
            model.SetChannelsLast(true); // as the trainer does, in both precisions
            return model;
        }

        /// <summary>The fine-tune phase's groups (PretrainedImageFitSteps): backbone at the lower rate, head at the full rate, each split by weight decay.</summary>
        public override IReadOnlyList<ParameterGroup> ParameterGroups(Module model)
        {
            var resnet = (ResNet)model;
            return ParameterGroup.DecayMatricesOnly(resnet.BackboneParameters(), Defaults.BackboneLearningRateFactor)
                .Concat(ParameterGroup.DecayMatricesOnly(resnet.Head.parameters(), 1.0)).ToArray();
        }

        public override double TrainingFlopsPerExample(Module model)
            => FlopCounter.TrainingToForward * FlopCounter.ResNetForward((ResNet)model, Size, Size);

        public override IEnumerable<LayerCase> LayerCases(Module model) => ResNetLayerCases.Convolutions((ResNet)model, Size, Size, BatchSize);

        public override EstimatorRun TrainWithEstimator(bool amp, BenchSettings settings, string modelPath)
        {
            var files = FashionMnistImages.Prepare("train", _folder, settings.PretrainedTrainingImages);
            var mlContext = new MLContext(seed: settings.Seed);
            var train = mlContext.Data.LoadFromEnumerable(files);
            var clock = new SteadyStateClock(EstimatorWarmupBatches(settings));
            var options = new ImageClassificationTrainer.Options
            {
                LabelColumnName = "Label",
                FeatureColumnName = "ImageSource",
                Architecture = ResNetArchitecture.PretrainedResNet18, // what Auto picks for this little data, pinned
                HeadOnlyEpochs = 0, // one epoch of all layers: the phase the bare loop mirrors (the head-only epochs run on features computed once)
                Epochs = 1,
                BatchSize = BatchSize,
                // ImageWidth / ImageHeight left at 0: the trainer's default size for the pretrained network (Size).
                ValidationSetFraction = 0, // time training only
                Seed = settings.Seed,
                MetricsEveryBatches = clock.ReportEvery,
                MetricsCallback = clock.OnMetrics,
            };
            return FitAndSaveImagePipeline(mlContext, options, amp, train, files.Count, clock, modelPath);
        }

        public override ScoringRun Score(string modelPath, BenchSettings settings)
        {
            var files = FashionMnistImages.Prepare("t10k", _folder, settings.PretrainedScoringRows);
            return ScoringTimer.Measure(modelPath, files, settings);
        }

        /// <summary>
        /// Gray images [count, rows, columns] resized bilinearly (pixel centers aligned, edges clamped) to
        /// [count, 3, height, width] with R = G = B: what the trainer's resize and RGB pixel extraction make of a gray PNG.
        /// </summary>
        internal static byte[] UpscaleGrayToRgb(byte[] gray, int count, int rows, int columns, int height, int width)
        {
            var rgb = new byte[(long)count * Channels * height * width];
            double scaleY = (double)rows / height, scaleX = (double)columns / width;
            var x0 = new int[width];
            var x1 = new int[width];
            var fx = new float[width];
            for (int x = 0; x < width; x++)
            {
                double sx = Math.Clamp((x + 0.5) * scaleX - 0.5, 0, columns - 1);
                x0[x] = (int)sx;
                x1[x] = Math.Min(x0[x] + 1, columns - 1);
                fx[x] = (float)(sx - x0[x]);
            }
            int plane = height * width;
            for (int i = 0; i < count; i++)
            {
                int source = i * rows * columns;
                long target = (long)i * Channels * plane;
                for (int y = 0; y < height; y++)
                {
                    double sy = Math.Clamp((y + 0.5) * scaleY - 0.5, 0, rows - 1);
                    int y0 = (int)sy, y1 = Math.Min(y0 + 1, rows - 1);
                    float fy = (float)(sy - y0);
                    int row0 = source + y0 * columns, row1 = source + y1 * columns;
                    for (int x = 0; x < width; x++)
                    {
                        float top = gray[row0 + x0[x]] + fx[x] * (gray[row0 + x1[x]] - gray[row0 + x0[x]]);
                        float bottom = gray[row1 + x0[x]] + fx[x] * (gray[row1 + x1[x]] - gray[row1 + x0[x]]);
                        byte v = (byte)Math.Clamp(MathF.Round(top + fy * (bottom - top)), 0f, 255f);
                        long p = target + y * width + x;
                        rgb[p] = v;
                        rgb[p + plane] = v;
                        rgb[p + 2 * plane] = v;
                    }
                }
            }
            return rgb;
        }
    }
}
