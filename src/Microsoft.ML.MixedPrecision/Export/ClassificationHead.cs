using System;
using Microsoft.ML.MixedPrecision.Export.Proto;

namespace Microsoft.ML.MixedPrecision.Export
{
    /// <summary>
    /// Appends the classification head to an exported network: <c>Softmax</c> over the logits, reshaped to a per-row
    /// vector <c>[K]</c>, and <c>ArgMax</c> of it (<c>[1]</c>, int64). Declares exactly these two graph outputs, under
    /// the fixed names below; <see cref="ClassificationOutputChain"/> renames them to the ML.NET column names.
    /// ML.NET feeds ONNX one row at a time, so the graph is per row (batch 1).
    /// </summary>
    internal static class ClassificationHead
    {
        /// <summary>ONNX value name of the probabilities output, float [K].</summary>
        public const string ProbabilitiesName = "classification_head.probabilities";

        /// <summary>ONNX value name of the predicted class index output, int64 [1] (0-based).</summary>
        public const string PredictedIndexName = "classification_head.predicted_index";

        /// <param name="graph">The exported network.</param>
        /// <param name="logitsName">A float value of shape [1, K] (or [B, K] with B = 1 at run time).</param>
        /// <param name="classCount">K, the label's key count.</param>
        public static void Append(OnnxGraphBuilder graph, string logitsName, int classCount)
        {
            if (graph == null)
                throw new ArgumentNullException(nameof(graph));
            if (string.IsNullOrEmpty(logitsName))
                throw new ArgumentException("The logits value name is required.", nameof(logitsName));
            if (classCount < 2)
                throw new ArgumentOutOfRangeException(nameof(classCount), classCount, "A classifier needs at least 2 classes.");

            string softmax = graph.Add("Softmax", "classification_head.softmax", new[] { logitsName }, OnnxGraphBuilder.Attr("axis", -1L));
            string shape = graph.AddInitializer("classification_head.shape", new long[] { classCount }, 1);
            graph.AddNode("Reshape", new[] { softmax, shape }, new[] { ProbabilitiesName }, exactOutputNames: true);
            graph.AddNode("ArgMax", new[] { ProbabilitiesName }, new[] { PredictedIndexName },
                new[] { OnnxGraphBuilder.Attr("axis", 0L), OnnxGraphBuilder.Attr("keepdims", 1L) }, exactOutputNames: true);

            graph.AddOutput(ProbabilitiesName, TensorProto.Types.DataType.Float, new long?[] { classCount });
            graph.AddOutput(PredictedIndexName, TensorProto.Types.DataType.Int64, new long?[] { 1 });
        }
    }
}
