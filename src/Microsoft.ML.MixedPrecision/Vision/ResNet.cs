using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>
    /// Residual image classifier. Input: pixels in [0, 1], planar [N, C, H, W], FP32. Output: logits [N, classes].
    /// The per-channel input normalization is the first layer, so it is trained, saved and exported with the weights.
    /// </summary>
    internal sealed class ResNet : nn.Module<Tensor, Tensor>, IOnnxExportable
    {
        private readonly InputNormalization normalize;
        private readonly Conv2d conv1;
        private readonly BatchNorm2d bn1;
        private readonly MaxPool2d? maxpool; // null for ResNetSmall/Tiny
        private readonly ModuleList<ResidualBlock> blocks;
        private readonly AdaptiveAvgPool2d avgpool;
        private readonly Linear fc;

        public ResNet(int inputChannels, int numClasses, ResNetArchitecture architecture, bool zeroInitResidual = false)
            : this(ResNetLayout.For(architecture, inputChannels > 0 ? inputChannels : throw new ArgumentOutOfRangeException(nameof(inputChannels))),
                   numClasses, architecture, zeroInitResidual)
        {
        }

        /// <summary>A ResNet of any <paramref name="layout"/> (e.g. one read from an ONNX graph); <paramref name="architecture"/> names it.</summary>
        public ResNet(ResNetLayout layout, int numClasses, ResNetArchitecture architecture, bool zeroInitResidual = false)
            : base(architecture.ToString())
        {
            if (numClasses < 2)
                throw new ArgumentOutOfRangeException(nameof(numClasses), "A classifier needs at least two classes.");

            Layout = layout;
            InputChannels = layout.Stem.InputChannels;
            NumClasses = numClasses;
            Architecture = architecture;

            var stem = layout.Stem;
            normalize = new InputNormalization(InputChannels);
            conv1 = nn.Conv2d(InputChannels, stem.Width, kernel_size: stem.Kernel, stride: stem.Stride, padding: stem.Padding, bias: false);
            bn1 = nn.BatchNorm2d(stem.Width);
            if (layout.MaxPool is { } pool)
                maxpool = nn.MaxPool2d(kernel_size: pool.Kernel, stride: pool.Stride, padding: pool.Padding);

            var blockList = layout.Blocks.Select(b => layout.Kind == ResidualBlockKind.Basic
                ? (ResidualBlock)new BasicBlock(b.InChannels, b.OutChannels, b.Stride, b.Projection)
                : new Bottleneck(b.InChannels, b.Width, b.OutChannels, b.Stride, b.Groups, b.Projection)).ToList();
            blocks = nn.ModuleList(blockList.ToArray());
            avgpool = nn.AdaptiveAvgPool2d(1);
            FeatureCount = layout.FeatureCount;
            fc = nn.Linear(FeatureCount, numClasses);

            RegisterComponents();
            InitializeWeights(blockList, zeroInitResidual);
        }

        /// <summary>Stem, blocks and widths of this network.</summary>
        public ResNetLayout Layout { get; }

        public ResNetArchitecture Architecture { get; }
        public int InputChannels { get; }
        public int NumClasses { get; }

        /// <summary>Width of the pooled feature vector fed to the linear head.</summary>
        public int FeatureCount { get; }

        /// <summary>
        /// dtype of the stem convolution's output in the latest forward: bfloat16 when the forward ran under CPU
        /// autocast, float32 otherwise. Lets training code check that mixed precision is really in effect.
        /// </summary>
        public ScalarType? LastActivationDType { get; private set; }

        /// <summary>Per-channel input normalization (default mean 0.5, std 0.5, on [0, 1] pixels).</summary>
        public void SetInputNormalization(float[] mean, float[] std) => normalize.Set(mean, std);

        public (float[] Mean, float[] Std) GetInputNormalization() => normalize.Get();

        /// <summary>
        /// Keeps every BatchNorm in inference mode (its running statistics fixed) even while the network trains; the
        /// BatchNorm scales and shifts still learn. For fine-tuning a pretrained network on small data.
        /// </summary>
        public bool FreezeBatchNormStatistics { get; set; }

        public override void train(bool on = true)
        {
            base.train(on);
            if (on && FreezeBatchNormStatistics)
            {
                foreach (BatchNorm2d norm in modules().OfType<BatchNorm2d>())
                    norm.eval();
            }
        }

        /// <summary>The linear classification head (the only part a frozen-backbone fit trains).</summary>
        public Linear Head => fc;

        /// <summary>Every parameter but the head's.</summary>
        public IEnumerable<Parameter> BackboneParameters()
        {
            var head = new HashSet<IntPtr>(fc.parameters().Select(p => p.Handle));
            return parameters().Where(p => !head.Contains(p.Handle));
        }

        public override Tensor forward(Tensor input)
        {
            using var scope = torch.NewDisposeScope();
            return fc.Run(Features(input)).MoveToOuterDisposeScope();
        }

        /// <summary>The pooled features [N, <see cref="FeatureCount"/>] the head reads: the network without its head.</summary>
        public Tensor Features(Tensor input)
        {
            if (input.dim() != 4)
                throw new ArgumentException($"Expected [N, C, H, W] input, got {input.dim()} dimensions.", nameof(input));
            using var scope = torch.NewDisposeScope();
            Tensor x = normalize.Run(input);
            x = conv1.Run(x);
            LastActivationDType = x.dtype;
            x = BatchNormCalibration.Run(bn1, x).relu_(); // in place: BatchNorm's backward reads its input (see BasicBlock)
            if (maxpool is not null)
                x = maxpool.Run(x);
            foreach (ResidualBlock block in blocks)
                x = block.Run(x);
            // flatten rather than view: the pooled tensor may be channels_last.
            return avgpool.Run(x).flatten(1).MoveToOuterDisposeScope();
        }

        /// <summary>
        /// Puts every convolution weight in channels_last (NHWC) memory order, or back to the default NCHW order. With
        /// channels_last weights oneDNN runs every convolution (forward and backward) in NHWC and the activations, their
        /// gradients and the optimizer state follow; no reorder happens per layer. Measured on 2 Zen 4 cores, ResNetSmall,
        /// batch 128: float32 steps 1.28x and bf16 autocast steps 1.15x faster. TorchSharp 0.107 has no memory_format
        /// argument, so the layout is made by hand (<see cref="ChannelsLast"/>), the one-channel stem's weight included.
        /// Shapes and values do not change; parameters keep their identity, so call it before creating the optimizer.
        /// </summary>
        public void SetChannelsLast(bool channelsLast)
        {
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            foreach (Conv2d conv in modules().OfType<Conv2d>())
            {
                Tensor weight = conv.weight;
                // In place (set_ keeps the Parameter object), so modules, optimizers and state_dict keys still see it.
                weight.set_(channelsLast ? ChannelsLast.Copy(weight) : ChannelsLast.NchwCopy(weight));
            }
        }

        public string ExportOnnx(OnnxGraphBuilder graph, string input)
        {
            string x = normalize.ExportOnnx(graph, input);
            x = OnnxLayerExport.Conv2d(graph, conv1, x);
            x = OnnxLayerExport.BatchNorm2d(graph, bn1, x);
            x = OnnxLayerExport.Relu(graph, x);
            if (maxpool is not null)
                x = OnnxLayerExport.MaxPool2d(graph, maxpool, x);
            foreach (ResidualBlock block in blocks)
                x = block.ExportOnnx(graph, x);
            x = OnnxLayerExport.AdaptiveAvgPool2d(graph, avgpool, x);
            x = OnnxLayerExport.Flatten(graph, x);
            return OnnxLayerExport.Linear(graph, fc, x);
        }

        private void InitializeWeights(IEnumerable<ResidualBlock> blockList, bool zeroInitResidual)
        {
            // torchvision's scheme: He-normal (fan_out) convolutions, BatchNorm gamma 1 / beta 0 (TorchSharp's default),
            // default Linear init. Optionally start each residual branch at zero so blocks begin as identities.
            using var noGrad = torch.no_grad();
            foreach (Conv2d conv in modules().OfType<Conv2d>())
                nn.init.kaiming_normal_(conv.weight, mode: nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
            if (zeroInitResidual)
            {
                foreach (ResidualBlock block in blockList)
                    nn.init.zeros_(block.LastNorm.weight);
            }
        }
    }
}
