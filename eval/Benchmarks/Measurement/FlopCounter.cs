using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.ML.MixedPrecision.Vision;
using TorchSharp.Modules;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Measurement
{
    /// <summary>
    /// Multiply-add FLOPs (2 per MAC) of a network's convolutions, Linear layers and attention matmuls in one forward
    /// pass, from the layers' own weight shapes and strides. Training counts as 3× forward (backward computes input and
    /// weight gradients), the usual convention for model FLOPs utilization. BatchNorm, activations and the optimizer
    /// are not counted: MFU measures how well the GEMM/conv work uses the machine.
    /// </summary>
    internal static class FlopCounter
    {
        public const double TrainingToForward = 3.0;

        /// <summary>Forward FLOPs of one image of <paramref name="height"/>×<paramref name="width"/>.</summary>
        public static double ResNetForward(ResNet model, int height, int width)
        {
            double flops = 0;
            foreach (var (conv, h, w) in ResNetConvInputs(model, height, width))
            {
                var (oh, ow) = OutputSize(conv, h, w);
                flops += 2.0 * conv.weight.shape[0] * oh * ow * conv.weight.shape[1] * conv.weight.shape[2] * conv.weight.shape[3];
            }
            var fc = model.children().OfType<Linear>().Single();
            flops += 2.0 * fc.weight.shape[0] * fc.weight.shape[1];
            return flops;
        }

        /// <summary>Every convolution of the network with the height and width of its input, in forward order.</summary>
        public static List<(Conv2d Conv, long H, long W)> ResNetConvInputs(ResNet model, int height, int width)
        {
            var convs = new List<(Conv2d, long, long)>();
            var stem = model.children().OfType<Conv2d>().Single();
            convs.Add((stem, height, width));
            var (h, w) = OutputSize(stem, height, width);
            if (model.children().OfType<MaxPool2d>().Any())
                (h, w) = (Out(h, 3, 2, 1, 1), Out(w, 3, 2, 1, 1)); // ResNet18's 3×3/2 max pool
            foreach (var block in model.modules().OfType<BasicBlock>())
            {
                var blockConvs = block.modules().OfType<Conv2d>().ToArray(); // conv1, conv2, then the shortcut's conv if any
                convs.Add((blockConvs[0], h, w));
                var (h1, w1) = OutputSize(blockConvs[0], h, w);
                convs.Add((blockConvs[1], h1, w1));
                if (blockConvs.Length > 2)
                    convs.Add((blockConvs[2], h, w));
                (h, w) = OutputSize(blockConvs[1], h1, w1);
            }
            return convs;
        }

        /// <summary>Forward FLOPs of a batch of <paramref name="batch"/> sequences padded to <paramref name="length"/> tokens.</summary>
        public static double TextForward(TextTransformer model, long batch, long length)
        {
            double flops = 0;
            long rows = batch * length;
            foreach (var block in model.modules().OfType<TransformerBlock>())
            {
                foreach (var linear in block.modules().OfType<Linear>())
                    flops += 2.0 * rows * linear.weight.shape[0] * linear.weight.shape[1];
                // Scores Q·Kᵀ and the weighted sum of V: 2 × (2·B·L·L·D).
                flops += 4.0 * batch * length * length * model.Shape.Width;
            }
            var head = model.children().OfType<Linear>().Single();
            flops += 2.0 * batch * head.weight.shape[0] * head.weight.shape[1];
            return flops;
        }

        /// <summary>Forward FLOPs of the pretrained BERT encoder and its head on a batch padded to <paramref name="length"/> tokens.</summary>
        public static double BertForward(Text.Pretrained.BertClassifier model, long batch, long length)
        {
            double flops = 0;
            long rows = batch * length;
            foreach (var layer in model.Layers)
            {
                foreach (var linear in layer.modules().OfType<Linear>())
                    flops += 2.0 * rows * linear.weight.shape[0] * linear.weight.shape[1];
                flops += 4.0 * batch * length * length * model.Shape.Width;
            }
            flops += 2.0 * batch * model.Shape.Width * model.Shape.Classes;
            return flops;
        }

        public static (long H, long W) OutputSize(Conv2d conv, long h, long w)
            => (Out(h, conv.weight.shape[2], conv.stride[0], conv.padding[0], conv.dilation[0]),
                Out(w, conv.weight.shape[3], conv.stride[1], conv.padding[1], conv.dilation[1]));

        private static long Out(long size, long kernel, long stride, long padding, long dilation)
            => (size + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
    }
}
