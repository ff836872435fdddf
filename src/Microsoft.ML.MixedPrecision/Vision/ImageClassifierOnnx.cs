using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;
using Microsoft.ML.MixedPrecision.Vision;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>
    /// Exports a trained <see cref="ResNet"/> as an FP32 ONNX graph: input float [batch, C, H, W] pixels in [0, 1]
    /// (normalization is inside the graph), value <c>logitsName</c> float [batch, classes]. The caller appends its own
    /// head (Softmax, ArgMax, label mapping) and declares the outputs.
    /// </summary>
    internal static class ImageClassifierOnnx
    {
        /// <summary>Name of the symbolic batch dimension when <c>symbolicBatch</c> is set.</summary>
        public const string BatchDimName = "N";

        /// <summary>
        /// Builds the graph. The batch dimension is fixed at 1, or symbolic <see cref="BatchDimName"/> when
        /// <paramref name="symbolicBatch"/> is set. The model is exported in eval mode; its training mode is restored.
        /// </summary>
        public static OnnxGraphBuilder Build(ResNet model, int channels, int height, int width, string inputName,
            out string logitsName, bool symbolicBatch = false)
        {
            if (model is null)
                throw new ArgumentNullException(nameof(model));
            if (string.IsNullOrEmpty(inputName))
                throw new ArgumentException("An input name is required.", nameof(inputName));
            if (channels != model.InputChannels)
                throw new ArgumentException($"The model takes {model.InputChannels} channels, not {channels}.", nameof(channels));
            if (height <= 0 || width <= 0)
                throw new ArgumentOutOfRangeException(nameof(height), "Image height and width must be positive.");

            var graph = new OnnxGraphBuilder(model.Architecture.ToString());
            graph.AddMetadata("architecture", model.Architecture.ToString());
            graph.AddMetadata("layout", model.Layout.Describe()); // which network, whatever file a pretrained one came from
            graph.AddMetadata("classes", model.NumClasses.ToString(System.Globalization.CultureInfo.InvariantCulture));
            graph.AddInput(inputName, TensorProto.Types.DataType.Float, new long?[] { Batch(symbolicBatch), channels, height, width },
                BatchNames(symbolicBatch));

            // BatchNorm must be read as its running statistics. Each module's own flag is restored afterwards (pre-order,
            // so a recursive train(flag) on a parent is corrected by its children), which keeps e.g. frozen BN in eval.
            List<(nn.Module Module, bool Training)> modes = model.modules().Prepend(model).Select(m => (m, m.training)).ToList();
            model.eval();
            try
            {
                logitsName = model.ExportOnnx(graph, inputName);
            }
            finally
            {
                foreach ((nn.Module module, bool training) in modes)
                    module.train(training);
            }
            return graph;
        }

        /// <summary>
        /// Appends Softmax over the class axis of <paramref name="logitsName"/> and declares it as graph output
        /// <paramref name="outputName"/>, float [batch, classes].
        /// </summary>
        public static string AddSoftmaxOutput(OnnxGraphBuilder graph, string logitsName, int numClasses, string outputName,
            bool symbolicBatch = false)
        {
            string probs = OnnxLayerExport.Softmax(graph, logitsName, axis: 1, outputName: outputName);
            graph.AddOutput(probs, TensorProto.Types.DataType.Float, new long?[] { Batch(symbolicBatch), numClasses }, BatchNames(symbolicBatch));
            return probs;
        }

        /// <summary>Convenience: the whole classifier with a Softmax output, serialized.</summary>
        public static byte[] ExportWithSoftmax(ResNet model, int height, int width, string inputName, string outputName,
            bool symbolicBatch = false)
        {
            OnnxGraphBuilder graph = Build(model, model.InputChannels, height, width, inputName, out string logits, symbolicBatch);
            AddSoftmaxOutput(graph, logits, model.NumClasses, outputName, symbolicBatch);
            return graph.ToBytes();
        }

        private static long? Batch(bool symbolic) => symbolic ? (long?)null : 1L;

        private static string[]? BatchNames(bool symbolic) => symbolic ? new[] { BatchDimName } : null;
    }
}
