using System;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>
    /// ResNet basic block: two 3×3 conv + BatchNorm, ReLU in between, plus an identity shortcut, or a 1×1 strided
    /// conv + BatchNorm shortcut when the shape changes.
    /// </summary>
    internal sealed class BasicBlock : ResidualBlock
    {
        // Field names are the state_dict keys (torchvision's, so checkpoints read naturally).
        private readonly Conv2d conv1;
        private readonly BatchNorm2d bn1;
        private readonly Conv2d conv2;
        private readonly BatchNorm2d bn2;
        private readonly Sequential? downsample;
        // The same two modules as downsample's, called one by one (a tuple, so they are not registered twice).
        private readonly (Conv2d Conv, BatchNorm2d Norm)? shortcut;

        public BasicBlock(long inChannels, long outChannels, long stride) : this(inChannels, outChannels, stride, stride != 1 || inChannels != outChannels)
        {
        }

        public BasicBlock(long inChannels, long outChannels, long stride, bool projection) : base(nameof(BasicBlock))
        {
            if (inChannels <= 0 || outChannels <= 0 || stride <= 0)
                throw new ArgumentOutOfRangeException(nameof(stride), "Channel counts and stride must be positive.");
            if (!projection && (stride != 1 || inChannels != outChannels))
                throw new ArgumentException("An identity shortcut needs stride 1 and as many input as output channels.", nameof(projection));
            // No conv bias: the BatchNorm right after carries the shift.
            conv1 = nn.Conv2d(inChannels, outChannels, kernel_size: 3, stride: stride, padding: 1, bias: false);
            bn1 = nn.BatchNorm2d(outChannels);
            conv2 = nn.Conv2d(outChannels, outChannels, kernel_size: 3, stride: 1, padding: 1, bias: false);
            bn2 = nn.BatchNorm2d(outChannels);
            if (projection)
            {
                var conv = nn.Conv2d(inChannels, outChannels, kernel_size: 1, stride: stride, bias: false);
                var norm = nn.BatchNorm2d(outChannels);
                downsample = nn.Sequential(("0", conv), ("1", norm));
                shortcut = (conv, norm);
            }
            RegisterComponents();
        }

        internal override BatchNorm2d LastNorm => bn2;

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            // In place where autograd allows (same values to the bit, 2–6 % faster steps measured): BatchNorm's backward
            // reads its input, not its output, and ReLU's backward reads its result, so the ReLUs and the residual add
            // may overwrite the BatchNorm outputs they follow.
            Tensor x = BatchNormCalibration.Run(bn1, conv1.Run(input)).relu_();
            Tensor y = BatchNormCalibration.Run(bn2, conv2.Run(x));
            Tensor identity = shortcut is { } s ? BatchNormCalibration.Run(s.Norm, LayerPrecision.Run(s.Conv, input, PointwiseConvolution.Forward)) : input;
            return AddAndRelu(y, identity).MoveToOuterDisposeScope();
        }

        public override string ExportOnnx(OnnxGraphBuilder graph, string input)
        {
            string x = OnnxLayerExport.Conv2d(graph, conv1, input);
            x = OnnxLayerExport.BatchNorm2d(graph, bn1, x);
            x = OnnxLayerExport.Relu(graph, x);
            x = OnnxLayerExport.Conv2d(graph, conv2, x);
            x = OnnxLayerExport.BatchNorm2d(graph, bn2, x);
            string shortcut = downsample is null ? input : OnnxLayerExport.Module(graph, downsample, input);
            return OnnxLayerExport.Relu(graph, OnnxLayerExport.Add(graph, x, shortcut));
        }
    }
}
