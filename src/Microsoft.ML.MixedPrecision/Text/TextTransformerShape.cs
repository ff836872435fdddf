using System;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>The hyper-parameters that fix a <see cref="TextTransformer"/>'s weights' shapes.</summary>
    internal sealed class TextTransformerShape
    {
        public int VocabularySize { get; init; }
        public int MaxLength { get; init; }
        public int Width { get; init; }
        public int Heads { get; init; }
        public int Layers { get; init; }
        public int FeedForward { get; init; }
        public double Dropout { get; init; }
        public int Classes { get; init; }
        public TextPooling Pooling { get; init; }
        public bool Segments { get; init; }

        public void Validate()
        {
            if (VocabularySize <= TextTokenizer.SpecialTokenCount)
                throw new ArgumentOutOfRangeException(nameof(VocabularySize), VocabularySize, "The vocabulary holds no token besides the special ones.");
            if (MaxLength < 3 || Width <= 0 || Heads <= 0 || Layers < 0 || FeedForward <= 0 || Classes < 2)
                throw new ArgumentOutOfRangeException(nameof(TextTransformerShape), "Invalid text transformer shape.");
            if (Width % Heads != 0)
                throw new ArgumentException($"The width {Width} is not a multiple of the head count {Heads}.");
            if (Dropout < 0 || Dropout >= 1)
                throw new ArgumentOutOfRangeException(nameof(Dropout), Dropout, "Dropout must be in [0, 1).");
        }

        public override string ToString() =>
            $"{Layers} layers, width {Width}, {Heads} heads, FFN {FeedForward}, max length {MaxLength}, vocabulary {VocabularySize}, {Pooling} pooling" +
            (Segments ? ", sentence pairs" : "");
    }
}
