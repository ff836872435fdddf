using Microsoft.ML.Data;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>A trainer of this library that can train in a chosen precision (image and text classification).</summary>
    internal interface IPrecisionAwareTrainer
    {
        ClassifierTransformer Fit(IDataView input, MixedPrecisionOptions mixedPrecision);
        SchemaShape GetOutputSchema(SchemaShape inputSchema);
    }
}
