using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Catalog;
using Microsoft.ML.MixedPrecision.ImageDecoding;
using Microsoft.ML.MixedPrecision.Onnx;
using Microsoft.ML.MixedPrecision.Precision;
using Microsoft.ML.MixedPrecision.Scoring;
using Microsoft.ML.MixedPrecision.Training;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Vision
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
        internal ImageClassificationTrainer(TrainerEnvironment env, Options options)
            : base(env, options)
        {
        }

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

        private protected override ImageClassificationTransformer FitCore(IDataView input, MixedPrecisionOptions mixedPrecision)
        {
            if (input == null)
                throw new ArgumentNullException(nameof(input));
            var o = TrainerOptions;
            using var log = new TrainingLog(Environment.Host, "ImageClassification");
            TorchRuntime.EnsureAvailable();

            var kind = CheckFeatureColumn(input.Schema, o.FeatureColumnName);
            var classNames = CheckLabelColumn(input.Schema, o.LabelColumnName, out int classCount);
            if (o.ValidationSet != null)
            {
                CheckFeatureColumn(o.ValidationSet.Schema, o.FeatureColumnName, "validation set");
                CheckValidationLabels(classCount);
            }

            var geometry = ResolveGeometry(input, kind);
            var imageInput = new ImageInputOptions
            {
                Kind = kind,
                ColumnName = o.FeatureColumnName,
                Width = geometry.Width,
                Height = geometry.Height,
                Channels = geometry.Channels,
            };
            var architecture = o.Architecture != ResNetArchitecture.Auto
                ? o.Architecture
                : (Math.Max(geometry.Width, geometry.Height) <= SmallArchitectureMaxSize ? ResNetArchitecture.ResNetSmall : ResNetArchitecture.ResNet18);
            int shift = o.AugmentationShiftPixels >= 0 ? o.AugmentationShiftPixels : (int)Math.Round(0.08 * Math.Min(geometry.Width, geometry.Height));

            log.Info($"Decoding images to {geometry.Channels}x{geometry.Height}x{geometry.Width} for {architecture}.");
            var preprocessing = ImageInputChain.FitPreprocessing(Builder, imageInput, input);
            var all = Materialize(preprocessing, input, imageInput, "training data", shift, log);
            ImageTrainingData train, validation;
            int seed = o.Seed ?? log.NewSeed();
            if (o.ValidationSet != null)
            {
                train = all;
                validation = Materialize(ImageInputChain.FitPreprocessing(Builder, imageInput, o.ValidationSet), o.ValidationSet, imageInput,
                    "validation set", shift, log);
            }
            else
            {
                var split = ExampleOrder.HoldOut(all.Count, o.ValidationSetFraction, seed);
                (train, validation) = split is { } held ? (all.Subset(held.Train), all.Subset(held.Validation)) : (all, null);
            }
            if (train.Labels.Distinct().Count() < 2)
                throw new ArgumentException($"The training data's label column '{o.LabelColumnName}' holds a single class; a classifier needs at least two.");

            torch.manual_seed(seed);
            using var model = new ResNet(geometry.Channels, classCount, architecture);
            if (o.InitialWeightsPath != null)
                LoadInitialWeights(model, o.InitialWeightsPath, $"a {architecture} with {geometry.Channels} channels and {classCount} classes");

            // NHWC convolutions are faster on the CPU in both precisions (see ResNet.SetChannelsLast); after the
            // initial weights are read, before the optimizer is made. Back to NCHW for the export.
            model.SetChannelsLast(true);
            var device = TrainingDevice.Resolve(Environment.GpuDeviceId, Environment.FallbackToCpu, log);
            using var precision = mixedPrecision == null
                ? PrecisionResolver.Float32()
                : PrecisionResolver.Resolve(mixedPrecision, device.type, log);
            var summary = new TrainingLoop(o, precision, device, log)
                .Run(model, train, validation, seed, () => model.LastActivationDType?.ToString());
            model.SetChannelsLast(false);

            model.to(torch.CPU);
            var graph = ImageClassifierOnnx.Build(model, geometry.Channels, geometry.Height, geometry.Width, "pixels", out string logits);
            ClassificationHead.Append(graph, logits, classCount);
            var chain = ImageInputChain.BuildClassifier(Builder, imageInput, graph.ToBytes(), classNames, classCount,
                o.ScoreColumnName, o.PredictedLabelColumnName, input);
            log.Info($"Trained in {summary.Elapsed.TotalSeconds:F1} s ({summary.Precision}); exported the FP32 network to ONNX.");
            return new ImageClassificationTransformer(chain, ToList(classNames), summary, architecture,
                geometry.Channels, geometry.Height, geometry.Width);
        }

        private static ImageInputKind CheckFeatureColumn(DataViewSchema schema, string name, string where = "training data")
        {
            var column = schema.GetColumnOrNull(name) ?? throw new ArgumentOutOfRangeException(nameof(Options.FeatureColumnName),
                $"Feature column '{name}' not found in the {where}. Its columns: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => c.Name))}.");
            var type = column.Type;
            if (type is VectorDataViewType vector && vector.ItemType == NumberDataViewType.Byte && !vector.IsKnownSize)
                return ImageInputKind.EncodedBytes;
            if (type is ImageDataViewType)
                return ImageInputKind.Image;
            throw new ArgumentOutOfRangeException(nameof(Options.FeatureColumnName),
                $"Feature column '{name}' must hold encoded image bytes (variable-length Vector<Byte>, e.g. from LoadRawImageBytes) " +
                $"or images (from LoadImages), but its type is {type}.");
        }


        private (int Width, int Height, int Channels) ResolveGeometry(IDataView input, ImageInputKind kind)
        {
            var o = TrainerOptions;
            int width = o.ImageWidth, height = o.ImageHeight;
            bool? grayscale = o.Grayscale;
            if (width > 0 && height > 0 && grayscale.HasValue)
                return (width, height, grayscale.Value ? 1 : 3);

            // Look at the first few images: their size, and whether every pixel is gray (R = G = B).
            int seen = 0;
            bool allGray = true;
            int firstWidth = 0, firstHeight = 0;
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
                            throw new InvalidDataException($"Feature column '{o.FeatureColumnName}', row {cursor.Position}: the bytes are not a decodable image ({e.Message}).", e);
                        }
                        using (decoded.Image)
                            Inspect(decoded.Image, ref firstWidth, ref firstHeight, ref allGray);
                        seen++;
                    }
                }
                else
                {
                    var getter = cursor.GetGetter<MLImage>(column);
                    MLImage image = null;
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
            if (seen == 0)
                throw new ArgumentException($"The training data is empty: column '{o.FeatureColumnName}' has no rows.");
            if (width == 0)
                width = Math.Min(firstWidth, MaxAutoImageSize);
            if (height == 0)
                height = Math.Min(firstHeight, MaxAutoImageSize);
            return (width, height, (grayscale ?? allGray) ? 1 : 3);
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

        private ImageTrainingData Materialize(ITransformer preprocessing, IDataView data, ImageInputOptions image, string what, int shift, TrainingLog log)
        {
            var o = TrainerOptions;
            var transformed = preprocessing.Transform(data);
            var pixelsColumn = transformed.Schema[ImageInputChain.PixelsColumnName];
            var labelColumn = transformed.Schema[o.LabelColumnName];
            int imageSize = image.Channels * image.Height * image.Width;
            var bufferList = new List<byte[]>();
            var labels = new List<long>();
            long missingLabels = 0;
            using (var cursor = transformed.GetRowCursor(new[] { pixelsColumn, labelColumn }))
            {
                var pixelGetter = cursor.GetGetter<VBuffer<float>>(pixelsColumn);
                var labelGetter = cursor.GetGetter<uint>(labelColumn);
                VBuffer<float> buffer = default;
                uint key = 0;
                while (cursor.MoveNext())
                {
                    labelGetter(ref key);
                    if (key == 0)
                    {
                        missingLabels++;
                        continue;
                    }
                    try
                    {
                        pixelGetter(ref buffer);
                    }
                    catch (Exception e) when (!(e is OperationCanceledException))
                    {
                        throw new InvalidDataException($"Feature column '{o.FeatureColumnName}' of the {what}, row {cursor.Position}: {Innermost(e).Message}", e);
                    }
                    var row = new byte[imageSize];
                    int i = 0;
                    foreach (float v in buffer.DenseValues())
                        row[i++] = (byte)Math.Clamp(MathF.Round(v * 255f), 0f, 255f);
                    bufferList.Add(row);
                    labels.Add(key - 1);
                }
            }
            if (missingLabels > 0)
                log.Warning($"Skipped {missingLabels} rows of the {what} whose label '{o.LabelColumnName}' is missing (key 0).");
            if (labels.Count == 0)
                throw new ArgumentException($"The {what} is empty: no row with a label in '{o.LabelColumnName}' and an image in '{o.FeatureColumnName}'.");
            var all = new byte[(long)labels.Count * imageSize];
            for (int r = 0; r < bufferList.Count; r++)
                Buffer.BlockCopy(bufferList[r], 0, all, r * imageSize, imageSize);
            log.Info($"Loaded {labels.Count} images from the {what}.");
            return new ImageTrainingData(all, labels.ToArray(), image.Channels, image.Height, image.Width, shift, o.AugmentationHorizontalFlip);
        }



        private static IReadOnlyList<string> ToList(VBuffer<ReadOnlyMemory<char>> names)
            => names.DenseValues().Select(n => n.ToString()).ToArray();

    }
}
