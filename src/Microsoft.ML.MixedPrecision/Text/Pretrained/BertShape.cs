using System;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>The hyper-parameters that fix a <see cref="BertClassifier"/>'s weights' shapes, and its dropout and pooling.</summary>
    internal sealed record BertShape
    {
        public int VocabularySize { get; init; }
        public int Width { get; init; }
        public int Heads { get; init; }
        public int Layers { get; init; }
        public int FeedForward { get; init; }
        public int MaxPositions { get; init; }
        public int TokenTypes { get; init; } = 2;
        public double LayerNormEpsilon { get; init; } = 1e-12;
        public double HiddenDropout { get; init; } = 0.1;
        public double AttentionDropout { get; init; }
        public int Classes { get; init; }
        public TextPooling Pooling { get; init; } = TextPooling.Mean;

        /// <summary>Id of [PAD] (masked out everywhere) and of [SEP] (ends a segment: token types are counted from it).</summary>
        public long PadId { get; init; }
        public long SepId { get; init; }

        /// <summary>Positions all-MiniLM-L6-v2 has embeddings for: the longest sequence it reads.</summary>
        public const int MiniLmL6MaxPositions = 512;

        /// <summary>all-MiniLM-L6-v2: 6 post-LN layers of width 384, 12 heads, FFN 1536, 512 positions, bert-base-uncased's vocabulary.</summary>
        public static BertShape MiniLmL6(int classes) => new BertShape
        {
            VocabularySize = 30522,
            Width = 384,
            Heads = 12,
            Layers = 6,
            FeedForward = 1536,
            MaxPositions = MiniLmL6MaxPositions,
            Classes = classes,
            PadId = 0,
            SepId = 102,
        };

        public void Validate()
        {
            if (VocabularySize <= 0 || Width <= 0 || Heads <= 0 || Layers < 1 || FeedForward <= 0 || MaxPositions < 3 || Classes < 2)
                throw new ArgumentOutOfRangeException(nameof(BertShape), this, "Invalid BERT encoder shape.");
            if (Width % Heads != 0)
                throw new ArgumentException($"The width {Width} is not a multiple of the head count {Heads}.");
            if (HiddenDropout < 0 || HiddenDropout >= 1 || AttentionDropout < 0 || AttentionDropout >= 1)
                throw new ArgumentOutOfRangeException(nameof(HiddenDropout), "Dropout must be in [0, 1).");
        }

        public override string ToString() =>
            $"{Layers} post-LN layers, width {Width}, {Heads} heads, FFN {FeedForward}, vocabulary {VocabularySize}, {Pooling} pooling, " +
            $"dropout {HiddenDropout}/{AttentionDropout} (hidden/attention)";
    }
}
