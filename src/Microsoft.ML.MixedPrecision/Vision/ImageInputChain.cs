using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.ImageDecoding;
using Microsoft.ML.Transforms.Image;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>What the image classifier's feature column holds.</summary>
    internal enum ImageInputKind
    {
        /// <summary>Encoded image bytes: variable-length Vector&lt;Byte&gt; (LoadRawImageBytes, or byte[] in LoadFromEnumerable). The Model Builder path.</summary>
        EncodedBytes,

        /// <summary>An image column (ImageDataViewType) from stock <c>LoadImages</c>.</summary>
        Image,
    }

    /// <summary>How the feature column becomes the network input float [1, Channels, Height, Width] (planar, values in [0, 1]).</summary>
    internal sealed class ImageInputOptions
    {
        public ImageInputKind Kind { get; set; } = ImageInputKind.EncodedBytes;

        /// <summary>The user's feature column.</summary>
        public string ColumnName { get; set; } = "";

        public int Width { get; set; }
        public int Height { get; set; }

        /// <summary>3 = R, G, B planes; 1 = one grayscale plane (stock ConvertToGrayscale, then its red plane).</summary>
        public int Channels { get; set; } = 3;

        public ImageResizingEstimator.ResizingKind Resizing { get; set; } = ImageResizingEstimator.ResizingKind.IsoCrop;
        public ImageResizingEstimator.Anchor CropAnchor { get; set; } = ImageResizingEstimator.Anchor.Center;

        /// <summary>The ONNX input shape the exported network must declare: [1, Channels, Height, Width].</summary>
        public long[] OnnxInputShape => new long[] { 1, Channels, Height, Width };

        internal void Validate()
        {
            if (string.IsNullOrEmpty(ColumnName))
                throw new ArgumentException("ImageInputOptions.ColumnName (the feature column) is required.");
            if (Width <= 0 || Height <= 0)
                throw new ArgumentException($"ImageInputOptions.Width and Height must be positive (got {Width}x{Height}).");
            if (Channels != 1 && Channels != 3)
                throw new ArgumentException($"ImageInputOptions.Channels must be 1 or 3 (got {Channels}).");
        }
    }

    /// <summary>
    /// The image pre-processing, identical for training and scoring:
    /// [bytes only: CopyColumns → <see cref="ImageBytesDecoder"/> (the one non-stock step)] → ResizeImages →
    /// [1 channel: ConvertToGrayscale] → ExtractPixels(planar, scale 1/255) → DropColumns(intermediate images), giving
    /// <see cref="PixelsColumnName"/>: Vector&lt;Single, C, H, W&gt;.
    /// </summary>
    internal static class ImageInputChain
    {
        /// <summary>The network input column: float pixels, planar CHW, in [0, 1].</summary>
        public const string PixelsColumnName = "MixedPrecision.Pixels";

        public const string ResizedImageColumnName = "MixedPrecision.ResizedImage";
        public const string GrayscaleImageColumnName = "MixedPrecision.GrayscaleImage";

        /// <summary>The unfitted pre-processing estimators (all trivially trainable).</summary>
        public static IReadOnlyList<IEstimator<ITransformer>> CreatePreprocessingEstimators(MLContext mlContext, ImageInputOptions options)
        {
            if (mlContext == null)
                throw new ArgumentNullException(nameof(mlContext));
            if (options == null)
                throw new ArgumentNullException(nameof(options));
            options.Validate();

            var steps = new List<IEstimator<ITransformer>>();
            var temporaries = new List<string>();
            string image = options.ColumnName;
            if (options.Kind == ImageInputKind.EncodedBytes)
            {
                // CustomMapping saves no column names: the decoder reads a fixed column.
                steps.Add(mlContext.Transforms.CopyColumns(ImageBytesDecoder.InputColumnName, options.ColumnName));
                steps.Add(ImageBytesDecoder.CreateEstimator(mlContext));
                temporaries.Add(ImageBytesDecoder.InputColumnName);
                temporaries.Add(ImageBytesDecoder.OutputColumnName);
                image = ImageBytesDecoder.OutputColumnName;
            }

            steps.Add(mlContext.Transforms.ResizeImages(ResizedImageColumnName, options.Width, options.Height, image,
                options.Resizing, options.CropAnchor));
            temporaries.Add(ResizedImageColumnName);
            image = ResizedImageColumnName;

            ImagePixelExtractingEstimator.ColorBits colors = ImagePixelExtractingEstimator.ColorBits.Rgb;
            if (options.Channels == 1)
            {
                steps.Add(mlContext.Transforms.ConvertToGrayscale(GrayscaleImageColumnName, image));
                temporaries.Add(GrayscaleImageColumnName);
                image = GrayscaleImageColumnName;
                colors = ImagePixelExtractingEstimator.ColorBits.Red;
            }

            steps.Add(mlContext.Transforms.ExtractPixels(PixelsColumnName, image, colors,
                ImagePixelExtractingEstimator.ColorsOrder.ARGB, interleavePixelColors: false, offsetImage: 0f, scaleImage: 1f / 255f,
                outputAsFloatArray: true));
            steps.Add(mlContext.Transforms.DropColumns(temporaries.ToArray()));
            return steps;
        }

        /// <summary>
        /// For TRAINING: the fitted pre-processing. Its Transform adds <see cref="PixelsColumnName"/> (exactly the pixels the
        /// fitted model feeds its network) and keeps every other column. <paramref name="schemaSource"/>: the training data
        /// (rows are not read); null = an empty view with the feature column only.
        /// </summary>
        public static TransformerChain<ITransformer> FitPreprocessing(MLContext mlContext, ImageInputOptions options, IDataView? schemaSource = null)
        {
            IDataView view = schemaSource ?? CreateEmptyInput(mlContext, options);
            var transformers = new List<ITransformer>();
            foreach (var estimator in CreatePreprocessingEstimators(mlContext, options))
            {
                ITransformer t = estimator.Fit(view);
                transformers.Add(t);
                view = t.Transform(view);
            }
            return new TransformerChain<ITransformer>(transformers.ToArray());
        }

        /// <summary>
        /// The fitted image classifier: pre-processing, then <see cref="ClassificationOutputChain"/> (the ONNX model with
        /// its input renamed to <see cref="PixelsColumnName"/>, Score, PredictedLabel), with the pixel column dropped.
        /// </summary>
        public static TransformerChain<ITransformer> BuildClassifier(MLContext mlContext, ImageInputOptions options, byte[] onnxModel,
            VBuffer<ReadOnlyMemory<char>> classNames, int keyCount,
            string scoreColumnName = ClassificationOutputChain.DefaultScoreColumnName,
            string predictedLabelColumnName = ClassificationOutputChain.DefaultPredictedLabelColumnName,
            IDataView? schemaSource = null)
        {
            if (options == null)
                throw new ArgumentNullException(nameof(options));
            return ClassificationOutputChain.Build(mlContext, schemaSource ?? CreateEmptyInput(mlContext, options),
                CreatePreprocessingEstimators(mlContext, options), PixelsColumnName, onnxModel, classNames, keyCount,
                scoreColumnName, predictedLabelColumnName, new[] { PixelsColumnName });
        }

        /// <summary>An empty view whose only column is the feature column with the type <paramref name="options"/> describes.</summary>
        public static IDataView CreateEmptyInput(MLContext mlContext, ImageInputOptions options)
        {
            if (mlContext == null)
                throw new ArgumentNullException(nameof(mlContext));
            options.Validate();
            if (options.Kind == ImageInputKind.EncodedBytes)
            {
                var schema = SchemaDefinition.Create(typeof(BytesRow));
                schema[0].ColumnName = options.ColumnName;
                return mlContext.Data.LoadFromEnumerable(Array.Empty<BytesRow>(), schema);
            }
            else
            {
                var schema = SchemaDefinition.Create(typeof(ImageRow));
                schema[0].ColumnName = options.ColumnName;
                return mlContext.Data.LoadFromEnumerable(Array.Empty<ImageRow>(), schema);
            }
        }

#pragma warning disable CS0649 // schema carriers only
        private sealed class BytesRow
        {
            [VectorType]
            public byte[] Bytes = Array.Empty<byte>();
        }

        private sealed class ImageRow
        {
            [AnySizeImageType]
            public MLImage? Image;
        }
#pragma warning restore CS0649
    }
}
