
namespace Microsoft.ML.MixedPrecision
{
    public sealed partial class ImageClassificationTrainer
    {
        /// <summary>Options of the image classification trainer. Defaults train a small ResNet well on a CPU.</summary>
        public sealed class Options : ClassificationTrainerOptionsBase
        {
            /// <summary>
            /// The image column: encoded image bytes (variable-length Vector&lt;Byte&gt;, e.g. from LoadRawImageBytes) or an
            /// image column from LoadImages. Default "Features".
            /// </summary>
            public string FeatureColumnName { get; set; } = "Features";

            /// <summary>
            /// Network. Default <see cref="ResNetArchitecture.Auto"/>: the ImageNet-pretrained ResNet18 when its weights are found
            /// and the data is small or the images large, else a ResNet trained from scratch (see <see cref="ResNetArchitecture.Auto"/>).
            /// </summary>
            public ResNetArchitecture Architecture { get; set; } = ResNetArchitecture.Auto;

            /// <summary>
            /// The pretrained network's ONNX file: a ResNet-family backbone (ResNet-18/34/50/101/152, Wide ResNet, ResNeXt; basic or
            /// bottleneck blocks, any width and depth) as torch.onnx.export writes a torchvision model, or CNTK's ImageNet ResNet18.
            /// Its classifier head, if any, is replaced by a new one for the label's classes. Setting it makes
            /// <see cref="ResNetArchitecture.Auto"/> fine-tune this network whatever the data. Null (default): CNTK's ImageNet
            /// ResNet18, the copy the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 puts in the app's output
            /// (DnnImageModels/ResNet18Onnx/ResNet18.onnx), else the NuGet cache's.
            /// </summary>
            public string? PretrainedModelPath { get; set; }

            /// <summary>
            /// How the pretrained network expects its pixels (channel order, range, mean, std). Null (default): what the ONNX file's
            /// metadata_props state (Image.BitmapPixelFormat Rgb8/Bgr8, Image.NominalPixelRange, and Image.Mean / Image.Std as
            /// comma-separated numbers), else CNTK's convention for a file CNTK wrote, else
            /// <see cref="ImageInputConvention.TorchVision"/>. The log says which was used.
            /// </summary>
            public ImageInputConvention? PretrainedInputConvention { get; set; }

            /// <summary>How a pretrained backbone trains. Default <see cref="BackboneTraining.FineTune"/>.</summary>
            public BackboneTraining Backbone { get; set; } = BackboneTraining.FineTune;

            /// <summary>With <see cref="BackboneTraining.FineTune"/>: epochs that train only the new head (on features computed once) before <see cref="ClassificationTrainerOptionsBase.Epochs"/> of the whole network. Default 2.</summary>
            public int HeadOnlyEpochs { get; set; } = 2;

            /// <summary>With <see cref="BackboneTraining.FineTune"/>: the pretrained layers' learning rate as a multiple of the head's. Default 0.1.</summary>
            public double BackboneLearningRateFactor { get; set; } = 0.1;

            /// <summary>
            /// With <see cref="BackboneTraining.FineTune"/>: whether the pretrained BatchNorm running statistics are updated from the
            /// training batches (false keeps them as pretrained, in inference mode, while the BatchNorm scales and shifts learn).
            /// Default true: measured better on the small image sets (docs/decisions/2026-12-01-image-defaults.md).
            /// </summary>
            public bool UpdateBatchNormStatistics { get; set; } = true;

            /// <summary>
            /// Height images are resized to; 0 (default): 128 for the pretrained network, else the first training image's height
            /// (at most 224).
            /// </summary>
            public int ImageHeight { get; set; }

            /// <summary>Width images are resized to; 0 (default): 128 for the pretrained network, else the first training image's width (at most 224).</summary>
            public int ImageWidth { get; set; }

            /// <summary>
            /// Color (3 channels) or grayscale (1). Null (default): grayscale when the first training images are. The pretrained
            /// network always reads color (gray images as R = G = B).
            /// </summary>
            public bool? Grayscale { get; set; }

            /// <summary>Random shift augmentation in pixels; -1 (default) is 8 % of the image size; 0 turns it off.</summary>
            public int AugmentationShiftPixels { get; set; } = -1;

            /// <summary>
            /// Random left-right mirroring augmentation. Default true (turn off for text or digits). With
            /// <see cref="BackboneTraining.Frozen"/> it is the only augmentation: the features of each image and of its
            /// mirror are computed once.
            /// </summary>
            public bool AugmentationHorizontalFlip { get; set; } = true;

            /// <summary>
            /// Random-resized-crop augmentation: each training image is a random part of at least this fraction of its area
            /// (aspect 3:4 to 4:3) stretched back to full size; 1 turns it off. Null (default): 0.25 when fine-tuning the
            /// pretrained network on images larger than 64 px (the first training images), else off (measured in docs/decisions/2026-12-02-random-resized-crop.md:
            /// it helped photos and clip-art of objects at varying scale, and hurt 28 px images upscaled to 128 px).
            /// </summary>
            public double? AugmentationMinCropArea { get; set; }

            internal override void Validate()
            {
                base.Validate();
                Check(!string.IsNullOrWhiteSpace(FeatureColumnName), nameof(FeatureColumnName), "must name the image column");
                Check(ImageHeight >= 0 && ImageHeight <= 1024, nameof(ImageHeight), $"must be 0 (auto) or 1..1024 (was {ImageHeight})");
                Check(ImageWidth >= 0 && ImageWidth <= 1024, nameof(ImageWidth), $"must be 0 (auto) or 1..1024 (was {ImageWidth})");
                Check(AugmentationShiftPixels >= -1, nameof(AugmentationShiftPixels), $"must be -1 (auto), 0 (off) or positive (was {AugmentationShiftPixels})");
                Check(AugmentationMinCropArea is null || (AugmentationMinCropArea > 0 && AugmentationMinCropArea <= 1), nameof(AugmentationMinCropArea),
                    $"must be in (0, 1]; 1 turns it off (was {AugmentationMinCropArea})");
                Check(HeadOnlyEpochs >= 0, nameof(HeadOnlyEpochs), $"must not be negative (was {HeadOnlyEpochs})");
                Check(BackboneLearningRateFactor > 0 && BackboneLearningRateFactor <= 10, nameof(BackboneLearningRateFactor),
                    $"must be in (0, 10] (was {BackboneLearningRateFactor})");
                Check(PretrainedModelPath is null || System.IO.File.Exists(PretrainedModelPath), nameof(PretrainedModelPath),
                    $"names a file that does not exist ('{PretrainedModelPath}')");
            }
        }
    }
}
