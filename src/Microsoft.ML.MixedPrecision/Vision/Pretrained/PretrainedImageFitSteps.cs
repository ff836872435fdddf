using System;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Training;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Vision.Pretrained
{
    /// <summary>
    /// Transfer learning from CNTK's ImageNet ResNet18: a new head for the label's classes, trained first on the frozen
    /// backbone's features (computed once, in the training precision, BatchNorm in inference mode so its statistics stay
    /// as pretrained), then, with <see cref="BackboneTraining.FineTune"/>, the whole network with the backbone at a lower
    /// learning rate and no weight decay on BatchNorm and bias parameters.
    /// </summary>
    internal sealed class PretrainedImageFitSteps : ImageFitSteps
    {
        private readonly string _weightsPath;
        private ResNet _model = null!; // set by CreateModel, which the template calls first

        public PretrainedImageFitSteps(ImageClassificationTrainer.Options options, MLContext builder, ImageInputOptions image, ImageAugmentation augmentation,
            string weightsPath, TrainingLog log)
            : base(options, builder, image, augmentation, ResNetArchitecture.PretrainedResNet18, log)
        {
            _weightsPath = weightsPath;
        }

        /// <summary>
        /// No hold-out by default: with a few hundred images a 10 % hold-out costs training rows and picks the epoch on a
        /// few dozen of them; the fixed schedule's last epoch did better on both small sets measured (docs/decisions/2026-12-02-pretrained-holdout-default.md).
        /// </summary>
        public override double DefaultValidationSetFraction => 0;

        public override Module CreateModel(ImageTrainingData train, int classCount)
        {
            ClassCount = classCount;
            _model = new ResNet(3, classCount, ResNetArchitecture.PretrainedResNet18);
            try
            {
                CntkResNet18Import.Load(_model, _weightsPath);
            }
            catch
            {
                _model.Dispose();
                throw;
            }
            Log.Info($"Pretrained backbone: ImageNet ResNet18 from '{_weightsPath}', new {_model.FeatureCount}x{classCount} head.");
            return _model;
        }

        public override TrainingSummary Train(FitContext fit, Module model, ImageTrainingData train, ImageTrainingData? validation)
        {
            var o = Options;
            bool frozen = o.Backbone == BackboneTraining.Frozen;
            int headEpochs = frozen ? fit.Epochs : o.HeadOnlyEpochs;
            _model.SetChannelsLast(true);
            _model.to(fit.Device);
            try
            {
                TrainingSummary? head = null;
                if (headEpochs > 0)
                {
                    var clock = Stopwatch.StartNew();
                    // Only a frozen fit learns from mirrors: there the head phase is the whole fit, and the flip is the one
                    // augmentation precomputed features can carry. The fine-tune's few head epochs only warm the head up
                    // (measured that way), and a mirror would double their featurization.
                    bool mirror = frozen && Augmentation.HorizontalFlip;
                    var trainFeatures = Featurize(fit, train, "training data", mirrored: mirror);
                    var validationFeatures = validation == null ? null : Featurize(fit, validation, "validation set", mirrored: false);
                    var featurized = clock.Elapsed;
                    string? activation = _model.LastActivationDType?.ToString();
                    head = fit.Train(_model.Head, trainFeatures, validationFeatures, new TrainingPhase
                    {
                        Name = "the new head on the frozen backbone's features",
                        Epochs = headEpochs,
                        Augment = mirror,
                        ActivationProbe = () => activation,
                    });
                    head = head.WithElapsed(head.Elapsed + featurized);
                }
                if (frozen)
                    return head!; // frozen: the head phase ran (its epochs are the fit's, at least 1)

                _model.FreezeBatchNormStatistics = !o.UpdateBatchNormStatistics;
                var all = fit.Train(_model, train, validation, new TrainingPhase
                {
                    Name = "all layers",
                    Epochs = fit.Epochs,
                    FirstEpoch = headEpochs + 1,
                    ParameterGroups = ParameterGroup.DecayMatricesOnly(_model.BackboneParameters(), o.BackboneLearningRateFactor)
                        .Concat(ParameterGroup.DecayMatricesOnly(_model.Head.parameters(), 1.0)).ToArray(),
                    ActivationProbe = () => _model.LastActivationDType?.ToString(),
                });
                return head == null ? all : TrainingSummary.Concat(head, all);
            }
            finally
            {
                _model.FreezeBatchNormStatistics = false;
                _model.SetChannelsLast(false);
            }
        }

        /// <summary>
        /// The backbone's pooled features of every example, unaugmented (and, with <paramref name="mirrored"/>, of its
        /// left-right mirror), in inference mode (BatchNorm uses and keeps its pretrained statistics) and in the training
        /// precision's forward context (bf16 autocast under AMP).
        /// </summary>
        private FeatureTrainingData Featurize(FitContext fit, ImageTrainingData data, string what, bool mirrored)
        {
            var clock = Stopwatch.StartNew();
            bool wasTraining = _model.training;
            _model.eval();
            int width = (int)_model.FeatureCount, batchSize = Math.Max(fit.Options.BatchSize, 64);
            var features = new float[(long)data.Count * width];
            var mirroredFeatures = mirrored ? new float[features.Length] : null;
            try
            {
                using var noGrad = no_grad();
                var indices = Enumerable.Range(0, data.Count).ToArray();
                for (int start = 0; start < data.Count; start += batchSize)
                {
                    fit.Log.ThrowIfCanceled(fit.Options.CancellationToken);
                    using var scope = NewDisposeScope();
                    int count = Math.Min(batchSize, data.Count - start);
                    var batch = data.CreateBatch(new ReadOnlySpan<int>(indices, start, count), random: null, augment: false);
                    Tensor images = data.ToTensors(batch, fit.Device);
                    CopyFeatures(fit, images, features, (long)start * width);
                    if (mirrored)
                        CopyFeatures(fit, images.flip(3), mirroredFeatures!, (long)start * width);
                }
            }
            finally
            {
                _model.train(wasTraining);
            }
            string subjects = mirrored ? "images and their mirrors" : "images";
            fit.Log.Info($"Computed the frozen backbone's {width} features of {data.Count} {subjects} of the {what} in {clock.Elapsed.TotalSeconds:F1} s.");
            return new FeatureTrainingData(features, mirroredFeatures, data.Labels, width);
        }

        private void CopyFeatures(FitContext fit, Tensor images, float[] target, long offset)
        {
            Tensor pooled;
            using (fit.Precision.ForwardContext())
                pooled = _model.Features(images);
            var values = pooled.to(ScalarType.Float32).cpu().data<float>().ToArray();
            Array.Copy(values, 0, target, offset, values.Length);
        }
    }
}
