using System;
using System.Collections.Generic;
using Microsoft.ML.Data;

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>
    /// A fitted classifier of this library. It is a thin view over a chain of stock ML.NET transformers around
    /// <c>ApplyOnnxModel</c> (the FP32 network as ONNX): Transform, schema propagation and saving all go to that chain.
    /// Saving writes the chain itself, so <c>mlContext.Model.Load</c> needs neither this library nor TorchSharp
    /// (image-bytes input aside: see docs/models.md, "The saved model in detail") and returns the stock chain.
    /// </summary>
    public abstract class ClassifierTransformer : ITransformer
    {
        private protected ClassifierTransformer(ITransformer scoringChain, IReadOnlyList<string> classNames, TrainingSummary summary)
        {
            ScoringChain = scoringChain ?? throw new ArgumentNullException(nameof(scoringChain));
            ClassNames = classNames;
            Summary = summary;
        }

        /// <summary>The stock ML.NET transformers this model scores with (what Model.Save writes).</summary>
        public ITransformer ScoringChain { get; }

        /// <summary>Class names in key order: the Score slots and the PredictedLabel key values.</summary>
        public IReadOnlyList<string> ClassNames { get; }

        /// <summary>How training went: precision used, per-epoch metrics, skipped steps, throughput.</summary>
        public TrainingSummary Summary { get; }

        /// <summary>Whether the scoring chain maps row to row (it does: a PredictionEngine can score it).</summary>
        public bool IsRowToRowMapper => ScoringChain.IsRowToRowMapper;

        /// <summary>The scoring chain's output schema for <paramref name="inputSchema"/>.</summary>
        public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => ScoringChain.GetOutputSchema(inputSchema);

        /// <summary>The scoring chain's row-to-row mapper (what a PredictionEngine uses).</summary>
        public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => ScoringChain.GetRowToRowMapper(inputSchema);

        /// <summary>Scores <paramref name="input"/>: adds Score and PredictedLabel through the stock scoring chain.</summary>
        public IDataView Transform(IDataView input) => ScoringChain.Transform(input);

        /// <summary>Delegates to the stock chain, so the saved model is the chain (loadable without this library).</summary>
        void ICanSaveModel.Save(ModelSaveContext ctx) => ScoringChain.Save(ctx);
    }
}
