using System.Collections.Generic;

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>
    /// A fitted text classifier: ApplyOnnxModel fed by the text column(s) (tokenization inside the ONNX graph: stock
    /// StringNormalizer, Tokenizer and LabelEncoder operators) → Score (class probabilities, slots named by class) and
    /// PredictedLabel (key with the label's key values). Only stock ML.NET transformers.
    /// </summary>
    public sealed class TextClassificationTransformer : ClassifierTransformer
    {
        internal TextClassificationTransformer(ITransformer scoringChain, IReadOnlyList<string> classNames, TrainingSummary summary,
            int vocabularySize, int maxSequenceLength, string architecture)
            : base(scoringChain, classNames, summary)
        {
            VocabularySize = vocabularySize;
            MaxSequenceLength = maxSequenceLength;
            Architecture = architecture;
        }

        /// <summary>Tokens the model knows (the special tokens [PAD], [UNK], [CLS], [SEP] included).</summary>
        public int VocabularySize { get; }

        /// <summary>Tokens per example, [CLS] and [SEP] included.</summary>
        public int MaxSequenceLength { get; }

        /// <summary>The encoder's shape, e.g. "2 layers, width 128, 2 heads, ...".</summary>
        public string Architecture { get; }
    }
}
