using System.Globalization;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;
using Microsoft.ML.MixedPrecision.Text.Pretrained;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>
    /// Exports a fine-tuned <see cref="BertClassifier"/> as an FP32 ONNX graph, per row, that takes the raw text — string
    /// [1, 1], or [1, 2] for sentence pairs — and runs the WordPiece tokenization inside the graph
    /// (<see cref="WordPieceOnnx"/>), so a saved model needs nothing but stock ML.NET and ONNX Runtime.
    /// </summary>
    internal static class BertClassifierOnnx
    {
        /// <summary>
        /// Text → logits [1, classes]. The caller appends the head (<c>ClassificationHead.Append</c>); <paramref name="description"/>
        /// (what the network is) goes into the graph's "encoder" metadata.
        /// </summary>
        public static OnnxGraphBuilder Build(BertClassifier model, WordPieceTokenizer tokenizer, string inputName, bool pairs, string description,
            out string logitsName)
        {
            var graph = new OnnxGraphBuilder("TextClassifier");
            graph.AddInput(inputName, TensorProto.Types.DataType.String, new long?[] { 1, pairs ? 2 : 1 });
            string ids = WordPieceOnnx.AddTokenIds(graph, tokenizer, inputName, pairs, out _);
            graph.AddMetadata("classes", model.Shape.Classes.ToString(CultureInfo.InvariantCulture));
            graph.AddMetadata("encoder", description);
            logitsName = model.ExportOnnx(graph, ids);
            return graph;
        }
    }
}
