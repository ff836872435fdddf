using System;
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

        /// <summary>
        /// A small numeric tensor's values as doubles (float, double, int32, int64: the constants a graph's shapes, scales
        /// and epsilons are made of), or null for other types.
        /// </summary>
        public static double[]? Numbers(TensorProto tensor)
        {
            var raw = tensor.RawData.Span;
            bool hasRaw = raw.Length > 0;
            return (TensorProto.Types.DataType)tensor.DataType switch
            {
                TensorProto.Types.DataType.Float => Floats(tensor).Select(v => (double)v).ToArray(),
                TensorProto.Types.DataType.Double => hasRaw ? MemoryMarshal.Cast<byte, double>(raw).ToArray() : tensor.DoubleData.ToArray(),
                TensorProto.Types.DataType.Int64 => hasRaw ? MemoryMarshal.Cast<byte, long>(raw).ToArray().Select(v => (double)v).ToArray()
                    : tensor.Int64Data.Select(v => (double)v).ToArray(),
                TensorProto.Types.DataType.Int32 => hasRaw ? MemoryMarshal.Cast<byte, int>(raw).ToArray().Select(v => (double)v).ToArray()
                    : tensor.Int32Data.Select(v => (double)v).ToArray(),
                _ => null,
            };
        }
    }
}
