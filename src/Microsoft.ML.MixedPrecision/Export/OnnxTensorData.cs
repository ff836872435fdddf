using System.Linq;
using System.Runtime.InteropServices;
using Microsoft.ML.MixedPrecision.Export.Proto;

namespace Microsoft.ML.MixedPrecision.Export
{
    /// <summary>Reads the values of an ONNX initializer (what the pretrained-weight imports copy into TorchSharp).</summary>
    internal static class OnnxTensorData
    {
        /// <summary>A float32 initializer's values, stored either as raw little-endian bytes or in float_data.</summary>
        public static float[] Floats(TensorProto tensor)
            => tensor.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray() : tensor.FloatData.ToArray();
    }
}
