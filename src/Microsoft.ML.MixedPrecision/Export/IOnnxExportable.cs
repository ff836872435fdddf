namespace Microsoft.ML.MixedPrecision.Export
{
    /// <summary>
    /// A custom TorchSharp module that can write itself into an FP32 ONNX inference graph (eval-mode semantics:
    /// BatchNorm uses running statistics, dropout is identity). Stock layers are handled by <see cref="OnnxLayerExport"/>.
    /// </summary>
    internal interface IOnnxExportable
    {
        /// <summary>Appends this module's nodes reading value <paramref name="input"/>; returns the output value's name.</summary>
        string ExportOnnx(OnnxGraphBuilder graph, string input);
    }
}
