using System;
using System.Collections.Generic;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.ML.MixedPrecision.Training.Precision;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>
    /// RestoreBestWeights: the shared loop ends with the weights of the best validation epoch, or of the last epoch when
    /// the option is off. A linear classifier on 2-D points is trained from a boundary along x0 > 0 towards the training
    /// labels' x1 > 0, so its boundary turns through 45°; the validation labels are x0 + x1 > 0, so validation accuracy
    /// rises while the boundary nears 45° and falls after it: the best epoch is neither the first nor the last.
    /// </summary>
    [TestClass]
    public class RestoreBestWeightsTests
    {
        private static FeatureTrainingData Points(int count, int seed, Func<float, float, bool> label)
        {
            var random = new Random(seed);
            var features = new float[count * 2];
            var labels = new long[count];
            for (int i = 0; i < count; i++)
            {
                float x0 = (float)(random.NextDouble() * 2 - 1), x1 = (float)(random.NextDouble() * 2 - 1);
                features[2 * i] = x0;
                features[2 * i + 1] = x1;
                labels[i] = label(x0, x1) ? 1 : 0;
            }
            return new FeatureTrainingData(features, null, labels, 2);
        }

        private sealed record Run(TrainingSummary Summary, List<float[]> EpochWeights, float[] Final);

        private static Run Train(bool restoreBestWeights)
        {
            var epochWeights = new List<float[]>();
            using var model = nn.Linear(2, 2);
            float[] Weights() => model.weight.detach().cpu().data<float>().ToArray().Concat(model.bias.detach().cpu().data<float>().ToArray()).ToArray();
            using (no_grad())
            {
                model.weight.copy_(tensor(new float[] { -2, 0, 2, 0 }, new long[] { 2, 2 })); // class 1 when x0 > 0
                model.bias.zero_();
            }
            var options = new ImageClassificationTrainer.Options
            {
                Epochs = 8, BatchSize = 16, LearningRate = 0.2, LearningRateSchedule = LearningRateScheduleKind.Constant,
                Optimizer = OptimizerKind.SgdMomentum, Momentum = 0, WeightDecay = 0, GradientClipNorm = null,
                RestoreBestWeights = restoreBestWeights,
                MetricsCallback = m => { if (m.IsEpochEnd) epochWeights.Add(Weights()); },
            };
            var train = Points(256, seed: 1, (x0, x1) => x1 > 0);
            var validation = Points(256, seed: 2, (x0, x1) => x0 + x1 > 0);
            using var log = new TrainingLog(new MLContext(1), "RestoreBestWeightsTests");
            using var precision = PrecisionResolver.Float32();
            var summary = new TrainingLoop(options, precision, CPU, log, classCount: 2).Run<FeatureTrainingData.FeatureBatch>(model, train, validation, seed: 3, new TrainingPhase { Epochs = options.Epochs.Value });
            return new Run(summary, epochWeights, Weights());
        }

        private static void ShouldTurnBestInTheMiddle(Run run)
        {
            var accuracies = run.Summary.Epochs.Select(e => e.ValidationAccuracy.Value).ToArray();
            int best = Array.IndexOf(accuracies, accuracies.Max()) + 1;
            best.Should().BeGreaterThan(1, $"validation accuracy first rises ({string.Join(", ", accuracies)})");
            best.Should().BeLessThan(accuracies.Length, $"and falls before the end ({string.Join(", ", accuracies)})");
            run.Summary.BestEpoch.Should().Be(best);
        }

        [TestMethod]
        public void With_RestoreBestWeights_the_fit_ends_with_the_best_validation_epochs_weights()
        {
            var run = Train(restoreBestWeights: true);
            ShouldTurnBestInTheMiddle(run);
            run.Final.Should().Equal(run.EpochWeights[run.Summary.BestEpoch.Value - 1]);
            run.Final.Should().NotEqual(run.EpochWeights[^1]);
        }

        [TestMethod]
        public void Without_RestoreBestWeights_the_fit_ends_with_the_last_epochs_weights()
        {
            var run = Train(restoreBestWeights: false);
            ShouldTurnBestInTheMiddle(run);
            run.Final.Should().Equal(run.EpochWeights[^1]);
            run.Final.Should().NotEqual(run.EpochWeights[run.Summary.BestEpoch.Value - 1]);
        }
    }
}
