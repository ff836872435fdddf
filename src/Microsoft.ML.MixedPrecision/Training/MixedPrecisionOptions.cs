using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>The numeric precision a trainer computes in.</summary>
    public enum TrainingPrecision
    {
        /// <summary>bfloat16 on a CPU with fast bf16 (AVX512-BF16/AMX), float16 + loss scaling on CUDA, else float32 (with a warning).</summary>
        Auto = 0,
        /// <summary>bfloat16 autocast: float32's range, so no loss scaling is needed.</summary>
        BFloat16,
        /// <summary>float16 autocast with dynamic loss scaling: the CUDA recipe. Works on CPU but without fast kernels.</summary>
        Float16,
        /// <summary>Plain float32 training.</summary>
        Float32,
    }

    /// <summary>
    /// Settings of <c>WithMixedPrecision(...)</c>: which lower precision to compute in and how to scale the loss.
    /// The defaults work everywhere: Auto precision, loss scaling on for float16 only, PyTorch's GradScaler defaults.
    /// </summary>
    public sealed class MixedPrecisionOptions
    {
        /// <summary>The precision of matmul/conv inside autocast regions. Default <see cref="TrainingPrecision.Auto"/>.</summary>
        public TrainingPrecision Precision { get; set; } = TrainingPrecision.Auto;

        /// <summary>Dynamic loss scaling (GradScaler). Null (default): on for Float16, off for BFloat16 and Float32.</summary>
        public bool? LossScaling { get; set; }

        /// <summary>Initial loss scale. Default 65536 (2^16).</summary>
        public double InitialLossScale { get; set; } = 65536.0;

        /// <summary>Factor the scale grows by after <see cref="GrowthInterval"/> steps without overflow. Default 2.</summary>
        public double GrowthFactor { get; set; } = 2.0;

        /// <summary>Factor the scale shrinks by after a step whose gradients overflowed. Default 0.5.</summary>
        public double BackoffFactor { get; set; } = 0.5;

        /// <summary>Steps without overflow between two growths. Default 2000.</summary>
        public int GrowthInterval { get; set; } = 2000;

        /// <summary>
        /// Layers that stay in float32 inside autocast regions, by the names the network's <c>named_modules()</c> gives
        /// ("head", "layers.5.attention"; * stands for any run of characters, "layers.*.fc2"). A named layer runs with
        /// autocast off and its input cast to float32, and so do the layers inside it; its gradients flow on as usual.
        /// For a layer that loses accuracy in bfloat16 or float16 (a head over many classes, a softmax over long rows).
        /// Empty by default. A name that matches no layer fails the fit with the names the network has.
        /// </summary>
        public IList<string> Float32Layers { get; set; } = new List<string>();

        internal void Validate()
        {
            if (!Enum.IsDefined(typeof(TrainingPrecision), Precision))
                throw new ArgumentOutOfRangeException(nameof(Precision), Precision, "Unknown precision.");
            if (!(InitialLossScale > 0) || double.IsInfinity(InitialLossScale))
                throw new ArgumentOutOfRangeException(nameof(InitialLossScale), InitialLossScale, "The initial loss scale must be positive and finite.");
            if (!(GrowthFactor > 1))
                throw new ArgumentOutOfRangeException(nameof(GrowthFactor), GrowthFactor, "The growth factor must be greater than 1.");
            if (!(BackoffFactor > 0 && BackoffFactor < 1))
                throw new ArgumentOutOfRangeException(nameof(BackoffFactor), BackoffFactor, "The backoff factor must be between 0 and 1.");
            if (GrowthInterval <= 0)
                throw new ArgumentOutOfRangeException(nameof(GrowthInterval), GrowthInterval, "The growth interval must be positive.");
            if (Float32Layers == null)
                throw new ArgumentNullException(nameof(Float32Layers), "Float32Layers must not be null; leave it empty to keep no layer in float32.");
            if (Float32Layers.Any(string.IsNullOrWhiteSpace))
                throw new ArgumentException("Float32Layers holds an empty name: name layers as the network's named_modules() does (\"head\").", nameof(Float32Layers));
        }
    }
}
