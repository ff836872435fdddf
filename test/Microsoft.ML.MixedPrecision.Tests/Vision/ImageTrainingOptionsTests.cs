using System;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Tests.Vision
{
    /// <summary>Validation data, early stopping and initial weights.</summary>
    [TestClass]
    public class ImageTrainingOptionsTests
    {
        private static SyntheticImages _images;
        private static SyntheticImages _validation;

        [ClassInitialize]
        public static void CreateImages(TestContext context)
        {
            _images = new SyntheticImages(24, size: 8, seed: 11);
            _validation = new SyntheticImages(9, size: 8, seed: 12);
        }

        [ClassCleanup]
        public static void DeleteImages()
        {
            _images?.Dispose();
            _validation?.Dispose();
        }

        private static (MLContext, IDataView, IDataView) Data()
        {
            var ml = new MLContext(1);
            var raw = ml.Data.LoadFromEnumerable(_images.Rows);
            var keyer = ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw);
            return (ml, keyer.Transform(raw), keyer.Transform(ml.Data.LoadFromEnumerable(_validation.Rows)));
        }

        [TestMethod]
        public void Early_stopping_ends_training_when_validation_accuracy_stalls()
        {
            var (ml, train, validation) = Data();
            var model = ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
            {
                FeatureColumnName = "ImageSource", Architecture = ResNetArchitecture.ResNetTiny, Epochs = 6, BatchSize = 8, Seed = 1,
                LearningRate = 1e-12, LearningRateSchedule = Microsoft.ML.MixedPrecision.LearningRateScheduleKind.Constant, // nothing can improve
                ValidationSet = validation, EarlyStoppingPatience = 2,
            }).Fit(train);
            model.Summary.StoppedEarly.Should().BeTrue();
            model.Summary.EpochsRun.Should().Be(3, "epoch 1 sets the best, epochs 2 and 3 do not improve on it");
            model.Summary.Epochs.Should().OnlyContain(e => e.ValidationAccuracy.HasValue);
        }

        [TestMethod]
        public void Validation_set_with_other_classes_is_refused()
        {
            var ml = new MLContext(1);
            var train = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(_images.Rows))
                .Transform(ml.Data.LoadFromEnumerable(_images.Rows));
            var twoClasses = _validation.Rows.Where(r => r.Label != "blob").ToList();
            var validation = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(twoClasses))
                .Transform(ml.Data.LoadFromEnumerable(twoClasses));
            Action fit = () => ml.MulticlassClassification.Trainers.ImageClassification(labelColumnName: "Label", featureColumnName: "ImageSource",
                validationSet: validation).Fit(train);
            fit.Should().Throw<ArgumentException>().Which.Message.Should().Contain("validation set").And.Contain("MapValueToKey");
        }

        [TestMethod]
        public void Initial_weights_are_loaded_from_a_local_file()
        {
            var (ml, train, _) = Data();
            string path = Path.Combine(Path.GetTempPath(), $"mp-weights-{Guid.NewGuid():N}.bin");
            try
            {
                using (var source = new ResNet(1, 3, ResNetArchitecture.ResNetTiny))
                    source.save(path);
                var model = ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
                {
                    FeatureColumnName = "ImageSource", Epochs = 1, BatchSize = 8, Seed = 1, ValidationSetFraction = 0,
                    Architecture = ResNetArchitecture.ResNetTiny, InitialWeightsPath = path,
                }).Fit(train);
                model.Architecture.Should().Be(ResNetArchitecture.ResNetTiny);

                Action wrongShape = () => ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
                {
                    FeatureColumnName = "ImageSource", Epochs = 1, Seed = 1, ValidationSetFraction = 0,
                    Architecture = ResNetArchitecture.ResNetSmall, InitialWeightsPath = path,
                }).Fit(train);
                wrongShape.Should().Throw<ArgumentException>().Which.Message.Should().Contain("InitialWeightsPath").And.Contain(path);
            }
            finally
            {
                File.Delete(path);
            }
        }

        [TestMethod]
        public void Data_leaving_a_last_batch_of_one_still_trains()
        {
            // 4 px images reach 1x1 in the last stage: a batch of one would give BatchNorm a single value per channel.
            using var tiny = new SyntheticImages(17, size: 4, seed: 13);
            var ml = new MLContext(1);
            var raw = ml.Data.LoadFromEnumerable(tiny.Rows);
            var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw);
            var model = ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
            {
                FeatureColumnName = "ImageSource", Epochs = 1, BatchSize = 8, Seed = 1, ValidationSetFraction = 0,
                Architecture = ResNetArchitecture.ResNetTiny,
            }).Fit(data);
            model.Summary.Epochs.Single().BatchesPerEpoch.Should().Be(2);
        }

        [TestMethod]
        public void Missing_initial_weights_file_is_named()
        {
            var ml = new MLContext(1);
            Action create = () => ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
            {
                InitialWeightsPath = "/nonexistent/weights.bin",
            });
            create.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("InitialWeightsPath").And.Contain("/nonexistent/weights.bin");
        }
    }
}
