namespace Microsoft.ML.MixedPrecision
{
    /// <summary>How the text encoder turns its token vectors into one sentence vector for the classifier head.</summary>
    public enum TextPooling
    {
        /// <summary>Mean of the vectors of the real (non-padding) tokens. Robust when training from scratch on little data.</summary>
        Mean,
        /// <summary>The vector of the leading [CLS] token (BERT style).</summary>
        Cls,
    }
}
