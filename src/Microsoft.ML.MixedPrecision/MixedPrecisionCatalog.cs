using System;
using Microsoft.ML.MixedPrecision;
using Microsoft.ML.MixedPrecision.Training;

namespace Microsoft.ML
{
    /// <summary>
    /// Every entry point of Microsoft.ML.MixedPrecision, as extensions of ML.NET's catalogs:
    /// <code>
    /// mlContext.MulticlassClassification.Trainers.ImageClassification(labelColumnName: "Label", featureColumnName: "ImageSource")
    ///     .WithMixedPrecision()
    /// mlContext.MulticlassClassification.Trainers.TextClassification(labelColumnName: "Label", sentence1ColumnName: "Text")
    ///     .WithMixedPrecision()
    /// </code>
    /// </summary>
    public static class MixedPrecisionCatalog
    {
        /// <summary>
        /// A ResNet image classifier trained on TorchSharp (float32; add <c>.WithMixedPrecision()</c> for bf16/fp16).
        /// The feature column holds encoded image bytes (LoadRawImageBytes) or images (LoadImages); the label is a key.
        /// </summary>
        public static ImageClassificationTrainer ImageClassification(
            this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
            string labelColumnName = "Label",
            string featureColumnName = "Features",
            string scoreColumnName = "Score",
            string predictedLabelColumnName = "PredictedLabel",
            IDataView? validationSet = null)
        {
            return catalog.ImageClassification(new ImageClassificationTrainer.Options
            {
                LabelColumnName = labelColumnName,
                FeatureColumnName = featureColumnName,
                ScoreColumnName = scoreColumnName,
                PredictedLabelColumnName = predictedLabelColumnName,
                ValidationSet = validationSet,
            });
        }

        /// <summary>A ResNet image classifier with all options.</summary>
        public static ImageClassificationTrainer ImageClassification(
            this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
            ImageClassificationTrainer.Options options)
        {
            if (catalog == null)
                throw new ArgumentNullException(nameof(catalog));
            if (options == null)
                throw new ArgumentNullException(nameof(options));
            return new ImageClassificationTrainer(TrainerEnvironment.FromCatalog(catalog), options);
        }

        /// <summary>
        /// A text classifier trained on TorchSharp (float32; add <c>.WithMixedPrecision()</c> for bf16/fp16), the shape of
        /// Microsoft.ML.TorchSharp's TextClassification: by default the pretrained all-MiniLM-L6-v2 encoder fine-tuned
        /// (<see cref="TextClassificationTrainer.Options.Encoder"/>). The sentence columns hold text (set
        /// <paramref name="sentence2ColumnName"/> for sentence-pair tasks); the label is a key. <paramref name="maxEpochs"/>
        /// null leaves the epochs to the trainer (3 for the pretrained encoder, 10 from scratch). The fitted model
        /// tokenizes inside its ONNX graph and loads with stock ML.NET packages only.
        /// </summary>
        public static TextClassificationTrainer TextClassification(
            this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
            string labelColumnName = "Label",
            string scoreColumnName = "Score",
            string outputColumnName = "PredictedLabel",
            string sentence1ColumnName = "Sentence1",
            string? sentence2ColumnName = null,
            int batchSize = 32,
            int? maxEpochs = null,
            IDataView? validationSet = null)
        {
            return catalog.TextClassification(new TextClassificationTrainer.Options
            {
                LabelColumnName = labelColumnName,
                ScoreColumnName = scoreColumnName,
                PredictedLabelColumnName = outputColumnName,
                Sentence1ColumnName = sentence1ColumnName,
                Sentence2ColumnName = sentence2ColumnName,
                BatchSize = batchSize,
                Epochs = maxEpochs,
                ValidationSet = validationSet,
            });
        }

        /// <summary>A text classifier (pretrained MiniLM fine-tuned, or an encoder from scratch) with all options.</summary>
        public static TextClassificationTrainer TextClassification(
            this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
            TextClassificationTrainer.Options options)
        {
            if (catalog == null)
                throw new ArgumentNullException(nameof(catalog));
            if (options == null)
                throw new ArgumentNullException(nameof(options));
            return new TextClassificationTrainer(TrainerEnvironment.FromCatalog(catalog), options);
        }

        /// <summary>
        /// The same image trainer, training with automatic mixed precision: autocast regions (bf16 on a CPU with fast bf16,
        /// fp16 + loss scaling on CUDA) around forward and loss, float32 master weights. Its Fit returns the same
        /// <see cref="ImageClassificationTransformer"/>, an ordinary FP32 model; <c>Summary.Precision</c> says which precision ran.
        /// </summary>
        public static ImageClassificationTrainer WithMixedPrecision(this ImageClassificationTrainer trainer)
            => trainer.WithMixedPrecision(new MixedPrecisionOptions());

        /// <summary>The same image trainer, training with automatic mixed precision as <paramref name="options"/> says (precision, loss scaling).</summary>
        public static ImageClassificationTrainer WithMixedPrecision(this ImageClassificationTrainer trainer, MixedPrecisionOptions options)
        {
            if (trainer == null)
                throw new ArgumentNullException(nameof(trainer));
            if (options == null)
                throw new ArgumentNullException(nameof(options));
            return trainer.WithPrecision(options);
        }

        /// <summary>
        /// The same text trainer, training with automatic mixed precision: attention and feed-forward matmuls in bf16 (CPU
        /// with fast bf16) or fp16 + loss scaling (CUDA), layer norms, softmax and the loss in float32, float32 master
        /// weights. Its Fit returns the same <see cref="TextClassificationTransformer"/>, an ordinary FP32 model;
        /// <c>Summary.Precision</c> says which precision ran.
        /// </summary>
        public static TextClassificationTrainer WithMixedPrecision(this TextClassificationTrainer trainer)
            => trainer.WithMixedPrecision(new MixedPrecisionOptions());

        /// <summary>The same text trainer, training with automatic mixed precision as <paramref name="options"/> says (precision, loss scaling).</summary>
        public static TextClassificationTrainer WithMixedPrecision(this TextClassificationTrainer trainer, MixedPrecisionOptions options)
        {
            if (trainer == null)
                throw new ArgumentNullException(nameof(trainer));
            if (options == null)
                throw new ArgumentNullException(nameof(options));
            return trainer.WithPrecision(options);
        }
    }
}
