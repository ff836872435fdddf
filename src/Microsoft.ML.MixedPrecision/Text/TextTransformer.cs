using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using A = Microsoft.ML.MixedPrecision.Export.OnnxGraphBuilder;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>
    /// A Transformer encoder text classifier trained from scratch. Input: token ids [B, L] (int64, 0 = padding, from
    /// <see cref="TextTokenizer"/>). Token + learned position (+ segment, for sentence pairs) embeddings, pre-LN blocks,
    /// final LayerNorm, mean or [CLS] pooling over the real tokens, Linear head → logits [B, classes].
    /// Padding is masked everywhere, so a sentence's logits do not depend on how much padding follows it.
    /// </summary>
    internal sealed class TextTransformer : nn.Module<Tensor, Tensor>, IOnnxExportable
    {
        private readonly Embedding tokens;
        private readonly Embedding positions;
        private readonly Embedding? segments; // sentence pairs only
        private readonly UniformMaskDropout dropout;
        private readonly ModuleList<TransformerBlock> blocks;
        private readonly LayerNorm norm;
        private readonly Linear head;

        public TextTransformer(TextTransformerShape shape) : base(nameof(TextTransformer))
        {
            Shape = shape ?? throw new ArgumentNullException(nameof(shape));
            shape.Validate();
            tokens = nn.Embedding(shape.VocabularySize, shape.Width);
            positions = nn.Embedding(shape.MaxLength, shape.Width);
            if (shape.Segments)
                segments = nn.Embedding(2, shape.Width);
            dropout = new UniformMaskDropout(shape.Dropout);
            blocks = nn.ModuleList(Enumerable.Range(0, shape.Layers)
                .Select(_ => new TransformerBlock(shape.Width, shape.Heads, shape.FeedForward, shape.Dropout)).ToArray());
            norm = nn.LayerNorm(shape.Width);
            head = nn.Linear(shape.Width, shape.Classes);
            RegisterComponents();
            InitializeWeights();
        }

        public TextTransformerShape Shape { get; }

        /// <summary>
        /// dtype of the first block's query/key/value projection output in the latest forward: bfloat16 when the forward ran under CPU
        /// bf16 autocast, float32 otherwise.
        /// </summary>
        public ScalarType? LastActivationDType => blocks.Count == 0 ? null : blocks[0].Attention.LastActivationDType;

        /// <summary>dtype of the first block's feed-forward matmul output in the latest forward.</summary>
        public ScalarType? LastFeedForwardDType => blocks.Count == 0 ? null : blocks[0].LastFeedForwardDType;

        public override Tensor forward(Tensor ids)
        {
            if (ids.dim() != 2)
                throw new ArgumentException($"Expected token ids [B, L], got {ids.dim()} dimensions.", nameof(ids));
            if (ids.shape[1] > Shape.MaxLength)
                throw new ArgumentException($"The sequences have {ids.shape[1]} tokens; the model takes at most {Shape.MaxLength}.", nameof(ids));
            using var scope = NewDisposeScope();
            long batch = ids.shape[0], length = ids.shape[1];
            Tensor keep = TokenSequence.NotPadding(ids, TextTokenizer.PadId);                                     // [B, L]
            Tensor x = tokens.Run(ids) + positions.Run(TokenSequence.Positions(length, ids.device));
            if (segments is not null)
                x = x + segments.Run(TokenSequence.SegmentIds(ids, TextTokenizer.SepId));
            x = dropout.Run(x);
            Tensor keys = keep.view(batch, 1, 1, length);
            foreach (TransformerBlock block in blocks)
                x = block.Run(x, keys);
            x = norm.Run(x);
            Tensor pooled = TokenSequence.Pool(x, keep, Shape.Pooling);
            return head.Run(pooled).MoveToOuterDisposeScope();
        }

        /// <summary>ONNX, per row: <paramref name="input"/> int64 ids [1, L] (any L up to MaxLength) → logits [1, classes].</summary>
        public string ExportOnnx(OnnxGraphBuilder graph, string input)
        {
            bool wasTraining = training;
            eval();
            try
            {
                string x = TokenSequence.TokenAndPositionEmbeddings(graph, input, tokens, positions, out string ids); // [L, D]
                if (segments is not null)
                {
                    string segmentIds = TokenSequence.SegmentIds(graph, ids, TextTokenizer.SepId);
                    x = OnnxLayerExport.Add(graph, x, OnnxLayerExport.Embedding(graph, segments, segmentIds));
                }

                string keep = TokenSequence.Keep(graph, ids, TextTokenizer.PadId, out string maskBias);

                foreach (TransformerBlock block in blocks)
                    x = block.ExportOnnx(graph, x, maskBias);
                x = OnnxLayerExport.LayerNorm(graph, norm, x);                                   // [L, D]
                string pooled = TokenSequence.Pool(graph, x, keep, Shape.Pooling);
                return OnnxLayerExport.Linear(graph, head, pooled);                              // [1, classes]
            }
            finally
            {
                if (wasTraining)
                    train();
            }
        }

        private void InitializeWeights()
        {
            // BERT's scheme: N(0, 0.02) for embeddings and linear weights, zero biases, LayerNorm 1/0.
            using var noGrad = no_grad();
            foreach (var module in modules())
            {
                switch (module)
                {
                    case Linear linear:
                        nn.init.normal_(linear.weight, 0, 0.02);
                        if (linear.bias is not null)
                            nn.init.zeros_(linear.bias);
                        break;
                    case Embedding embedding:
                        nn.init.normal_(embedding.weight, 0, 0.02);
                        break;
                }
            }
        }
    }
}
