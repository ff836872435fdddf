using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.ImageDecoding;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.ML.MixedPrecision.Vision.Pretrained;
using Microsoft.ML.Transforms.Image;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>
    /// Trains a ResNet image classifier on TorchSharp, in float32 or (with <c>.WithMixedPrecision()</c>) in bf16/fp16
    /// autocast, and returns an ordinary FP32 ML.NET model (stock transformers around ApplyOnnxModel).
    /// Create it with <c>mlContext.MulticlassClassification.Trainers.ImageClassification(...)</c>.
    /// </summary>
    public sealed partial class ImageClassificationTrainer : ClassificationTrainerBase<ImageClassificationTrainer.Options, ImageClassificationTransformer>
    {
        private const int MaxAutoImageSize = 224;
        private const int SmallArchitectureMaxSize = 64;
        // Measured on small image sets (docs/decisions/2026-12-01-image-defaults.md): 128 px keeps the pretrained accuracy at a third of 224's cost.
        internal const int PretrainedImageSize = 128;
        private const double DefaultPretrainedMinCropArea = 0.25;
        private const int PretrainedMaxRowsForSmallImages = 10_000;
        internal ImageClassificationTrainer(TrainerEnvironment env, Options options, MixedPrecisionOptions? mixedPrecision = null)
            : base(env, options, mixedPrecision)
        {
        }

        /// <summary>The same trainer, training in the precision <paramref name="mixedPrecision"/> asks for.</summary>
        internal ImageClassificationTrainer WithPrecision(MixedPrecisionOptions mixedPrecision) => new(Environment, TrainerOptions, mixedPrecision);

        private protected override void CheckFeatureColumns(SchemaShape inputSchema)
        {
            var o = TrainerOptions;
            var feature = inputSchema.FirstOrDefault(c => c.Name == o.FeatureColumnName);
            if (feature.Name == null)
                throw new ArgumentOutOfRangeException(nameof(o.FeatureColumnName), $"Feature column '{o.FeatureColumnName}' not found in the input schema.");
            bool isBytes = feature.Kind == SchemaShape.Column.VectorKind.VariableVector && feature.ItemType == NumberDataViewType.Byte;
            if (!isBytes && !(feature.ItemType is ImageDataViewType))
                throw new ArgumentOutOfRangeException(nameof(o.FeatureColumnName),
                    $"Feature column '{o.FeatureColumnName}' must hold encoded image bytes (variable-length Vector<Byte>) or images (from LoadImages), but it holds {feature.ItemType}.");
        }

        private protected override string ComponentName => "ImageClassification";

        private protected override void CheckFeatureColumns(DataViewSchema schema, string where) => CheckFeatureColumn(schema, TrainerOptions.FeatureColumnName, where);

        private protected override ImageClassificationTransformer FitCore(IDataView input, MixedPrecisionOptions? mixedPrecision)
            => Fit(input, mixedPrecision, log => CreateSteps(input, log));

        /// <summary>Chooses the network (pretrained or from scratch) and the image geometry from the first training images.</summary>
        private ImageFitSteps CreateSteps(IDataView input, TrainingLog log)
        {
            var o = TrainerOptions;
            var kind = CheckFeatureColumn(input.Schema, o.FeatureColumnName);
            var first = InspectImages(input, kind);
            var architecture = ChooseArchitecture(input, first, log, out string? pretrainedPath);
            bool pretrained = architecture == ResNetArchitecture.PretrainedResNet18;
            int width = o.ImageWidth > 0 ? o.ImageWidth : pretrained ? PretrainedImageSize : Math.Min(first.Width, MaxAutoImageSize);
            int height = o.ImageHeight > 0 ? o.ImageHeight : pretrained ? PretrainedImageSize : Math.Min(first.Height, MaxAutoImageSize);
            if (pretrained && o.Grayscale == true)
                log.Warning("Option Grayscale = true is ignored: the pretrained network reads color (gray images arrive as R = G = B).");
            int channels = pretrained ? 3 : (o.Grayscale ?? first.AllGray) ? 1 : 3;
            var image = new ImageInputOptions { Kind = kind, ColumnName = o.FeatureColumnName, Width = width, Height = height, Channels = channels };
            int shift = o.AugmentationShiftPixels >= 0 ? o.AugmentationShiftPixels : (int)Math.Round(0.08 * Math.Min(width, height));
            // The frozen backbone's features are computed once, of each image and its mirror: the flip is all it can use.
            var augmentation = pretrained && o.Backbone == BackboneTraining.Frozen
                ? new ImageAugmentation(0, o.AugmentationHorizontalFlip)
                : new ImageAugmentation(shift, o.AugmentationHorizontalFlip, o.AugmentationMinCropArea ?? DefaultMinCropArea(pretrained, first));
            log.Info($"Decoding images to {channels}x{height}x{width} for {architecture}; training augmentation: {augmentation.Description}.");
            return pretrained
                ? new PretrainedImageFitSteps(o, Builder, image, augmentation, pretrainedPath!, log)
                : new ScratchImageFitSteps(o, Builder, image, augmentation, architecture, log);
        }

        /// <summary>
        /// The random-resized crop by default only where it was measured to help: fine-tuning the pretrained network on
        /// images that are not small (a quarter of a 28 px image is 14 px of detail stretched over the network's 128).
        /// </summary>
        private static double DefaultMinCropArea(bool pretrained, (int Width, int Height, bool AllGray) first)
            => pretrained && Math.Max(first.Width, first.Height) > SmallArchitectureMaxSize ? DefaultPretrainedMinCropArea : 1.0;

        /// <summary>
        /// Auto: the pretrained network when its file is there and the data is small or the images large (where it wins);
        /// from scratch for many small images (full Fashion-MNIST: ResNetSmall trains as well at a fraction of the cost).
        /// </summary>
        private ResNetArchitecture ChooseArchitecture(IDataView input, (int Width, int Height, bool AllGray) first, TrainingLog log, out string? pretrainedPath)
        {
            var o = TrainerOptions;
            pretrainedPath = null;
            bool smallImages = Math.Max(first.Width, first.Height) <= SmallArchitectureMaxSize;
            var scratch = smallImages ? ResNetArchitecture.ResNetSmall : ResNetArchitecture.ResNet18;
            if (o.Architecture != ResNetArchitecture.Auto && o.Architecture != ResNetArchitecture.PretrainedResNet18)
            {
                if (o.PretrainedModelPath != null)
                    log.Warning($"PretrainedModelPath is ignored: Architecture = {o.Architecture} trains from scratch (Auto or PretrainedResNet18 fine-tunes that file).");
                return o.Architecture;
            }
            if (o.PretrainedModelPath != null)
            {
                pretrainedPath = Path.GetFullPath(o.PretrainedModelPath);
                log.Info($"Architecture {o.Architecture}: the pretrained network of PretrainedModelPath '{pretrainedPath}' (fine-tuned whatever the data; " +
                         $"{o.Backbone} backbone).");
                return ResNetArchitecture.PretrainedResNet18;
            }
            pretrainedPath = PretrainedResNet18File.Find();
            if (o.Architecture == ResNetArchitecture.PretrainedResNet18)
            {
                if (pretrainedPath == null)
                    throw new FileNotFoundException($"Architecture PretrainedResNet18: the pretrained weights were not found (looked for " +
                        $"{string.Join(", ", PretrainedResNet18File.Candidates())}). {PretrainedResNet18File.Fix}");
                return o.Architecture;
            }
            if (pretrainedPath == null)
            {
                log.Info($"Architecture Auto: {scratch} from scratch, because the pretrained ResNet18 weights were not found " +
                         $"({string.Join(", ", PretrainedResNet18File.Candidates())}). {PretrainedResNet18File.Fix}");
                return scratch;
            }
            long rows = CountRows(input);
            if (smallImages && rows >= PretrainedMaxRowsForSmallImages)
            {
                log.Info($"Architecture Auto: {scratch} from scratch: {rows} training rows of {first.Width}x{first.Height} images " +
                         $"(with {PretrainedMaxRowsForSmallImages} rows or more of images up to {SmallArchitectureMaxSize} px, a network from scratch is as accurate " +
                         "and much faster; set Architecture = PretrainedResNet18 to fine-tune the ImageNet network anyway).");
                return scratch;
            }
            pretrainedPath = Path.GetFullPath(pretrainedPath);
            log.Info($"Architecture Auto: PretrainedResNet18, ImageNet weights from '{pretrainedPath}' ({rows} training rows of " +
                     $"{first.Width}x{first.Height} images; {o.Backbone} backbone).");
            return ResNetArchitecture.PretrainedResNet18;
        }

        private static long CountRows(IDataView data)
        {
            long? known = data.GetRowCount();
            if (known.HasValue)
                return known.Value;
            long rows = 0;
            using var cursor = data.GetRowCursor(Array.Empty<DataViewSchema.Column>());
            while (cursor.MoveNext())
                rows++;
            return rows;
        }

        private static ImageInputKind CheckFeatureColumn(DataViewSchema schema, string name, string where = "training data")
        {
            var column = schema.GetColumnOrNull(name) ?? throw new ArgumentOutOfRangeException(nameof(Options.FeatureColumnName),
                $"Feature column '{name}' not found in the {where}. Its columns: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => c.Name))}. " +
                $"Set {nameof(Options.FeatureColumnName)} to the image column.");
            var type = column.Type;
            if (type is VectorDataViewType vector && vector.ItemType == NumberDataViewType.Byte && !vector.IsKnownSize)
                return ImageInputKind.EncodedBytes;
            if (type is ImageDataViewType)
                return ImageInputKind.Image;
            throw new ArgumentOutOfRangeException(nameof(Options.FeatureColumnName),
                $"Feature column '{name}' must hold encoded image bytes (variable-length Vector<Byte>, e.g. from LoadRawImageBytes) " +
                $"or images (from LoadImages), but its type is {type}.");
        }


        /// <summary>The first few images: the first one's size, and whether every pixel of them is gray (R = G = B).</summary>
        private (int Width, int Height, bool AllGray) InspectImages(IDataView input, ImageInputKind kind)
        {
            var o = TrainerOptions;
            int seen = 0;
            bool allGray = true;
            int firstWidth = 0, firstHeight = 0;
            long undecodable = 0;
            string? firstProblem = null;
            var column = input.Schema[o.FeatureColumnName];
            using (var cursor = input.GetRowCursor(new[] { column }))
            {
                if (kind == ImageInputKind.EncodedBytes)
                {
                    var getter = cursor.GetGetter<VBuffer<byte>>(column);
                    VBuffer<byte> bytes = default;
                    while (seen < 8 && cursor.MoveNext())
                    {
                        getter(ref bytes);
                        var row = new EncodedImageRow { Bytes = bytes.DenseValues().ToArray() };
                        var decoded = new DecodedImageRow();
                        try
                        {
                            ImageBytesDecoder.Decode(row, decoded);
                        }
                        catch (Exception e) when (e is InvalidDataException || e is InvalidOperationException || e is ArgumentException)
                        {
                            // The read reports every undecodable row at once; here only the decodable ones count.
                            undecodable++;
                            firstProblem ??= $"row {cursor.Position}: {e.Data[ImageBytesDecoder.ReasonDataKey] as string ?? e.Message}";
                            continue;
                        }
                        using (decoded.Image)
                            Inspect(decoded.Image!, ref firstWidth, ref firstHeight, ref allGray);
                        seen++;
                    }
                }
                else
                {
                    var getter = cursor.GetGetter<MLImage>(column);
                    MLImage image = null!;
                    while (seen < 8 && cursor.MoveNext())
                    {
                        getter(ref image);
                        if (image == null)
                            throw new InvalidDataException($"Feature column '{o.FeatureColumnName}', row {cursor.Position}: the image is missing.");
                        Inspect(image, ref firstWidth, ref firstHeight, ref allGray);
                        seen++;
                    }
                }
            }
            if (seen == 0 && undecodable > 0)
                throw new InvalidDataException($"Feature column '{o.FeatureColumnName}' of the training data: none of its {undecodable} rows holds a " +
                    $"decodable image (e.g. {firstProblem}). Check that the column holds the files' bytes (LoadRawImageBytes).");
            if (seen == 0)
                throw new ArgumentException($"The training data is empty: column '{o.FeatureColumnName}' has no rows.");
            return (firstWidth, firstHeight, allGray);
        }

        private static void Inspect(MLImage image, ref int width, ref int height, ref bool allGray)
        {
            if (width == 0)
            {
                width = image.Width;
                height = image.Height;
            }
            if (!allGray)
                return;
            var pixels = image.Pixels; // 4 bytes per pixel, the alpha byte aside R, G, B are adjacent
            int bytesPerPixel = image.BitsPerPixel / 8;
            if (bytesPerPixel < 3)
                return;
            for (int i = 0; i + 2 < pixels.Length; i += bytesPerPixel)
            {
                byte a = pixels[i], b = pixels[i + 1], c = pixels[i + 2];
                bool gray = image.PixelFormat == MLPixelFormat.Bgra32 || image.PixelFormat == MLPixelFormat.Rgba32
                    ? a == b && b == c
                    : (pixels[i + 1] == pixels[i + 2] && (i + 3 >= pixels.Length || pixels[i + 2] == pixels[i + 3]));
                if (!gray)
                {
                    allGray = false;
                    return;
                }
            }
        }
    }
}
