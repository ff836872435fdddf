using System;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Tests.Vision;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>A run whose loss stays non-finite stops with a message that says where and what to try; NaN weights are never exported.</summary>
    [TestClass]
    public class DivergenceGuardTests
    {
        private static readonly ClassificationTrainerOptionsBase Options = new ImageClassificationTrainer.Options { LearningRate = 0.5, GradientClipNorm = 2 };

        [TestMethod]
        public void A_few_non_finite_losses_pass_but_a_run_of_them_stops_training_naming_epoch_batch_and_options()
        {
            var guard = new DivergenceGuard(Options, "BFloat16");
            using var nan = tensor(float.NaN);
            using var fine = tensor(0.7f);
            for (int i = 0; i < DivergenceGuard.Patience - 1; i++)
                guard.Observe(nan, epoch: 2, batch: i + 1);
            guard.Observe(fine, epoch: 2, batch: 5); // a finite loss resets the count (an fp16 overflow the scaler skipped)
            for (int i = 0; i < DivergenceGuard.Patience - 1; i++)
                guard.Observe(nan, epoch: 2, batch: 6 + i);
            Action last = () => guard.Observe(nan, epoch: 2, batch: 10);
            last.Should().Throw<InvalidOperationException>()
                .WithMessage("*5 batches in a row*epoch 2, batch 10*BFloat16*LearningRate (now 0.5)*GradientClipNorm (now 2)*float32*");
        }

        [TestMethod]
        public void Non_finite_weight_or_statistic_is_named_and_blocks_the_export()
        {
            using var model = new ResNet(1, 3, ResNetArchitecture.ResNetTiny);
            DivergenceGuard.ThrowIfNotFinite(model, "ResNetTiny"); // freshly initialized: finite
            using (no_grad())
                model.named_buffers().First(b => b.name.EndsWith("running_var")).buffer[0] = float.PositiveInfinity;
            Action check = () => DivergenceGuard.ThrowIfNotFinite(model, "ResNetTiny");
            check.Should().Throw<InvalidOperationException>().WithMessage("*ResNetTiny*running_var*not exported*");
        }

        [TestMethod]
        [Timeout(120_000)]
        public void Fit_from_nan_weights_stops_after_a_run_of_nan_losses_instead_of_training_to_the_end()
        {
            var images = new SyntheticImages(count: 48, seed: 4); // 6 batches of 8
            string path = Path.Combine(Path.GetTempPath(), $"mp-nan-weights-{Guid.NewGuid():N}.bin");
            try
            {
                using (var source = new ResNet(1, 3, ResNetArchitecture.ResNetTiny))
                {
                    using (no_grad())
                        source.parameters().First().fill_(float.NaN);
                    source.save(path);
                }
                var ml = new MLContext(seed: 1);
                var train = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(images.Rows))
                    .Transform(ml.Data.LoadFromEnumerable(images.Rows));
                var trainer = ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
                {
                    FeatureColumnName = "ImageSource", Epochs = 3, BatchSize = 8, Seed = 1, ValidationSetFraction = 0,
                    Architecture = ResNetArchitecture.ResNetTiny, InitialWeightsPath = path,
                });
                Action fit = () => trainer.Fit(train);
                fit.Should().Throw<InvalidOperationException>().WithMessage("*diverged*epoch 1, batch 5*Nothing was exported*");
            }
            finally
            {
                File.Delete(path);
                images.Dispose();
            }
        }
    }
}
