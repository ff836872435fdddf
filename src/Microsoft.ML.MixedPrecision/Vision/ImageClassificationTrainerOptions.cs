using Microsoft.ML.MixedPrecision.Training;

namespace Microsoft.ML.MixedPrecision.Vision
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

            /// <summary>Network family. Default <see cref="ResNetArchitecture.Auto"/>: ResNetSmall up to 64 px, ResNet18 above.</summary>
            public ResNetArchitecture Architecture { get; set; } = ResNetArchitecture.Auto;

            /// <summary>Height images are resized to; 0 (default) takes the first training image's height (at most 224).</summary>
            public int ImageHeight { get; set; }

            /// <summary>Width images are resized to; 0 (default) takes the first training image's width (at most 224).</summary>
            public int ImageWidth { get; set; }

            /// <summary>Color (3 channels) or grayscale (1). Null (default): grayscale when the first training image is.</summary>
            public bool? Grayscale { get; set; }

            /// <summary>Random shift augmentation in pixels; -1 (default) is 8 % of the image size; 0 turns it off.</summary>
            public int AugmentationShiftPixels { get; set; } = -1;

            /// <summary>Random left-right mirroring augmentation. Default true (turn off for text or digits).</summary>
            public bool AugmentationHorizontalFlip { get; set; } = true;

            internal override void Validate()
            {
                base.Validate();
                Check(!string.IsNullOrWhiteSpace(FeatureColumnName), nameof(FeatureColumnName), "must name the image column");
                Check(ImageHeight >= 0 && ImageHeight <= 1024, nameof(ImageHeight), $"must be 0 (auto) or 1..1024 (was {ImageHeight})");
                Check(ImageWidth >= 0 && ImageWidth <= 1024, nameof(ImageWidth), $"must be 0 (auto) or 1..1024 (was {ImageWidth})");
                Check(AugmentationShiftPixels >= -1, nameof(AugmentationShiftPixels), "must be -1 (auto), 0 (off) or positive");
            }
        }
    }
}
