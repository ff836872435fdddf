using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Workloads
{
    /// <summary>A Transformer encoder's layers at their real shapes for the per-layer FP32 vs bf16 timing: linears, attention, dropout.</summary>
    internal static class TransformerLayerCases
    {
        /// <param name="linears">The encoder layers' Linear modules (grouped by shape).</param>
        /// <param name="dropoutCount">How many dropouts on [batch, length, width] one forward runs.</param>
        public static IEnumerable<LayerCase> Build(IEnumerable<Linear> linears, long batch, long length, long width, long heads, int layers,
            double attentionDropout, double dropout, int dropoutCount)
        {
            var cases = new List<LayerCase>();
            foreach (var g in linears.GroupBy(l => (In: l.weight.shape[1], Out: l.weight.shape[0])))
            {
                var (inFeatures, outFeatures) = g.Key;
                cases.Add(new LayerCase($"linear {inFeatures}->{outFeatures}, {batch}x{length} tokens", g.Count(), dtype =>
                {
                    var x = LayerSpeed.Leaf(new[] { batch * length, inFeatures }, dtype);
                    var w = LayerSpeed.Leaf(new[] { outFeatures, inFeatures }, dtype);
                    var b = LayerSpeed.Leaf(new[] { outFeatures }, dtype);
                    return () =>
                    {
                        using var scope = NewDisposeScope();
                        LayerSpeed.Backward(nn.functional.linear(x, w, b), x, w, b);
                    };
                }));
            }
            // Timed as MultiHeadSelfAttention runs it: with dropout written out, its matmuls in the tensors' dtype; without
            // dropout scaled_dot_product_attention in float32 in both precisions (the bf16 column adds the casts of q, k, v).
            string kind = attentionDropout > 0 ? $"matmuls in the dtype, dropout {attentionDropout}" : "SDPA in float32";
            cases.Add(new LayerCase($"attention ({kind}), {heads} heads", layers, dtype =>
            {
                var shape = new[] { batch, heads, length, width / heads };
                var q = LayerSpeed.Leaf(shape, dtype);
                var k = LayerSpeed.Leaf(shape, dtype);
                var v = LayerSpeed.Leaf(shape, dtype);
                var keep = ones(new[] { batch, 1, 1, length }, ScalarType.Bool);
                ScalarType attentionType = attentionDropout > 0 ? dtype : ScalarType.Float32;
                return () =>
                {
                    using var scope = NewDisposeScope();
                    var attended = MultiHeadSelfAttention.Attend(q.to(attentionType), k.to(attentionType), v.to(attentionType),
                        keep, attentionDropout);
                    LayerSpeed.Backward(attended, q, k, v);
                };
            }));
            cases.Add(new LayerCase($"dropout {dropout} on [{batch}, {length}, {width}]", dropoutCount, dtype =>
            {
                var x = LayerSpeed.Leaf(new[] { batch, length, width }, dtype);
                return () =>
                {
                    using var scope = NewDisposeScope();
                    LayerSpeed.Backward(UniformMaskDropout.Apply(x, dropout), x);
                };
            }));
            return cases;
        }
    }
}
