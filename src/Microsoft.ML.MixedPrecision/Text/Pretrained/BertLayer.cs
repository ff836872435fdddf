using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>
    /// BERT's post-LN encoder layer: h = LN(x + Attention(x)), y = LN(h + FFN(h)) with an erf-GELU feed-forward.
    /// Under CPU autocast the matmuls run in bf16; the residual sums promote to float32, so LayerNorm runs in float32.
    /// </summary>
    internal sealed class BertLayer : nn.Module<Tensor, Tensor, Tensor>
    {
        private readonly MultiHeadSelfAttention attention;
        private readonly LayerNorm attentionNorm;
        private readonly Linear fc1;
        private readonly Linear fc2;
        private readonly LayerNorm outputNorm;
        private readonly UniformMaskDropout dropout;

        public BertLayer(BertShape shape) : base(nameof(BertLayer))
        {
            attention = new MultiHeadSelfAttention(shape.Width, shape.Heads, shape.AttentionDropout);
            attentionNorm = nn.LayerNorm(shape.Width, shape.LayerNormEpsilon);
            fc1 = nn.Linear(shape.Width, shape.FeedForward);
            fc2 = nn.Linear(shape.FeedForward, shape.Width);
            outputNorm = nn.LayerNorm(shape.Width, shape.LayerNormEpsilon);
            dropout = new UniformMaskDropout(shape.HiddenDropout);
            RegisterComponents();
        }

        internal MultiHeadSelfAttention Attention => attention;
        internal LayerNorm AttentionNorm => attentionNorm;
        internal Linear Intermediate => fc1;
        internal Linear Output => fc2;
        internal LayerNorm OutputNorm => outputNorm;

        /// <param name="x">[B, L, D].</param>
        /// <param name="keep">Boolean [B, 1, 1, L]: true for real tokens.</param>
        public override Tensor forward(Tensor x, Tensor keep)
        {
            using var scope = NewDisposeScope();
            Tensor h = attentionNorm.Run(x + dropout.Run(attention.Run(x, keep)));
            Tensor y = outputNorm.Run(h + dropout.Run(fc2.Run(nn.functional.gelu(fc1.Run(h)))));
            return y.MoveToOuterDisposeScope();
        }

        /// <summary>Per-row ONNX: x [L, D], maskBias float [L].</summary>
        public string ExportOnnx(OnnxGraphBuilder graph, string x, string maskBias)
        {
            string h = OnnxLayerExport.LayerNorm(graph, attentionNorm, OnnxLayerExport.Add(graph, x, attention.ExportOnnx(graph, x, maskBias)));
            string hidden = OnnxLayerExport.Gelu(graph, OnnxLayerExport.Linear(graph, fc1, h));
            return OnnxLayerExport.LayerNorm(graph, outputNorm, OnnxLayerExport.Add(graph, h, OnnxLayerExport.Linear(graph, fc2, hidden)));
        }
    }
}
