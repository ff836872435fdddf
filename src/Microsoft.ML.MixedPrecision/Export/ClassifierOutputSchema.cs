namespace Microsoft.ML.MixedPrecision.Export
{
    /// <summary>
    /// The schema shape a classifier adds: Score (float vector with class-name slots) and PredictedLabel (key with the
    /// label's key values). SchemaShape.Column has no public constructor, so the shapes come from stock estimators that
    /// produce the same kinds of column from the label: one-hot of a key (a float vector whose slots are the key values)
    /// and a copy of the key.
    /// </summary>
    internal static class ClassifierOutputSchema
    {
        public static SchemaShape Append(MLContext mlContext, SchemaShape inputSchema, string labelColumnName, string scoreColumnName,
            string predictedLabelColumnName)
        {
            var withScore = mlContext.Transforms.Categorical.OneHotEncoding(scoreColumnName, labelColumnName).GetOutputSchema(inputSchema);
            return mlContext.Transforms.CopyColumns(predictedLabelColumnName, labelColumnName).GetOutputSchema(withScore);
        }
    }
}
