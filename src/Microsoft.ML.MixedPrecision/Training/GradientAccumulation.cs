using System;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// Gradient accumulation: an optimizer step every <c>GradientAccumulationSteps</c> batches, each batch's loss divided
    /// by the size of its group, so a step's gradient is the mean over its batches, the epoch's last, shorter group too
    /// (dividing that one by the full group size would shrink its step).
    /// </summary>
    internal static class GradientAccumulation
    {
        /// <summary>How many batches the group of batch <paramref name="batchIndex"/> (0-based) holds.</summary>
        public static int GroupSize(int batchIndex, int batchCount, int accumulation)
        {
            if (accumulation < 1)
                throw new ArgumentOutOfRangeException(nameof(accumulation), accumulation, "At least one batch per optimizer step.");
            int groupStart = batchIndex / accumulation * accumulation;
            return Math.Min(accumulation, batchCount - groupStart);
        }
    }
}
