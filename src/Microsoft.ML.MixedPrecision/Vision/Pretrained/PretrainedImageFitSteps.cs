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
    /// Transfer learning from a pretrained ResNet read from ONNX (CNTK's ImageNet ResNet18 by default): a new head for the label's classes, trained first on the frozen
    /// backbone's features (computed once, in the training precision, BatchNorm in inference mode so its statistics stay
    /// as pretrained), then, with <see cref="BackboneTraining.FineTune"/>, the whole network with the backbone at a lower
    /// learning rate and no weight decay on BatchNorm and bias parameters.
    /// </summary>
    internal sealed class PretrainedImageFitSteps : ImageFitSteps
    {
        private readonly string _weightsPath;
        private ResNet _model = null!; // set by CreateModel, which the template calls first
        private ImportedResNet _import = null!;

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

        public override string ModelDescription => $"a pretrained ResNet ({_model?.Layout.Describe() ?? "not read yet"}) with {ClassCount} classes";

        public override Module CreateModel(ImageTrainingData train, int classCount)
        {
            ClassCount = classCount;
            string fix = Options.PretrainedModelPath == null ? PretrainedResNet18File.Fix : UserFileFix;
            _import = ResNetOnnxImport.Load(_weightsPath, classCount, Options.PretrainedInputConvention, fix);
            _model = _import.Model;
            Log.Info($"Pretrained backbone from '{_weightsPath}': {_import.Describe()}; new {_model.FeatureCount}x{classCount} head.");
            return _model;
        }

        /// <summary>How to fix a user's file that cannot be read.</summary>
        internal const string UserFileFix =
            "Set ImageClassificationTrainer.Options.PretrainedModelPath to a ResNet-family ONNX file (docs/bring-your-own-network.md shows the " +
            "PyTorch export), or leave it null for CNTK's ImageNet ResNet18 (NuGet package " + PretrainedResNet18File.PackageId + ").";

        public override TrainingSummary Train(FitContext fit, Module model, ImageTrainingData train, ImageTrainingData? validation)
        {
            var o = Options;
            bool frozen = o.Backbone == BackboneTraining.Frozen;
            int headEpochs = frozen ? fit.Epochs : o.HeadOnlyEpochs;
            _model.SetChannelsLast(true);
            _model.to(fit.Device);
            try
            {
                if (!frozen && o.UpdateBatchNormStatistics && _import.FoldedNorms.Count > 0)
                    CalibrateFoldedNorms(fit, train);
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

        /// <summary>Images the folded BatchNorms' statistics are measured on (evenly spaced over the training data, unaugmented).</summary>
        internal const int CalibrationImages = 512;

        /// <summary>
        /// The BatchNorms the export folded away get the statistics of the training images (inference output unchanged), so
        /// that training-mode BatchNorm starts from the pretrained function (<see cref="BatchNormCalibration"/>).
        /// </summary>
        private void CalibrateFoldedNorms(FitContext fit, ImageTrainingData data)
        {
            var clock = Stopwatch.StartNew();
            bool wasTraining = _model.training;
            _model.eval();
            int count = Math.Min(data.Count, CalibrationImages), batchSize = Math.Max(fit.Options.BatchSize, 64);
            try
            {
                using var calibration = new BatchNormCalibration(_import.FoldedNorms);
                using (var noGrad = no_grad())
                {
                    // Spread over the data (which is often sorted by class), the same images every time.
                    var indices = Enumerable.Range(0, count).Select(i => (int)((long)i * data.Count / count)).ToArray();
                    for (int start = 0; start < count; start += batchSize)
                    {
                        fit.Log.ThrowIfCanceled(fit.Options.CancellationToken);
                        using var scope = NewDisposeScope();
                        var batch = data.CreateBatch(new ReadOnlySpan<int>(indices, start, Math.Min(batchSize, count - start)), random: null, augment: false);
                        _model.Features(data.ToTensors(batch, fit.Device));
                    }
                }
                calibration.Apply();
            }
            finally
            {
                _model.train(wasTraining);
            }
            fit.Log.Info($"Measured the statistics of the {_import.FoldedNorms.Count} folded BatchNorms on {count} training images in {clock.Elapsed.TotalSeconds:F1} s.");
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
