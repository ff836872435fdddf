using System.Collections.Generic;
using System.Linq;
using TorchSharp.Modules;

namespace Microsoft.ML.MixedPrecision.Kernels
{
    /// <summary>
    /// Parameters the optimizer treats alike: a multiple of the scheduled learning rate, and whether weight decay
    /// applies (fine-tuning recipes exempt BatchNorm and bias parameters, and give a pretrained backbone a lower rate).
    /// </summary>
    internal sealed class ParameterGroup
    {
        public ParameterGroup(IEnumerable<Parameter> parameters, double learningRateScale = 1.0, bool weightDecay = true)
        {
            Parameters = parameters.ToArray();
            LearningRateScale = learningRateScale;
            WeightDecay = weightDecay;
        }

        public IReadOnlyList<Parameter> Parameters { get; }
        public double LearningRateScale { get; }
        public bool WeightDecay { get; }

        /// <summary>
        /// Two groups at <paramref name="learningRateScale"/>: weights with weight decay, and the vectors (BatchNorm
        /// scales and shifts, biases) without.
        /// </summary>
        public static IEnumerable<ParameterGroup> DecayMatricesOnly(IEnumerable<Parameter> parameters, double learningRateScale)
        {
            var all = parameters.ToArray();
            yield return new ParameterGroup(all.Where(p => p.dim() > 1), learningRateScale, weightDecay: true);
            yield return new ParameterGroup(all.Where(p => p.dim() <= 1), learningRateScale, weightDecay: false);
        }
    }
}
