using System.Collections.Generic;
using Microsoft.ML.MixedPrecision.Export.Proto;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>A Linear layer as an ONNX export stores it: MatMul by <see cref="Weight"/> [in, out], then Add <see cref="Bias"/> [out].</summary>
    internal sealed record OnnxLinear(TensorProto Weight, TensorProto Bias);

    /// <summary>A LayerNorm over the last axis: scale and bias [width] and its epsilon.</summary>
    internal sealed record OnnxLayerNorm(TensorProto Scale, TensorProto Bias, double Epsilon);

    /// <summary>One post-LN BERT layer's weights, found by where they sit in the graph.</summary>
    internal sealed record OnnxBertLayer(
        OnnxLinear Query, OnnxLinear Key, OnnxLinear Value, OnnxLinear AttentionOutput, OnnxLayerNorm AttentionNorm,
        OnnxLinear Intermediate, OnnxLinear Output, OnnxLayerNorm OutputNorm);

    /// <summary>
    /// A BERT-family encoder read out of an ONNX graph by <see cref="BertOnnxReader"/>: its embedding tables, layers and
    /// the shape they imply (the head count is read from the attention's Reshape, the rest from the weights' sizes).
    /// </summary>
    internal sealed class BertOnnxLayout
    {
        public BertOnnxLayout(TensorProto words, TensorProto positions, TensorProto? tokenTypes, OnnxLayerNorm embeddingNorm,
            IReadOnlyList<OnnxBertLayer> layers, int heads)
        {
            Words = words;
            Positions = positions;
            TokenTypes = tokenTypes;
            EmbeddingNorm = embeddingNorm;
            Layers = layers;
            Heads = heads;
        }

        public TensorProto Words { get; }
        public TensorProto Positions { get; }

        /// <summary>Null when the graph adds no token-type embedding: the encoder then starts from zeros for both types.</summary>
        public TensorProto? TokenTypes { get; }

        public OnnxLayerNorm EmbeddingNorm { get; }
        public IReadOnlyList<OnnxBertLayer> Layers { get; }
        public int Heads { get; }

        public int VocabularySize => (int)Words.Dims[0];
        public int Width => (int)Words.Dims[1];
        public int MaxPositions => (int)Positions.Dims[0];
        public int TokenTypeCount => TokenTypes == null ? 2 : (int)TokenTypes.Dims[0];
        public int FeedForward => (int)Layers[0].Intermediate.Weight.Dims[1];

        /// <summary>The classifier's shape for <paramref name="classes"/> classes; dropout, pooling and special ids are the caller's.</summary>
        public BertShape Shape(int classes) => new BertShape
        {
            VocabularySize = VocabularySize,
            Width = Width,
            Heads = Heads,
            Layers = Layers.Count,
            FeedForward = FeedForward,
            MaxPositions = MaxPositions,
            TokenTypes = TokenTypeCount,
            LayerNormEpsilon = EmbeddingNorm.Epsilon,
            Classes = classes,
        };

        public override string ToString() =>
            $"{Layers.Count} post-LN layers, width {Width}, {Heads} heads, FFN {FeedForward}, vocabulary {VocabularySize}, " +
            $"{MaxPositions} positions, {(TokenTypes == null ? "no" : TokenTypeCount.ToString())} token types, LayerNorm epsilon {EmbeddingNorm.Epsilon:G3}";
    }
}
