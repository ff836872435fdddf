using System;
using Microsoft.ML.MixedPrecision;
using Microsoft.ML.MixedPrecision.Catalog;
using Microsoft.ML.MixedPrecision.Vision;

namespace Microsoft.ML
{
    /// <summary>
    /// Every entry point of Microsoft.ML.MixedPrecision, as extensions of ML.NET's catalogs:
    /// <code>
    /// mlContext.MulticlassClassification.Trainers.ImageClassification(labelColumnName: "Label", featureColumnName: "ImageSource")
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
            IDataView validationSet = null)
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
        /// Trains with automatic mixed precision: autocast regions (bf16 on a CPU with fast bf16, fp16 + loss scaling on
        /// CUDA) around forward and loss, float32 master weights. The fitted model is an ordinary FP32 model.
        /// </summary>
        public static MixedPrecisionEstimator WithMixedPrecision(this ImageClassificationTrainer trainer, MixedPrecisionOptions options = null)
        {
            if (trainer == null)
                throw new ArgumentNullException(nameof(trainer));
            return new MixedPrecisionEstimator(trainer, options);
        }
    }
}
