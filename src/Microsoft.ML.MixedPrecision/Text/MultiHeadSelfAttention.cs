using System;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using A = Microsoft.ML.MixedPrecision.Export.OnnxGraphBuilder;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>
    /// Multi-head self-attention over [B, L, D] with a key padding mask. The projections are Linear (bf16 under autocast).
    /// Without attention dropout (scoring, or AttentionDropout 0) the attention is scaled_dot_product_attention, in float32
    /// on a CPU even under autocast: libtorch 2.10's fused CPU bf16 attention kernels are slower than its float32 ones at
    /// these head sizes (fwd + bwd, measured by the benchmark's layer table: 45.6 vs 12.1 ms for 12 heads of 32 × 40
    /// tokens, 4.9 vs 4.6 ms for 2 heads of 64). With dropout it is written out (<see cref="Attend"/>), and there the two
    /// batched matmuls run in the activations' dtype, bf16 under autocast as PyTorch's rules have it, about twice as fast
    /// as float32 (docs/decisions/2026-12-03-attention-bf16.md).
    /// </summary>
    internal sealed class MultiHeadSelfAttention : nn.Module<Tensor, Tensor, Tensor>
    {
        private readonly Linear qkv;
        private readonly Linear proj;
        private readonly int _heads;
        private readonly int _width;
        private readonly double _dropout;

        public MultiHeadSelfAttention(int width, int heads, double dropout) : base(nameof(MultiHeadSelfAttention))
        {
            if (width % heads != 0)
                throw new ArgumentException($"The width {width} is not a multiple of the head count {heads}.");
            _width = width;
            _heads = heads;
            _dropout = dropout;
            qkv = nn.Linear(width, 3 * width);
            proj = nn.Linear(width, width);
            RegisterComponents();
        }

        /// <summary>The fused query, key, value projection: rows [q; k; v], each in head order (what a pretrained import fills).</summary>
        internal Linear QueryKeyValue => qkv;

        /// <summary>The output projection.</summary>
        internal Linear Output => proj;

        /// <summary>dtype of the query/key/value projection's output in the latest forward: bfloat16 under CPU autocast.</summary>
        public ScalarType? LastActivationDType { get; private set; }

        /// <param name="x">[B, L, D].</param>
        /// <param name="keep">Boolean [B, 1, 1, L]: true for real tokens (keys that may be attended to).</param>
        public override Tensor forward(Tensor x, Tensor keep)
        {
            using var scope = NewDisposeScope();
            long batch = x.shape[0], length = x.shape[1];
            long headWidth = _width / _heads;
            // [B, L, 3, H, Dh] → [3, B, H, L, Dh]
            Tensor projected = qkv.Run(x);
            LastActivationDType = projected.dtype;
            Tensor parts = projected.view(batch, length, 3, _heads, headWidth).permute(2, 0, 3, 1, 4);
            double dropout = training ? _dropout : 0.0;
            Tensor attended;
            if (x.device.type == DeviceType.CPU && projected.dtype != ScalarType.Float32 && dropout <= 0)
            {
                using (new Autocast(DeviceType.CPU, enabled: false))
                    attended = Attend(parts[0].to(ScalarType.Float32), parts[1].to(ScalarType.Float32), parts[2].to(ScalarType.Float32), keep, dropout);
            }
            else
            {
                attended = Attend(parts[0], parts[1], parts[2], keep, dropout);
            }
            Tensor merged = attended.transpose(1, 2).reshape(batch, length, _width);
            return proj.Run(merged).MoveToOuterDisposeScope();
        }

        /// <summary>
        /// softmax(q kᵀ / √d + mask) v over [B, H, L, Dh]. Without dropout it is scaled_dot_product_attention (its fused CPU
        /// kernel); with dropout libtorch would take its unfused math path anyway, and that path's dropout is bernoulli_, so
        /// the same math is written out here with <see cref="UniformMaskDropout"/> on the attention weights. The matmuls run
        /// in q, k, v's dtype; the softmax and the dropout in float32 (more precise than autocast needs, and no slower).
        /// </summary>
        internal static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor keep, double dropout)
        {
            if (dropout <= 0)
                return nn.functional.scaled_dot_product_attention(q, k, v, keep);
            using var scope = NewDisposeScope();
            // Scalars held in variables: an implicit conversion's temporary can be finalized by the GC while libtorch
            // still reads it (seen once in a long benchmark run: masked_fill read a freed Scalar).
            using Scalar scale = 1.0 / Math.Sqrt(q.shape[^1]), masked = float.NegativeInfinity;
            Tensor scores = q.mul(scale).matmul(k.transpose(-2, -1));
            Tensor weights = scores.masked_fill(keep.logical_not(), masked).softmax(-1, ScalarType.Float32);
            return UniformMaskDropout.Apply(weights, dropout).to(v.dtype).matmul(v).MoveToOuterDisposeScope();
        }

        /// <summary>Per-row ONNX: <paramref name="x"/> [L, D], <paramref name="maskBias"/> float [L] (0 or -1e9 per key).</summary>
        public string ExportOnnx(OnnxGraphBuilder graph, string x, string maskBias)
        {
            long headWidth = _width / _heads;
            string qkvOut = OnnxLayerExport.Linear(graph, qkv, x);                                            // [L, 3D]
            string split = graph.Add("Reshape", "att_split", new[] { qkvOut, graph.AddInitializer("att_shape", new long[] { 0, 3, _heads, headWidth }, 4) });
            string heads = graph.Add("Transpose", "att_heads", new[] { split }, A.Attr("perm", 1L, 2L, 0L, 3L)); // [3, H, L, Dh]
            string q = Pick(graph, heads, 0), k = Pick(graph, heads, 1), v = Pick(graph, heads, 2);
            string kT = graph.Add("Transpose", "att_kT", new[] { k }, A.Attr("perm", 0L, 2L, 1L));
            string scores = graph.Add("MatMul", "att_scores", new[] { q, kT });                                  // [H, L, L]
            string scale = graph.AddInitializer("att_scale", new[] { (float)(1.0 / Math.Sqrt(headWidth)) }, 1);
            string scaled = graph.Add("Mul", "att_scaled", new[] { scores, scale });
            string masked = graph.Add("Add", "att_masked", new[] { scaled, maskBias });
            string weights = OnnxLayerExport.Softmax(graph, masked, axis: -1);
            string attended = graph.Add("MatMul", "att_out", new[] { weights, v });                              // [H, L, Dh]
            string byToken = graph.Add("Transpose", "att_tokens", new[] { attended }, A.Attr("perm", 1L, 0L, 2L));
            string merged = graph.Add("Reshape", "att_merged", new[] { byToken, graph.AddInitializer("att_merge", new long[] { 0, _width }, 2) });
            return OnnxLayerExport.Linear(graph, proj, merged);
        }

        private static string Pick(OnnxGraphBuilder graph, string heads, long index)
            => graph.Add("Gather", "att_part", new[] { heads, graph.AddInitializer("att_index", new[] { index }) }, A.Attr("axis", 0L));
    }
}
