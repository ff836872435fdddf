using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>
    /// Pre-LN Transformer encoder block: x + Attention(LN(x)), then x + FFN(LN(x)) with a GELU feed-forward.
    /// Under autocast the Linear outputs are bf16 while the residual stream stays float32 (bf16 + float32
    /// promotes), and layer_norm runs in its input's dtype, float32, as PyTorch's CPU autocast rules say.
    /// </summary>
    internal sealed class TransformerBlock : nn.Module<Tensor, Tensor, Tensor>
    {
        private readonly LayerNorm norm1;
        private readonly MultiHeadSelfAttention attention;
        private readonly LayerNorm norm2;
        private readonly Linear fc1;
        private readonly Linear fc2;
        private readonly UniformMaskDropout dropout;

        public TransformerBlock(int width, int heads, int feedForward, double dropoutRate) : base(nameof(TransformerBlock))
        {
            norm1 = nn.LayerNorm(width);
            attention = new MultiHeadSelfAttention(width, heads, dropoutRate);
            norm2 = nn.LayerNorm(width);
            fc1 = nn.Linear(width, feedForward);
            fc2 = nn.Linear(feedForward, width);
            dropout = new UniformMaskDropout(dropoutRate);
            RegisterComponents();
        }

        public MultiHeadSelfAttention Attention => attention;

        /// <summary>dtype of the feed-forward's first matmul output in the latest forward.</summary>
        public ScalarType? LastFeedForwardDType { get; private set; }

        public override Tensor forward(Tensor x, Tensor keep)
        {
            using var scope = NewDisposeScope();
            Tensor h = x + dropout.Run(attention.Run(norm1.Run(x), keep));
            Tensor hidden = fc1.Run(norm2.Run(h));
            LastFeedForwardDType = hidden.dtype;
            Tensor y = h + dropout.Run(fc2.Run(nn.functional.gelu(hidden)));
            return y.MoveToOuterDisposeScope();
        }

        /// <summary>Per-row ONNX: x [L, D], maskBias float [L].</summary>
        public string ExportOnnx(OnnxGraphBuilder graph, string x, string maskBias)
        {
            string attended = attention.ExportOnnx(graph, OnnxLayerExport.LayerNorm(graph, norm1, x), maskBias);
            string h = OnnxLayerExport.Add(graph, x, attended);
            string hidden = OnnxLayerExport.Gelu(graph, OnnxLayerExport.Linear(graph, fc1, OnnxLayerExport.LayerNorm(graph, norm2, h)));
            return OnnxLayerExport.Add(graph, h, OnnxLayerExport.Linear(graph, fc2, hidden));
        }
    }
}
