using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Onnx;
using Microsoft.ML.MixedPrecision.Scoring;
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
        protected ImageFitSteps(ImageClassificationTrainer.Options options, MLContext builder, ImageInputOptions image, int shift,
            ResNetArchitecture architecture, TrainingLog log)
        {
            Options = options;
            Builder = builder;
            Image = image;
            Shift = shift;
            Architecture = architecture;
            Log = log;
        }

        protected ImageClassificationTrainer.Options Options { get; }
        protected MLContext Builder { get; }
        protected ImageInputOptions Image { get; }
        protected int Shift { get; }
        protected ResNetArchitecture Architecture { get; }
        protected TrainingLog Log { get; }

        /// <summary>Classes of the network <see cref="FitSteps{TExamples, TTransformer}.CreateModel"/> built.</summary>
        protected int ClassCount { get; set; }

        public override string ModelDescription => $"a {Architecture} with {Image.Channels} channels and {ClassCount} classes";

        public override ImageTrainingData Read(IDataView data, string what)
        {
            var o = Options;
            var transformed = ImageInputChain.FitPreprocessing(Builder, Image, data).Transform(data);
            var pixelsColumn = transformed.Schema[ImageInputChain.PixelsColumnName];
            var labelColumn = transformed.Schema[o.LabelColumnName];
            int imageSize = Image.Channels * Image.Height * Image.Width;
            var rows = new List<byte[]>();
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
                        throw new InvalidDataException($"Feature column '{o.FeatureColumnName}' of the {what}, row {cursor.Position}: {e.Innermost().Message}", e);
                    }
                    var row = new byte[imageSize];
                    int i = 0;
                    foreach (float v in buffer.DenseValues())
                        row[i++] = (byte)Math.Clamp(MathF.Round(v * 255f), 0f, 255f);
                    rows.Add(row);
                    labels.Add(key - 1);
                }
            }
            if (missingLabels > 0)
                Log.Warning($"Skipped {missingLabels} rows of the {what} whose label '{o.LabelColumnName}' is missing (key 0).");
            if (labels.Count == 0)
                throw new ArgumentException($"The {what} is empty: no row with a label in '{o.LabelColumnName}' and an image in '{o.FeatureColumnName}'.");
            var all = new byte[(long)labels.Count * imageSize];
            for (int r = 0; r < rows.Count; r++)
                Buffer.BlockCopy(rows[r], 0, all, r * imageSize, imageSize);
            Log.Info($"Loaded {labels.Count} images from the {what}.");
            return new ImageTrainingData(all, labels.ToArray(), Image.Channels, Image.Height, Image.Width, Shift, o.AugmentationHorizontalFlip);
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
        public ScratchImageFitSteps(ImageClassificationTrainer.Options options, MLContext builder, ImageInputOptions image, int shift,
            ResNetArchitecture architecture, TrainingLog log)
            : base(options, builder, image, shift, architecture, log)
        {
        }

        public override Module CreateModel(ImageTrainingData train, int classCount)
        {
            ClassCount = classCount;
            return new ResNet(Image.Channels, classCount, Architecture);
        }

        public override TrainingSummary Train(FitContext fit, Module model, ImageTrainingData train, ImageTrainingData validation)
        {
            var resnet = (ResNet)model;
            // NHWC convolutions are faster on the CPU in both precisions (see ResNet.SetChannelsLast); after the initial
            // weights are read, before the optimizer is made. Back to NCHW for the export.
            resnet.SetChannelsLast(true);
            try
            {
                return fit.Train(model, train, validation, new TrainingPhase
                {
                    Epochs = Options.Epochs ?? ClassificationTrainerOptionsBase.DefaultEpochs,
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
