using System;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Training;

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>
    /// <c>trainer.WithMixedPrecision(options)</c>: the same trainer, trained with autocast (bf16/fp16) and, for fp16,
    /// dynamic loss scaling. Usable anywhere an estimator is; fits to an ordinary FP32 model.
    /// </summary>
    public sealed class MixedPrecisionEstimator : IEstimator<MixedPrecisionTransformer>
    {
        private readonly IPrecisionAwareTrainer _trainer;

        internal MixedPrecisionEstimator(IPrecisionAwareTrainer trainer, MixedPrecisionOptions options)
        {
            _trainer = trainer ?? throw new ArgumentNullException(nameof(trainer));
            Options = options ?? new MixedPrecisionOptions();
            Options.Validate();
        }

        /// <summary>The mixed-precision settings.</summary>
        public MixedPrecisionOptions Options { get; }

        public MixedPrecisionTransformer Fit(IDataView input)
        {
            var inner = _trainer.Fit(input, Options);
            return new MixedPrecisionTransformer(inner);
        }

        public SchemaShape GetOutputSchema(SchemaShape inputSchema) => _trainer.GetOutputSchema(inputSchema);
    }

    /// <summary>The model a <see cref="MixedPrecisionEstimator"/> fits: an ordinary FP32 model; <see cref="ClassifierTransformer.Summary"/> tells the precision used.</summary>
    public sealed class MixedPrecisionTransformer : ClassifierTransformer
    {
        internal MixedPrecisionTransformer(ClassifierTransformer trained)
            : base(trained.ScoringChain, trained.ClassNames, trained.Summary)
        {
            Model = trained;
        }

        /// <summary>The trainer's own fitted transformer (e.g. an ImageClassificationTransformer).</summary>
        public ClassifierTransformer Model { get; }

        /// <summary>The precision training ran in (Auto resolved).</summary>
        public TrainingPrecision PrecisionUsed => Summary.Precision;
    }
}
