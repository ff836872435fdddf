using System;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using A = Microsoft.ML.MixedPrecision.Export.OnnxGraphBuilder;

namespace Microsoft.ML.MixedPrecision.Export
{
    /// <summary>
    /// Writes stock TorchSharp layers into an ONNX graph from their current weights, always as FP32 (a network trained
    /// or cast in bfloat16/float16 still exports an FP32 graph that ML.NET's ApplyOnnxModel scores). Eval-mode
    /// semantics. Each method returns the name of the value it produced.
    /// </summary>
    internal static class OnnxLayerExport
    {
        /// <summary>Copies a tensor's values to a new FP32 array (any dtype, device, layout or grad state).</summary>
        public static float[] ToFloatArray(Tensor tensor)
        {
            if (tensor is null)
                throw new ArgumentNullException(nameof(tensor));
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            return tensor.detach().cpu().to(ScalarType.Float32).contiguous().data<float>().ToArray();
        }

        /// <summary>Dispatches on the module type: <see cref="IOnnxExportable"/>, Sequential, or a supported stock layer.</summary>
        public static string Module(OnnxGraphBuilder graph, nn.Module module, string input)
        {
            switch (module)
            {
                case IOnnxExportable custom: return custom.ExportOnnx(graph, input);
                case Sequential seq:
                    string x = input;
                    foreach (nn.Module child in seq.children())
                        x = Module(graph, child, x);
                    return x;
                case Conv2d conv: return Conv2d(graph, conv, input);
                case BatchNorm2d bn: return BatchNorm2d(graph, bn, input);
                case ReLU: return Relu(graph, input);
                case MaxPool2d pool: return MaxPool2d(graph, pool, input);
                case AdaptiveAvgPool2d pool: return AdaptiveAvgPool2d(graph, pool, input);
                case TorchSharp.Modules.Flatten flatten:
                    if (flatten.start_dim != 1 || flatten.end_dim != -1)
                        throw new NotSupportedException("Only Flatten(1, -1) is exported.");
                    return Flatten(graph, input);
                case Linear linear: return Linear(graph, linear, input);
                case Identity: return input;
                case Dropout: return input; // Identity at inference.
                default:
                    throw new NotSupportedException($"ONNX export of module type {module.GetType().Name} is not supported.");
            }
        }

        public static string Conv2d(OnnxGraphBuilder graph, Conv2d conv, string input)
        {
            if (conv.transposed)
                throw new NotSupportedException("Transposed convolutions are not exported.");
            if (conv.padding_mode != PaddingModes.Zeros)
                throw new NotSupportedException($"Conv2d padding mode {conv.padding_mode} is not exported (only zeros).");

            long[] kernel = conv.kernel_size;
            long[] dilation = conv.dilation ?? new long[] { 1, 1 };
            string w = graph.AddInitializer("conv_w", ToFloatArray(conv.weight), conv.weight.shape);
            string[] inputs = conv.bias is null
                ? new[] { input, w }
                : new[] { input, w, graph.AddInitializer("conv_b", ToFloatArray(conv.bias), conv.bias.shape) };
            return graph.Add("Conv", "conv", inputs,
                A.Attr("kernel_shape", kernel),
                A.Attr("strides", conv.stride ?? new long[] { 1, 1 }),
                A.Attr("pads", ConvPads(conv, kernel, dilation)),
                A.Attr("dilations", dilation),
                A.Attr("group", conv.groups));
        }

        /// <summary>Eval-mode BatchNorm: ONNX BatchNormalization over the running statistics.</summary>
        public static string BatchNorm2d(OnnxGraphBuilder graph, BatchNorm2d bn, string input)
        {
            if (bn.running_mean is null || bn.running_var is null)
                throw new NotSupportedException("BatchNorm without running statistics normalizes by batch statistics at inference; not exported.");
            long c = bn.num_features;
            float[] scale = bn.weight is null ? Enumerable.Repeat(1f, (int)c).ToArray() : ToFloatArray(bn.weight);
            float[] shift = bn.bias is null ? new float[c] : ToFloatArray(bn.bias);
            string[] inputs =
            {
                input,
                graph.AddInitializer("bn_scale", scale, c),
                graph.AddInitializer("bn_bias", shift, c),
                graph.AddInitializer("bn_mean", ToFloatArray(bn.running_mean), c),
                graph.AddInitializer("bn_var", ToFloatArray(bn.running_var), c),
            };
            return graph.Add("BatchNormalization", "bn", inputs, A.Attr("epsilon", (float)bn.eps));
        }

        public static string Relu(OnnxGraphBuilder graph, string input) => graph.Add("Relu", "relu", new[] { input });

        public static string MaxPool2d(OnnxGraphBuilder graph, MaxPool2d pool, string input)
        {
            long[] kernel = Pair(pool.kernel_size);
            long[] stride = pool.stride is null || pool.stride.Length == 0 ? kernel : Pair(pool.stride);
            long[] pad = pool.padding is null || pool.padding.Length == 0 ? new long[] { 0, 0 } : Pair(pool.padding);
            long[] dilation = pool.dilation is null || pool.dilation.Length == 0 ? new long[] { 1, 1 } : Pair(pool.dilation);
            return graph.Add("MaxPool", "maxpool", new[] { input },
                A.Attr("kernel_shape", kernel),
                A.Attr("strides", stride),
                A.Attr("pads", pad[0], pad[1], pad[0], pad[1]),
                A.Attr("dilations", dilation),
                A.Attr("ceil_mode", pool.ceil_mode ? 1L : 0L));
        }

