using System;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>
    /// ResNet bottleneck block as torchvision builds it ("v1.5"): 1×1 conv to the inner width, 3×3 conv carrying the stride
    /// (optionally grouped, as in ResNeXt), 1×1 conv to the output width, each followed by BatchNorm, ReLU after the first
    /// two; the shortcut is the identity, or a 1×1 strided conv + BatchNorm when the shape changes.
    /// </summary>
    internal sealed class Bottleneck : ResidualBlock
    {
        // Field names are the state_dict keys (torchvision's).
        private readonly Conv2d conv1;
        private readonly BatchNorm2d bn1;
        private readonly Conv2d conv2;
        private readonly BatchNorm2d bn2;
        private readonly Conv2d conv3;
        private readonly BatchNorm2d bn3;
        private readonly Sequential? downsample;
        private readonly (Conv2d Conv, BatchNorm2d Norm)? shortcut;

        public Bottleneck(long inChannels, long width, long outChannels, long stride, long groups, bool projection) : base(nameof(Bottleneck))
        {
            if (inChannels <= 0 || width <= 0 || outChannels <= 0 || stride <= 0 || groups <= 0 || width % groups != 0)
                throw new ArgumentOutOfRangeException(nameof(width), "Channel counts, stride and groups must be positive, the width a multiple of the groups.");
            if (!projection && (stride != 1 || inChannels != outChannels))
                throw new ArgumentException("An identity shortcut needs stride 1 and as many input as output channels.", nameof(projection));
            // No conv bias: the BatchNorm right after carries the shift.
            conv1 = nn.Conv2d(inChannels, width, kernel_size: 1, bias: false);
            bn1 = nn.BatchNorm2d(width);
            conv2 = nn.Conv2d(width, width, kernel_size: 3, stride: stride, padding: 1, groups: groups, bias: false);
            bn2 = nn.BatchNorm2d(width);
            conv3 = nn.Conv2d(width, outChannels, kernel_size: 1, bias: false);
            bn3 = nn.BatchNorm2d(outChannels);
            if (projection)
            {
                var conv = nn.Conv2d(inChannels, outChannels, kernel_size: 1, stride: stride, bias: false);
                var norm = nn.BatchNorm2d(outChannels);
                downsample = nn.Sequential(("0", conv), ("1", norm));
                shortcut = (conv, norm);
            }
            RegisterComponents();
        }

        internal override BatchNorm2d LastNorm => bn3;

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            // Every 1×1 convolution through PointwiseConvolution: wide ones hit a faulty oneDNN kernel in channels_last float32.
            Tensor x = BatchNormCalibration.Run(bn1, LayerPrecision.Run(conv1, input, PointwiseConvolution.Forward)).relu_();
            x = BatchNormCalibration.Run(bn2, conv2.Run(x)).relu_();
            Tensor y = BatchNormCalibration.Run(bn3, LayerPrecision.Run(conv3, x, PointwiseConvolution.Forward));
            Tensor identity = shortcut is { } s ? BatchNormCalibration.Run(s.Norm, LayerPrecision.Run(s.Conv, input, PointwiseConvolution.Forward)) : input;
            return AddAndRelu(y, identity).MoveToOuterDisposeScope();
        }

        public override string ExportOnnx(OnnxGraphBuilder graph, string input)
        {
            string x = OnnxLayerExport.Relu(graph, OnnxLayerExport.BatchNorm2d(graph, bn1, OnnxLayerExport.Conv2d(graph, conv1, input)));
            x = OnnxLayerExport.Relu(graph, OnnxLayerExport.BatchNorm2d(graph, bn2, OnnxLayerExport.Conv2d(graph, conv2, x)));
            x = OnnxLayerExport.BatchNorm2d(graph, bn3, OnnxLayerExport.Conv2d(graph, conv3, x));
            string identity = downsample is null ? input : OnnxLayerExport.Module(graph, downsample, input);
            return OnnxLayerExport.Relu(graph, OnnxLayerExport.Add(graph, x, identity));
        }
    }
}
