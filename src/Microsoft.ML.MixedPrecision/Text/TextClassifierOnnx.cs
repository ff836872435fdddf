using System;
using System.Globalization;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;
using Microsoft.ML.MixedPrecision.Text;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>
    /// Exports a trained <see cref="TextTransformer"/> as an FP32 ONNX graph, per row (ML.NET feeds one row at a time).
    /// The classifier graph takes the raw text — string [1, 1], or [1, 2] for sentence pairs — and tokenizes it inside
    /// the graph (<see cref="TextTokenizerOnnx"/>), so a saved model needs nothing but stock ML.NET and ONNX Runtime.
    /// </summary>
    internal static class TextClassifierOnnx
    {
        /// <summary>Text → logits [1, classes]. The caller appends the head (<c>ClassificationHead.Append</c>).</summary>
        public static OnnxGraphBuilder Build(TextTransformer model, TextTokenizer tokenizer, string inputName, out string logitsName)
        {
            OnnxGraphBuilder graph = TokenIdGraph(tokenizer, inputName, out string ids);
            graph.AddMetadata("classes", model.Shape.Classes.ToString(CultureInfo.InvariantCulture));
            graph.AddMetadata("encoder", model.Shape.ToString());
            logitsName = model.ExportOnnx(graph, ids);
            return graph;
        }

        /// <summary>Text → token ids [1, MaxLength] only (what the tokenizer parity test runs).</summary>
        public static OnnxGraphBuilder TokenIdGraph(TextTokenizer tokenizer, string inputName, out string idsName)
        {
            if (tokenizer == null)
                throw new ArgumentNullException(nameof(tokenizer));
            var graph = new OnnxGraphBuilder("TextClassifier");
            graph.AddInput(inputName, TensorProto.Types.DataType.String, new long?[] { 1, tokenizer.Pairs ? 2 : 1 });
            idsName = TextTokenizerOnnx.AddTokenIds(graph, tokenizer, inputName);
            return graph;
        }

        /// <summary>Token ids int64 [1, L] (symbolic L) → logits [1, classes], declared as outputs; for parity tests.</summary>
        public static byte[] EncoderOnly(TextTransformer model, string inputName, string outputName)
        {
            var graph = new OnnxGraphBuilder("TextEncoder");
            graph.AddInput(inputName, TensorProto.Types.DataType.Int64, new long?[] { 1, null }, new[] { null, "L" });
            string logits = model.ExportOnnx(graph, inputName);
            graph.AddNode("Identity", new[] { logits }, new[] { outputName }, exactOutputNames: true);
            graph.AddOutput(outputName, TensorProto.Types.DataType.Float, new long?[] { 1, model.Shape.Classes });
            return graph.ToBytes();
        }
    }
}
