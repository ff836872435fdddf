using System;
using System.Globalization;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// Stops a run whose loss stays non-finite instead of training to the end, and keeps a network with a non-finite
    /// weight from being exported. A single inf/NaN loss can be a float16 overflow the grad scaler handles (it skips
    /// that step), so only <see cref="Patience"/> non-finite batches in a row count as divergence.
    /// </summary>
    internal sealed class DivergenceGuard
    {
        public const int Patience = 5;

        private readonly ClassificationTrainerOptionsBase _options;
        private readonly string _precision;
        private int _nonFiniteInARow;

        public DivergenceGuard(ClassificationTrainerOptionsBase options, string precision)
        {
            _options = options;
            _precision = precision;
        }

        /// <summary>Non-finite losses in a row so far (a checkpoint stores it).</summary>
        public int NonFiniteInARow
        {
            get => _nonFiniteInARow;
            set => _nonFiniteInARow = value;
        }

        /// <summary>Checks one batch's loss (one host read per step: free on a CPU, a sync on CUDA).</summary>
        public void Observe(Tensor loss, int epoch, int batch)
        {
            using var finite = loss.detach().isfinite().all();
            if (finite.item<bool>())
            {
                _nonFiniteInARow = 0;
                return;
            }
            if (++_nonFiniteInARow < Patience)
                return;
            string clip = _options.GradientClipNorm.HasValue
                ? $"a lower GradientClipNorm (now {_options.GradientClipNorm.Value.ToString(CultureInfo.InvariantCulture)})"
                : "GradientClipNorm (now off)";
            throw new InvalidOperationException(
                $"Training diverged: the loss was NaN or infinite for {Patience} batches in a row, up to epoch {epoch}, batch {batch} " +
                $"(precision {_precision}). Try a lower LearningRate (now {_options.LearningRate.ToString(CultureInfo.InvariantCulture)}), " +
                $"{clip}, or training in float32 (without WithMixedPrecision); check the data for extreme values and InitialWeightsPath " +
                "for damaged weights. Nothing was exported.");
        }

        /// <summary>Throws, naming the first parameter or buffer that holds NaN or infinity (BatchNorm statistics included).</summary>
        public static void ThrowIfNotFinite(nn.Module model, string modelDescription)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            foreach (var (name, value) in model.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
                         .Concat(model.named_buffers().Select(b => (b.name, b.buffer))))
            {
                if (value is null || !value.is_floating_point())
                    continue;
                if (!value.isfinite().all().item<bool>())
                    throw new InvalidOperationException(
                        $"The trained network ({modelDescription}) has NaN or infinite values in '{name}': training diverged, so it is not exported. " +
                        "Try a lower LearningRate, GradientClipNorm, or training in float32 (without WithMixedPrecision).");
            }
        }
    }
}
