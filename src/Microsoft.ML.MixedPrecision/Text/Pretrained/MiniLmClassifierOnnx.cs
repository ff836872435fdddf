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
    internal static class MiniLmClassifierOnnx
    {
        /// <summary>Text → logits [1, classes]. The caller appends the head (<c>ClassificationHead.Append</c>).</summary>
        public static OnnxGraphBuilder Build(BertClassifier model, WordPieceTokenizer tokenizer, string inputName, bool pairs, out string logitsName)
        {
            var graph = new OnnxGraphBuilder("TextClassifier");
            graph.AddInput(inputName, TensorProto.Types.DataType.String, new long?[] { 1, pairs ? 2 : 1 });
            string ids = WordPieceOnnx.AddTokenIds(graph, tokenizer, inputName, pairs, out _);
            graph.AddMetadata("classes", model.Shape.Classes.ToString(CultureInfo.InvariantCulture));
            graph.AddMetadata("encoder", "all-MiniLM-L6-v2 fine-tuned: " + model.Shape);
            logitsName = model.ExportOnnx(graph, ids);
            return graph;
        }
    }
}
