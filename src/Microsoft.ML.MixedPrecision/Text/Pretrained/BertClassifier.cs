using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>
    /// A BERT encoder (word + position + token-type embeddings, LayerNorm, post-LN layers) with a new classification head:
    /// mean or [CLS] pooling, dropout, Linear → logits [B, classes]. Input: WordPiece ids [B, L] (int64, [PAD] = padding,
    /// masked everywhere); the token types of a sentence pair are derived from the first [SEP], as BERT assigns them, so
    /// one id tensor is the whole input in training and in the exported graph.
    /// </summary>
    internal sealed class BertClassifier : nn.Module<Tensor, Tensor>, IOnnxExportable
    {
        private readonly Embedding words;
        private readonly Embedding positions;
        private readonly Embedding tokenTypes;
        private readonly LayerNorm embeddingNorm;
        private readonly UniformMaskDropout dropout;
        private readonly ModuleList<BertLayer> layers;
        private readonly Linear head;

        public BertClassifier(BertShape shape) : base(nameof(BertClassifier))
        {
            Shape = shape ?? throw new ArgumentNullException(nameof(shape));
            shape.Validate();
            words = nn.Embedding(shape.VocabularySize, shape.Width);
            positions = nn.Embedding(shape.MaxPositions, shape.Width);
            tokenTypes = nn.Embedding(shape.TokenTypes, shape.Width);
            embeddingNorm = nn.LayerNorm(shape.Width, shape.LayerNormEpsilon);
            dropout = new UniformMaskDropout(shape.HiddenDropout);
            layers = nn.ModuleList(Enumerable.Range(0, shape.Layers).Select(_ => new BertLayer(shape)).ToArray());
            head = nn.Linear(shape.Width, shape.Classes);
            RegisterComponents();
            using (no_grad())
            {
                // The head is new: BERT's initialization for it; the rest is overwritten by the pretrained import.
                nn.init.normal_(head.weight, 0, 0.02);
                nn.init.zeros_(head.bias);
            }
        }

        public BertShape Shape { get; }

        internal Embedding WordEmbeddings => words;
        internal Embedding PositionEmbeddings => positions;
        internal Embedding TokenTypeEmbeddings => tokenTypes;
        internal LayerNorm EmbeddingNorm => embeddingNorm;
        internal IReadOnlyList<BertLayer> Layers => layers.ToList();

        /// <summary>The classification head's parameters (new, trained at the full learning rate).</summary>
        public IEnumerable<Parameter> HeadParameters() => head.parameters();

        /// <summary>The pretrained encoder's trainable parameters (everything but the head, and the word embeddings unless trained).</summary>
        public IEnumerable<Parameter> EncoderParameters()
        {
            var headParameters = new HashSet<Parameter>(head.parameters(), ReferenceEqualityComparer.Instance);
            return parameters().Where(p => p.requires_grad && !headParameters.Contains(p));
        }

        /// <summary>Keeps the word embeddings as they are (no gradient, no optimizer state), or trains them.</summary>
        public void TrainWordEmbeddings(bool train) => words.weight!.requires_grad = train;

        /// <summary>dtype of the first layer's query/key/value projection output in the latest forward (bfloat16 under CPU autocast).</summary>
        public ScalarType? LastActivationDType => layers[0].Attention.LastActivationDType;

        public override Tensor forward(Tensor ids)
        {
            using var scope = NewDisposeScope();
            Tensor hidden = Encode(ids);
            Tensor pooled = TokenSequence.Pool(hidden, TokenSequence.NotPadding(ids, Shape.PadId), Shape.Pooling);
            return head.Run(dropout.Run(pooled)).MoveToOuterDisposeScope();
        }

        /// <summary>The encoder's last hidden states [B, L, D] (what the ONNX model's last_hidden_state holds).</summary>
        public Tensor Encode(Tensor ids)
        {
            if (ids.dim() != 2)
                throw new ArgumentException($"Expected token ids [B, L], got {ids.dim()} dimensions.", nameof(ids));
            if (ids.shape[1] > Shape.MaxPositions)
                throw new ArgumentException($"The sequences have {ids.shape[1]} tokens; the encoder takes at most {Shape.MaxPositions}.", nameof(ids));
            using var scope = NewDisposeScope();
            long batch = ids.shape[0], length = ids.shape[1];
            Tensor x = words.Run(ids)
                       + positions.Run(TokenSequence.Positions(length, ids.device))
                       + tokenTypes.Run(TokenSequence.SegmentIds(ids, Shape.SepId));
            x = dropout.Run(embeddingNorm.Run(x));
            Tensor keys = TokenSequence.NotPadding(ids, Shape.PadId).view(batch, 1, 1, length);
            foreach (BertLayer layer in layers)
                x = layer.Run(x, keys);
            return x.MoveToOuterDisposeScope();
        }

        /// <summary>ONNX, per row: <paramref name="input"/> int64 ids [1, L] (L up to MaxPositions) → logits [1, classes].</summary>
        public string ExportOnnx(OnnxGraphBuilder graph, string input)
        {
            bool wasTraining = training;
            eval();
            try
            {
                string x = TokenSequence.TokenAndPositionEmbeddings(graph, input, words, positions, out string ids); // [L, D]
                x = OnnxLayerExport.Add(graph, x, OnnxLayerExport.Embedding(graph, tokenTypes, TokenSequence.SegmentIds(graph, ids, Shape.SepId)));
                x = OnnxLayerExport.LayerNorm(graph, embeddingNorm, x);
                string keep = TokenSequence.Keep(graph, ids, Shape.PadId, out string maskBias);
                foreach (BertLayer layer in layers)
                    x = layer.ExportOnnx(graph, x, maskBias);
                return OnnxLayerExport.Linear(graph, head, TokenSequence.Pool(graph, x, keep, Shape.Pooling)); // [1, classes]
            }
            finally
            {
                if (wasTraining)
                    train();
            }
        }
    }
}
