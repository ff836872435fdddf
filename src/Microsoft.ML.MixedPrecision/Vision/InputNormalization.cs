using System;
using Microsoft.ML.MixedPrecision.Export;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>
    /// First layer of the image networks: <c>(x - mean) / std</c> per channel on pixels scaled to [0, 1] (planar CHW).
    /// It lives inside the network, not in the data pipeline, so the exported ONNX graph takes the same raw pixels.
    /// </summary>
    internal sealed class InputNormalization : nn.Module<Tensor, Tensor>, IOnnxExportable
    {
        // Persistent buffers: they travel with state_dict/save and follow module.to(device/dtype).
        private readonly Tensor mean;
        private readonly Tensor std;

        public InputNormalization(int channels, float defaultMean = 0.5f, float defaultStd = 0.5f) : base(nameof(InputNormalization))
        {
            if (channels <= 0)
                throw new ArgumentOutOfRangeException(nameof(channels));
            Channels = channels;
            using Scalar meanValue = defaultMean, stdValue = defaultStd; // held: TorchSharp does not keep a Scalar alive in the call
            mean = torch.full(new long[] { 1, channels, 1, 1 }, meanValue, dtype: ScalarType.Float32);
            std = torch.full(new long[] { 1, channels, 1, 1 }, stdValue, dtype: ScalarType.Float32);
            register_buffer(nameof(mean), mean);
            register_buffer(nameof(std), std);
        }

        public int Channels { get; }

        /// <summary>Sets the per-channel statistics; a single value applies to every channel.</summary>
        public void Set(float[] channelMean, float[] channelStd)
        {
            float[] m = Expand(channelMean, nameof(channelMean));
            float[] s = Expand(channelStd, nameof(channelStd));
            foreach (float v in s)
            {
                if (!(v > 0f) || float.IsInfinity(v))
                    throw new ArgumentException("Standard deviations must be positive and finite.", nameof(channelStd));
            }
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            mean.copy_(torch.tensor(m).reshape(1, Channels, 1, 1));
            std.copy_(torch.tensor(s).reshape(1, Channels, 1, 1));
        }

        /// <summary>Current per-channel mean and standard deviation (FP32 copies).</summary>
        public (float[] Mean, float[] Std) Get() => (OnnxLayerExport.ToFloatArray(mean), OnnxLayerExport.ToFloatArray(std));

        public override Tensor forward(Tensor input)
        {
            // Plain elementwise ops: autocast leaves them in the input's dtype (FP32 pixels stay FP32).
            using var centered = input - mean;
            return centered / std;
        }

        public string ExportOnnx(OnnxGraphBuilder graph, string input)
        {
            long[] dims = { 1, Channels, 1, 1 };
            string meanName = graph.AddInitializer("input_mean", OnnxLayerExport.ToFloatArray(mean), dims);
            string stdName = graph.AddInitializer("input_std", OnnxLayerExport.ToFloatArray(std), dims);
            string centered = OnnxLayerExport.Sub(graph, input, meanName);
            return OnnxLayerExport.Div(graph, centered, stdName);
        }

        private float[] Expand(float[] values, string paramName)
        {
            if (values == null)
                throw new ArgumentNullException(paramName);
            if (values.Length == Channels)
                return (float[])values.Clone();
            if (values.Length == 1)
            {
                var all = new float[Channels];
                Array.Fill(all, values[0]);
                return all;
            }
            throw new ArgumentException($"Expected 1 or {Channels} values, got {values.Length}.", paramName);
        }
    }
}
