using System;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Tests.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>Every numeric option out of its range is refused when the trainer is made, naming the option and the value.</summary>
    [TestClass]
    public class OptionValidationTests
    {
        private static void Set(object options, string name, object value)
        {
            var property = options.GetType().GetProperty(name) ?? throw new ArgumentException($"no option {name}");
            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            property.SetValue(options, Convert.ChangeType(value, type, System.Globalization.CultureInfo.InvariantCulture));
        }

        private static void ShouldBeRefused(Action create, string option, object value)
        {
            var message = create.Should().Throw<ArgumentOutOfRangeException>().Which.Message;
            message.Should().Contain(option);
            message.Should().Contain(Convert.ToString(value, System.Globalization.CultureInfo.CurrentCulture)); // as the message formats it
        }

        [TestMethod]
        [DataRow("BatchSize", 0)]
        [DataRow("BatchSize", -8)]
        [DataRow("Epochs", 0)]
        [DataRow("LearningRate", -0.001)]
        [DataRow("LearningRate", 0.0)]
        [DataRow("LearningRate", double.NaN)]
        [DataRow("LearningRate", double.PositiveInfinity)]
        [DataRow("WarmupFraction", 1.0)]
        [DataRow("WarmupFraction", -0.1)]
        [DataRow("Momentum", 1.0)]
        [DataRow("WeightDecay", -0.05)]
        [DataRow("WeightDecay", double.PositiveInfinity)]
        [DataRow("GradientClipNorm", 0.0)]
        [DataRow("GradientClipNorm", double.NaN)]
        [DataRow("GradientAccumulationSteps", 0)]
        [DataRow("ValidationSetFraction", 1.0)]
        [DataRow("ValidationSetFraction", -0.2)]
        [DataRow("EarlyStoppingPatience", 0)]
        [DataRow("EarlyStoppingMinDelta", -0.01)]
        [DataRow("EarlyStoppingMinDelta", double.NaN)]
        [DataRow("MetricsEveryBatches", 0)]
        [DataRow("MemoryBudgetMegabytes", 0)]
        [DataRow("MemoryBudgetMegabytes", -512)]
        [DataRow("ImageHeight", -1)]
        [DataRow("ImageWidth", 5000)]
        [DataRow("AugmentationShiftPixels", -2)]
        [DataRow("HeadOnlyEpochs", -1)]
        [DataRow("BackboneLearningRateFactor", 0.0)]
        public void Image_trainer_refuses_an_option_out_of_range(string option, object value)
        {
            var options = new ImageClassificationTrainer.Options();
            Set(options, option, value);
            ShouldBeRefused(() => new MLContext(1).MulticlassClassification.Trainers.ImageClassification(options), option, value);
        }

        [TestMethod]
        [DataRow("BatchSize", 0)]
        [DataRow("Epochs", -1)]
        [DataRow("LearningRate", -1.0)]
        [DataRow("MaxSequenceLength", 2)]
        [DataRow("NumberOfLayers", 0)]
        [DataRow("EmbeddingSize", 0)]
        [DataRow("NumberOfHeads", 3)]
        [DataRow("FeedForwardSize", 0)]
        [DataRow("Dropout", 1.0)]
        [DataRow("MaxVocabularySize", 0)]
        [DataRow("MinTokenCount", 0)]
        [DataRow("EncoderLearningRateFactor", -0.1)]
        [DataRow("AttentionDropout", 1.0)]
        [DataRow("MemoryBudgetMegabytes", 0)]
        public void Text_trainer_refuses_an_option_out_of_range(string option, object value)
        {
            var options = new TextClassificationTrainer.Options();
            Set(options, option, value);
            ShouldBeRefused(() => new MLContext(1).MulticlassClassification.Trainers.TextClassification(options), option, value);
        }

        [TestMethod]
        [DataRow("InitialLossScale", 0.0)]
        [DataRow("InitialLossScale", double.PositiveInfinity)]
        [DataRow("GrowthFactor", 1.0)]
        [DataRow("BackoffFactor", 1.0)]
        [DataRow("GrowthInterval", 0)]
        public void Mixed_precision_refuses_an_option_out_of_range(string option, object value)
        {
            var options = new MixedPrecisionOptions();
            Set(options, option, value);
            var trainer = new MLContext(1).MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options());
            ShouldBeRefused(() => trainer.WithMixedPrecision(options), option, value);
        }

        [TestMethod]
        public void Option_changed_after_the_trainer_was_made_is_refused_at_fit()
        {
            using var images = new SyntheticImages(6, size: 8, seed: 5);
            var ml = new MLContext(1);
            var raw = ml.Data.LoadFromEnumerable(images.Rows);
            var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw);
            var trainer = ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options { FeatureColumnName = "ImageSource" });
            trainer.TrainerOptions.BatchSize = 0;
            ShouldBeRefused(() => trainer.Fit(data), "BatchSize", 0);
        }

        [TestMethod]
        public void With_mixed_precision_returns_a_new_trainer_of_the_same_type_and_leaves_the_float32_one_as_it_was()
        {
            var ml = new MLContext(seed: 1);
            var fp32 = ml.MulticlassClassification.Trainers.TextClassification();
            var amp = fp32.WithMixedPrecision(new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16 });
            amp.Should().BeOfType<TextClassificationTrainer>().And.NotBeSameAs(fp32);
            amp.MixedPrecision.Precision.Should().Be(TrainingPrecision.BFloat16);
            amp.TrainerOptions.Should().BeSameAs(fp32.TrainerOptions);
            fp32.MixedPrecision.Should().BeNull("the trainer WithMixedPrecision was called on still trains in float32");
            ml.MulticlassClassification.Trainers.ImageClassification().WithMixedPrecision().MixedPrecision.Precision
                .Should().Be(TrainingPrecision.Auto);
        }

        [TestMethod]
        public void Invalid_mixed_precision_option_is_refused_by_with_mixed_precision()
        {
            var ml = new MLContext(seed: 1);
            ShouldBeRefused(() => ml.MulticlassClassification.Trainers.ImageClassification()
                .WithMixedPrecision(new MixedPrecisionOptions { GrowthFactor = 0.5 }), nameof(MixedPrecisionOptions.GrowthFactor), 0.5);
        }
    }
}
