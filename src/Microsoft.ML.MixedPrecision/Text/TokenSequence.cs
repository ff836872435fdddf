using Microsoft.ML.MixedPrecision.Export;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using A = Microsoft.ML.MixedPrecision.Export.OnnxGraphBuilder;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>
    /// What every text encoder here derives from token ids alone, in TorchSharp for training and in ONNX for scoring, so
    /// both sides agree: the token + position embeddings, which positions are real tokens, the token types of a sentence
    /// pair, and the sentence vector.
    /// </summary>
    internal static class TokenSequence
    {
        // Rooted Scalars: TorchSharp passes a Scalar's handle to libtorch without keeping the Scalar alive, so an
        // implicit-conversion temporary can be finalized while the native call still reads it.
        private static readonly Scalar Zero = 0L, One = 1L;

        /// <summary>Positions 0 … length − 1 as int64 [length] (arange with Scalars that outlive the call).</summary>
        public static Tensor Positions(long length, Device device)
        {
            using Scalar end = length;
            return arange(Zero, end, One, ScalarType.Int64, device);
        }

        /// <summary>Which ids are real tokens, not <paramref name="padId"/> (ids [B, L] → bool [B, L]).</summary>
        public static Tensor NotPadding(Tensor ids, long padId)
        {
            using Scalar pad = padId;
            return ids.ne(pad);
        }

        /// <summary>Token types: 0 up to and including the first [SEP], 1 after it (ids [B, L] → int64 [B, L]).</summary>
        public static Tensor SegmentIds(Tensor ids, long sepId)
        {
            using Scalar sep = sepId;
            Tensor isSep = ids.eq(sep).to(ScalarType.Int64);
            return (isSep.cumsum(1) - isSep).clamp_max(One);
        }

        /// <summary>The sentence vector from hidden states [B, L, D]: the mean over real tokens, or the first ([CLS]) vector.</summary>
        public static Tensor Pool(Tensor hidden, Tensor keep, TextPooling pooling)
        {
            if (pooling == TextPooling.Cls)
                return hidden.select(1, 0);
            Tensor weights = keep.unsqueeze(-1).to(hidden.dtype);
            return (hidden * weights).sum(1) / weights.sum(1).clamp_min(One);
        }

        /// <summary>
        /// ONNX, per row: <paramref name="input"/> int64 ids [1, L] → the ids as [L] (out) and their token + position
        /// embeddings [L, D] (the positions table sliced to the row's length).
        /// </summary>
        public static string TokenAndPositionEmbeddings(OnnxGraphBuilder graph, string input, Embedding tokens, Embedding positions, out string ids)
        {
            ids = graph.Add("Reshape", "enc_ids", new[] { input, graph.AddInitializer("enc_flat", new long[] { -1 }, 1) });
            string zero = graph.AddInitializer("enc_zero", new long[] { 0 }, 1);
            string length = graph.Add("Shape", "enc_length", new[] { ids });
            string positionTable = graph.AddInitializer("pos_w", OnnxLayerExport.ToFloatArray(positions.weight!), positions.weight!.shape);
            string positionRows = graph.Add("Slice", "enc_pos", new[] { positionTable, zero, length, zero });
            return OnnxLayerExport.Add(graph, OnnxLayerExport.Embedding(graph, tokens, ids), positionRows);
        }

        /// <summary>ONNX, ids int64 [L] → token types int64 [L] (as <see cref="SegmentIds(Tensor, long)"/>).</summary>
        public static string SegmentIds(OnnxGraphBuilder graph, string ids, long sepId)
        {
            string isSep = graph.Add("Cast", "enc_is_sep", new[] { graph.Add("Equal", "enc_eq_sep", new[] { ids, graph.AddInitializer("enc_sep", new[] { sepId }) }) },
                A.Attr("to", (long)Export.Proto.TensorProto.Types.DataType.Int64));
            string before = graph.Add("CumSum", "enc_sep_before", new[] { isSep, graph.AddInitializer("enc_axis", new long[] { 0 }) }, A.Attr("exclusive", 1L));
            return graph.Add("Min", "enc_segment", new[] { before, graph.AddInitializer("enc_one", new long[] { 1 }) });
        }

        /// <summary>
        /// ONNX, ids int64 [L] → keep (float [L], 1 for tokens, 0 for padding) and maskBias (float [L], −1e9 on padded keys:
        /// added to float32 attention scores, exp underflows to 0).
        /// </summary>
        public static string Keep(OnnxGraphBuilder graph, string ids, long padId, out string maskBias)
        {
            string keep = graph.Add("Cast", "enc_keep", new[] { graph.Add("Not", "enc_real", new[] { graph.Add("Equal", "enc_is_pad", new[] { ids, graph.AddInitializer("enc_pad", new[] { padId }) }) }) },
                A.Attr("to", (long)Export.Proto.TensorProto.Types.DataType.Float));
            maskBias = graph.Add("Mul", "enc_mask_bias", new[] { graph.Add("Sub", "enc_is_pad_f", new[] { graph.AddInitializer("enc_onef", new[] { 1f }), keep }), graph.AddInitializer("enc_neg", new[] { -1e9f }) });
            return keep;
        }

        /// <summary>ONNX, hidden float [L, D] and keep float [L] → the sentence vector [1, D].</summary>
        public static string Pool(OnnxGraphBuilder graph, string hidden, string keep, TextPooling pooling)
        {
            string zero = graph.AddInitializer("pool_zero", new long[] { 0 }, 1);
            if (pooling == TextPooling.Cls)
                return graph.Add("Slice", "enc_cls", new[] { hidden, zero, graph.AddInitializer("enc_first", new long[] { 1 }, 1), zero });
            string row = graph.Add("Unsqueeze", "enc_keep_row", new[] { keep, zero });  // [1, L]
            string sum = graph.Add("MatMul", "enc_sum", new[] { row, hidden });         // [1, D]
            string count = graph.Add("Max", "enc_count", new[] { graph.Add("ReduceSum", "enc_tokens", new[] { keep }, A.Attr("keepdims", 1L)), graph.AddInitializer("enc_min_count", new[] { 1f }) });
            return OnnxLayerExport.Div(graph, sum, count);
        }
    }
}
