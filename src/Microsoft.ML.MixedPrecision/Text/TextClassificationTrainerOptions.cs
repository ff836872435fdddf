using Microsoft.ML.MixedPrecision.Training;

namespace Microsoft.ML.MixedPrecision.Text
{
    public sealed partial class TextClassificationTrainer
    {
        /// <summary>
        /// Options of the text classification trainer. Defaults train a small Transformer encoder from scratch on a CPU
        /// (2 layers, width 128, 2 heads of 64, FFN 512, at most 128 tokens); widths are multiples of 64 so bf16 GEMMs
        /// run at full vector width.
        /// </summary>
        public sealed class Options : ClassificationTrainerOptionsBase
        {
            public Options()
            {
                BatchSize = 32;
                LearningRate = 0.001;
            }

            /// <summary>The text column (scalar text). Default "Sentence1".</summary>
            public string Sentence1ColumnName { get; set; } = "Sentence1";

            /// <summary>The second text column of sentence-pair tasks; null (default) for single sentences.</summary>
            public string Sentence2ColumnName { get; set; }

            /// <summary>Tokens per example including [CLS] and [SEP]; longer texts are truncated. Default 128.</summary>
            public int MaxSequenceLength { get; set; } = 128;

            /// <summary>Transformer blocks. Default 2.</summary>
            public int NumberOfLayers { get; set; } = 2;

            /// <summary>Model width (embedding size). Default 128.</summary>
            public int EmbeddingSize { get; set; } = 128;

            /// <summary>Attention heads; must divide <see cref="EmbeddingSize"/>. Default 2 (heads of 64).</summary>
            public int NumberOfHeads { get; set; } = 2;

            /// <summary>Hidden size of each block's feed-forward network. Default 512.</summary>
            public int FeedForwardSize { get; set; } = 512;

            /// <summary>Dropout on embeddings, attention weights and residual branches. Default 0.1.</summary>
            public double Dropout { get; set; } = 0.1;

            /// <summary>Sentence vector for the head: mean of the token vectors (default) or the [CLS] vector.</summary>
            public TextPooling Pooling { get; set; } = TextPooling.Mean;

            /// <summary>
            /// Optional vocabulary file, one token per line (normalized like the text: lowercased, one word or punctuation
            /// mark per line; other lines are skipped). Null (default) learns the vocabulary from the training data.
            /// </summary>
            public string VocabularyPath { get; set; }

            /// <summary>Largest learned vocabulary (most frequent tokens first). Default 20000.</summary>
            public int MaxVocabularySize { get; set; } = 20000;

            /// <summary>A token enters the learned vocabulary when it occurs at least this often; rarer ones become [UNK]. Default 2.</summary>
            public int MinTokenCount { get; set; } = 2;

            internal override void Validate()
            {
                base.Validate();
                Check(!string.IsNullOrWhiteSpace(Sentence1ColumnName), nameof(Sentence1ColumnName), "must name the text column");
                Check(Sentence2ColumnName is null || !string.IsNullOrWhiteSpace(Sentence2ColumnName), nameof(Sentence2ColumnName), "must be null or name a text column");
                Check(Sentence2ColumnName != Sentence1ColumnName, nameof(Sentence2ColumnName), "must differ from Sentence1ColumnName");
                Check(MaxSequenceLength >= 5 && MaxSequenceLength <= 4096, nameof(MaxSequenceLength), $"must be in 5..4096 (was {MaxSequenceLength})");
                Check(NumberOfLayers >= 1 && NumberOfLayers <= 48, nameof(NumberOfLayers), $"must be in 1..48 (was {NumberOfLayers})");
                Check(EmbeddingSize > 0, nameof(EmbeddingSize), $"must be positive (was {EmbeddingSize})");
                Check(NumberOfHeads > 0 && EmbeddingSize % NumberOfHeads == 0, nameof(NumberOfHeads),
                    $"must divide EmbeddingSize {EmbeddingSize} (was {NumberOfHeads})");
                Check(FeedForwardSize > 0, nameof(FeedForwardSize), $"must be positive (was {FeedForwardSize})");
                Check(Dropout >= 0 && Dropout < 1, nameof(Dropout), $"must be in [0, 1) (was {Dropout})");
                Check(VocabularyPath is null || System.IO.File.Exists(VocabularyPath), nameof(VocabularyPath), $"names a file that does not exist ('{VocabularyPath}')");
                Check(MaxVocabularySize > 0, nameof(MaxVocabularySize), $"must be positive (was {MaxVocabularySize})");
                Check(MinTokenCount > 0, nameof(MinTokenCount), $"must be positive (was {MinTokenCount})");
            }
        }
    }
}