        /// <summary>Only the global case (output size 1×1) is exported, as GlobalAveragePool.</summary>
        public static string AdaptiveAvgPool2d(OnnxGraphBuilder graph, AdaptiveAvgPool2d pool, string input)
        {
            if (pool.output_size is null || pool.output_size.Any(s => s != 1))
                throw new NotSupportedException("Only AdaptiveAvgPool2d(1) is exported.");
            return GlobalAveragePool(graph, input);
        }

        public static string GlobalAveragePool(OnnxGraphBuilder graph, string input)
            => graph.Add("GlobalAveragePool", "gap", new[] { input });

        /// <summary>[N, d1, d2, ...] → [N, d1·d2·...], like <c>flatten(1)</c>.</summary>
        public static string Flatten(OnnxGraphBuilder graph, string input, long axis = 1)
            => graph.Add("Flatten", "flatten", new[] { input }, A.Attr("axis", axis));

        /// <summary>y = x·Wᵀ + b as Gemm(transB = 1); the input must be 2-D [N, in_features].</summary>
        public static string Linear(OnnxGraphBuilder graph, Linear linear, string input)
        {
            string w = graph.AddInitializer("fc_w", ToFloatArray(linear.weight), linear.weight.shape);
            string[] inputs = linear.bias is null
                ? new[] { input, w }
                : new[] { input, w, graph.AddInitializer("fc_b", ToFloatArray(linear.bias), linear.bias.shape) };
            return graph.Add("Gemm", "gemm", inputs, A.Attr("transB", 1L));
        }

        /// <summary>LayerNorm over the last dimension as ONNX LayerNormalization (opset 17+).</summary>
        public static string LayerNorm(OnnxGraphBuilder graph, LayerNorm norm, string input)
        {
            if (norm.normalized_shape.Length != 1)
                throw new NotSupportedException("Only LayerNorm over the last dimension is exported.");
            long c = norm.normalized_shape[0];
            float[] scale = norm.weight is null ? Enumerable.Repeat(1f, (int)c).ToArray() : ToFloatArray(norm.weight);
            string[] inputs = norm.bias is null
                ? new[] { input, graph.AddInitializer("ln_scale", scale, c) }
                : new[] { input, graph.AddInitializer("ln_scale", scale, c), graph.AddInitializer("ln_bias", ToFloatArray(norm.bias), c) };
            return graph.Add("LayerNormalization", "ln", inputs, A.Attr("axis", -1L), A.Attr("epsilon", (float)norm.eps));
        }

        /// <summary>Row lookup: <c>Gather(weight, ids)</c>; ids are int64.</summary>
        public static string Embedding(OnnxGraphBuilder graph, Embedding embedding, string ids)
        {
            string w = graph.AddInitializer("emb_w", ToFloatArray(embedding.weight!), embedding.weight!.shape);
            return graph.Add("Gather", "emb", new[] { w, ids }, A.Attr("axis", 0L));
        }

        /// <summary>Exact (erf) GELU, ONNX Gelu (opset 20).</summary>
        public static string Gelu(OnnxGraphBuilder graph, string input) => graph.Add("Gelu", "gelu", new[] { input });

        public static string Add(OnnxGraphBuilder graph, string a, string b) => graph.Add("Add", "add", new[] { a, b });

        public static string Sub(OnnxGraphBuilder graph, string a, string b) => graph.Add("Sub", "sub", new[] { a, b });

        public static string Div(OnnxGraphBuilder graph, string a, string b) => graph.Add("Div", "div", new[] { a, b });

        public static string Softmax(OnnxGraphBuilder graph, string input, long axis = -1, string? outputName = null)
        {
            var attrs = new[] { A.Attr("axis", axis) };
            return outputName is null
                ? graph.Add("Softmax", "softmax", new[] { input }, attrs)
                : graph.AddNode("Softmax", new[] { input }, new[] { outputName }, attrs, exactOutputNames: true)[0];
        }

        // ONNX pads are [top, left, bottom, right]. padding="same" puts the odd extra pixel at the end, like PyTorch.
        private static long[] ConvPads(Conv2d conv, long[] kernel, long[] dilation)
        {
            if (conv.padding_type == Padding.Same)
            {
                long[] stride = conv.stride ?? new long[] { 1, 1 };
                if (stride.Any(s => s != 1))
                    throw new NotSupportedException("padding='same' requires stride 1.");
                long totalH = dilation[0] * (kernel[0] - 1), totalW = dilation[1] * (kernel[1] - 1);
                return new[] { totalH / 2, totalW / 2, totalH - totalH / 2, totalW - totalW / 2 };
            }
            if (conv.padding_type == Padding.Valid || conv.padding is null)
                return new long[] { 0, 0, 0, 0 };
            long[] p = Pair(conv.padding);
            return new[] { p[0], p[1], p[0], p[1] };
        }

        private static long[] Pair(long[] values) => values.Length == 1 ? new[] { values[0], values[0] } : values;
    }
}
