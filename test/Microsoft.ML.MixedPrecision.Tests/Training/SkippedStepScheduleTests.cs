using System.Collections.Generic;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Tests.Text;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>Steps the grad scaler skips (float16 overflow) do not advance the learning-rate schedule (pytorch #44511).</summary>
    [TestClass]
    public class SkippedStepScheduleTests
    {
        [TestMethod]
        [Timeout(120_000)]
        public void Overflowing_float16_steps_are_skipped_and_leave_the_schedule_where_it_was()
        {
            var reports = new List<TrainingMetrics>();
            var ml = new MLContext(seed: 1);
            var options = TextClassificationTrainerTests.SmallOptions(reports.Add);
            options.Epochs = 2;
            options.LearningRateSchedule = LearningRateScheduleKind.LinearWithWarmup;
            options.WarmupFraction = 0; // lr(k) = peak · (1 − k / total): the position shows in the rate
            options.GradientClipNorm = null;
            var data = ml.Data.LoadFromEnumerable(SyntheticText.Sentences(150, seed: 41));
            // A loss scale of 2^24 overflows float16 gradients until it has backed off a few times.
            var model = TextClassificationTrainerTests.Pipeline(ml, ml.MulticlassClassification.Trainers.TextClassification(options)
                    .WithMixedPrecision(new MixedPrecisionOptions { Precision = TrainingPrecision.Float16, InitialLossScale = 1 << 24 }))
                .Fit(data);
            var summary = ((IEnumerable<ITransformer>)model).OfType<ClassifierTransformer>().Single().Summary;

            summary.SkippedSteps.Should().BeGreaterThan(0, "the first steps overflow in float16");
            var last = reports.Last(r => r.IsEpochEnd);
            long attempts = (long)last.BatchesPerEpoch * options.Epochs.Value;
            summary.OptimizerSteps.Should().Be(attempts - summary.SkippedSteps);
            summary.FinalLossScale.Should().BeLessThan(1 << 24, "each overflow halves the scale");
            // The last step ran at the rate of real step OptimizerSteps − 1, not of attempt attempts − 1.
            double Rate(long step) => options.LearningRate * (1 - (double)step / attempts);
            last.LearningRate.Should().BeApproximately(Rate(summary.OptimizerSteps - 1), 1e-12);
            last.LearningRate.Should().NotBe(Rate(attempts - 1));
        }
    }
}
