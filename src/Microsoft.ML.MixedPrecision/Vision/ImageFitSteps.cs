using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Native;
using Microsoft.ML.MixedPrecision.Training;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>
    /// What every image fit shares: images decoded and resized by the same stock chain the fitted model scores with, held
    /// as 8-bit pixels; the ResNet exported to ONNX; the scoring chain around it. Subclasses build and train the network.
    /// </summary>
    internal abstract class ImageFitSteps : FitSteps<ImageTrainingData, ImageClassificationTransformer>
    {
        protected ImageFitSteps(ImageClassificationTrainer.Options options, MLContext builder, ImageInputOptions image, ImageAugmentation augmentation,
            ResNetArchitecture architecture, TrainingLog log)
        {
            Options = options;
            Builder = builder;
            Image = image;
            Augmentation = augmentation;
            Architecture = architecture;
            Log = log;
        }

        protected ImageClassificationTrainer.Options Options { get; }
        protected MLContext Builder { get; }
        protected ImageInputOptions Image { get; }
        protected ImageAugmentation Augmentation { get; }
        protected ResNetArchitecture Architecture { get; }
        protected TrainingLog Log { get; }

        /// <summary>Classes of the network <see cref="FitSteps{TExamples, TTransformer}.CreateModel"/> built.</summary>
        protected int ClassCount { get; set; }

        public override string ModelDescription => $"a {Architecture} with {Image.Channels} channels and {ClassCount} classes";

        /// <summary>Undecodable rows listed in the message (all are counted).</summary>
        private const int ListedBadRows = 5;

        /// <summary>
        /// Decodes every labelled row through the scoring chain's own transforms. Rows without a label (key 0) are skipped
        /// and counted. Encoded bytes are checked first, row by row, without decoding pixels: when some are empty,
        /// truncated, not an image or too large, the read fails once, naming how many and the first few rows with their
        /// reason (one pass finds them all).
        /// </summary>
        public override ImageTrainingData Read(IDataView data, string what)
        {
            var o = Options;
            if (Image.Kind == ImageInputKind.EncodedBytes)
                CheckEncodedBytes(data, what);
            var transformed = ImageInputChain.FitPreprocessing(Builder, Image, data).Transform(data);
            var pixelsColumn = transformed.Schema[ImageInputChain.PixelsColumnName];
            var labelColumn = transformed.Schema[o.LabelColumnName];
            int imageSize = Image.Channels * Image.Height * Image.Width;
            var rows = new List<byte[]>();
            var labels = new List<long>();
            long missingLabels, current = 0;
            try
            {
                VBuffer<float> buffer = default;
                (_, missingLabels) = ForEachLabelledRow<VBuffer<float>>(transformed, pixelsColumn, labelColumn, (position, key, pixels) =>
                {
                    current = position;
                    pixels(ref buffer);
                    var row = new byte[imageSize];
                    int i = 0;
                    foreach (float v in buffer.DenseValues())
                        row[i++] = (byte)Math.Clamp(MathF.Round(v * 255f), 0f, 255f);
                    rows.Add(row);
                    labels.Add(key - 1);
                });
            }
            catch (Exception e) when (!(e is OperationCanceledException || e is OutOfMemoryException))
            {
                // Damage the header check cannot see. ML.NET may decode a few rows ahead on other threads, so the row is approximate.
                var inner = e.Innermost();
                string reason = inner.Data[ImageDecoding.ImageBytesDecoder.ReasonDataKey] as string ?? inner.Message;
                throw new InvalidDataException($"Feature column '{o.FeatureColumnName}' of the {what}: an image at or near row {current} (0-based) " +
                    $"could not be decoded: {reason}. Fix or remove that row and fit again.", e);
            }
            if (missingLabels > 0)
                Log.SkippedRows(what, $"label '{o.LabelColumnName}' missing (key 0)", missingLabels);
            if (labels.Count == 0)
                throw new ArgumentException($"The {what} is empty: no row with a label in '{o.LabelColumnName}' and an image in '{o.FeatureColumnName}'" +
                    (missingLabels > 0 ? $" (all {missingLabels} rows have a missing label: key 0, e.g. a value the MapValueToKey transformer did not see)." : "."));
            var all = new byte[(long)labels.Count * imageSize];
            for (int r = 0; r < rows.Count; r++)
                Buffer.BlockCopy(rows[r], 0, all, r * imageSize, imageSize);
            Log.Info($"Loaded {labels.Count} images from the {what}.");
            return new ImageTrainingData(all, labels.ToArray(), Image.Channels, Image.Height, Image.Width, Augmentation);
        }

        /// <summary>Throws, naming every bad row's count and the first few, when labelled rows hold bytes that cannot be an intact image.</summary>
        private void CheckEncodedBytes(IDataView data, string what)
        {
            var o = Options;
            var bytesColumn = data.Schema[o.FeatureColumnName];
            var labelColumn = data.Schema[o.LabelColumnName];
            long badRows = 0;
            var listed = new List<string>();
            VBuffer<byte> encoded = default;
            var (rowsRead, _) = ForEachLabelledRow<VBuffer<byte>>(data, bytesColumn, labelColumn, (position, _, getBytes) =>
            {
                getBytes(ref encoded);
                var bytes = encoded.DenseValues().ToArray();
                string? problem = ImageDecoding.ImageBytesDecoder.Problem(bytes) ?? EncodedImageCheck.Truncation(bytes);
                if (problem != null && badRows++ < ListedBadRows)
                    listed.Add($"row {position}: {problem}");
            });
            if (badRows > 0)
                throw new InvalidDataException(
                    $"Feature column '{o.FeatureColumnName}' of the {what}: {badRows} of {rowsRead} rows hold no decodable image " +
                    $"({string.Join("; ", listed)}{(badRows > listed.Count ? $"; and {badRows - listed.Count} more" : "")}; rows are 0-based). " +
                    "Fix or remove these rows (e.g. delete the files, or mlContext.Data.FilterByCustomPredicate) and fit again.");
        }

        /// <summary>
        /// Walks <paramref name="data"/> once, checking for cancellation at every row, and hands each labelled row (key ≥ 1)
        /// to <paramref name="labelled"/> with its 0-based position, key and feature getter. Returns the rows read and the
        /// rows skipped for a missing label (key 0).
        /// </summary>
        private (long Rows, long MissingLabels) ForEachLabelledRow<TFeature>(IDataView data, DataViewSchema.Column feature,
            DataViewSchema.Column label, Action<long, uint, ValueGetter<TFeature>> labelled)
        {
            long rows = 0, missing = 0;
            using var cursor = data.GetRowCursor(new[] { feature, label });
            var featureGetter = cursor.GetGetter<TFeature>(feature);
            var labelGetter = cursor.GetGetter<uint>(label);
            uint key = 0;
            while (cursor.MoveNext())
            {
                Log.ThrowIfCanceled(Options.CancellationToken);
                rows++;
                labelGetter(ref key);
                if (key == 0)
                {
                    missing++;
                    continue;
                }
                labelled(cursor.Position, key, featureGetter);
            }
            return (rows, missing);
        }

        public override OnnxGraphBuilder ExportLogits(Module model, out string logitsName)
            => ImageClassifierOnnx.Build((ResNet)model, Image.Channels, Image.Height, Image.Width, "pixels", out logitsName);

        public override ImageClassificationTransformer CreateTransformer(byte[] onnxModel, IDataView input, VBuffer<ReadOnlyMemory<char>> classNames,
            int classCount, TrainingSummary summary)
        {
            var chain = ImageInputChain.BuildClassifier(Builder, Image, onnxModel, classNames, classCount,
                Options.ScoreColumnName, Options.PredictedLabelColumnName, input);
            return new ImageClassificationTransformer(chain, classNames.DenseValues().Select(n => n.ToString()).ToArray(), summary,
                Architecture, Image.Channels, Image.Height, Image.Width);
        }
    }

    /// <summary>A ResNet trained from random weights.</summary>
    internal sealed class ScratchImageFitSteps : ImageFitSteps
    {
        public ScratchImageFitSteps(ImageClassificationTrainer.Options options, MLContext builder, ImageInputOptions image, ImageAugmentation augmentation,
            ResNetArchitecture architecture, TrainingLog log)
            : base(options, builder, image, augmentation, architecture, log)
        {
        }

        public override Module CreateModel(ImageTrainingData train, int classCount)
        {
            ClassCount = classCount;
            return new ResNet(Image.Channels, classCount, Architecture);
        }

        public override TrainingSummary Train(FitContext fit, Module model, ImageTrainingData train, ImageTrainingData? validation)
        {
            var resnet = (ResNet)model;
            // NHWC convolutions are faster on the CPU in both precisions (see ResNet.SetChannelsLast); after the initial
            // weights are read, before the optimizer is made. Back to NCHW for the export.
            resnet.SetChannelsLast(true);
            try
            {
                return fit.Train(model, train, validation, new TrainingPhase
                {
                    Epochs = fit.Epochs,
                    ActivationProbe = () => resnet.LastActivationDType?.ToString(),
                });
            }
            finally
            {
                resnet.SetChannelsLast(false);
            }
        }
    }
}
