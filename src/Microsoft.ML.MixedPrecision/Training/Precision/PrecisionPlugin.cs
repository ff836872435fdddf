using System;
using Microsoft.ML.MixedPrecision.Amp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Training.Precision
{
    /// <summary>
    /// The precision policy the shared training loop calls at fixed points, so the loop never branches on precision
    /// (the shape of Lightning's precision plugins): the forward context, backward, unscale-before-clip, optimizer step,
    /// end-of-step update, and what to report.
    /// </summary>
    internal abstract class PrecisionPlugin : IDisposable
    {
        /// <summary>The precision actually used (never Auto).</summary>
        public abstract TrainingPrecision Precision { get; }

        /// <summary>Opens the region forward + loss run in. Dispose it before backward.</summary>
        public abstract IDisposable ForwardContext();

        /// <summary>Backward of <paramref name="loss"/> (scaled when loss scaling is on).</summary>
        public abstract void Backward(Tensor loss);

        /// <summary>Makes the gradients true gradients (unscaled) so they can be clipped.</summary>
        public abstract void UnscaleGradients(optim.Optimizer optimizer);

        /// <summary>Steps the optimizer unless the gradients overflowed. Returns whether it stepped.</summary>
        public abstract bool OptimizerStep(optim.Optimizer optimizer);

        /// <summary>Ends one optimizer iteration (loss-scale update).</summary>
        public abstract void Update();

        /// <summary>What a checkpoint stores of the loss scaling (the grad scaler's state; empty when loss scaling is off).</summary>
        public virtual GradScalerState GetState() => GradScalerState.Empty;

        /// <summary>Restores a state saved by <see cref="GetState"/> when a fit resumes from a checkpoint.</summary>
        public virtual void LoadState(GradScalerState state)
        {
        }

        /// <summary>Current loss scale; 1 when loss scaling is off.</summary>
        public abstract double LossScale { get; }

        /// <summary>Optimizer steps skipped because of inf/NaN gradients.</summary>
        public abstract long SkippedSteps { get; }

        public virtual void Dispose()
        {
        }
    }
}
