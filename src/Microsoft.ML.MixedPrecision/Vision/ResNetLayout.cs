using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>The two residual block kinds of the ResNet family.</summary>
    internal enum ResidualBlockKind
    {
        /// <summary>Two 3×3 convolutions (ResNet-18/34).</summary>
        Basic,

        /// <summary>1×1 reduce, 3×3 (stride here, torchvision's "v1.5"; optionally grouped), 1×1 expand ×4 (ResNet-50/101/152, ResNeXt).</summary>
        Bottleneck,
    }

    /// <summary>The stem convolution: its output width, kernel, stride and (symmetric) padding.</summary>
    internal sealed record StemLayout(int InputChannels, int Width, int Kernel, int Stride, int Padding);

    /// <summary>The max pool after the stem.</summary>
    internal sealed record PoolLayout(int Kernel, int Stride, int Padding);

    /// <summary>
    /// One residual block: its input and output channels, the inner width of its 3×3 convolution(s), its stride, the
    /// groups of its 3×3 convolution (bottleneck only), and whether its shortcut is a 1×1 projection (conv + BatchNorm).
    /// </summary>
    internal sealed record BlockLayout(int Stage, int InChannels, int Width, int OutChannels, int Stride, int Groups, bool Projection);

    /// <summary>
    /// A ResNet described by its stem, its optional max pool and its residual blocks, whatever the source: one of the
    /// built-in <see cref="ResNetArchitecture"/> layouts, or a network read from an ONNX graph.
    /// </summary>
    internal sealed record ResNetLayout(StemLayout Stem, PoolLayout? MaxPool, ResidualBlockKind Kind, IReadOnlyList<BlockLayout> Blocks)
    {
        /// <summary>Width of the pooled feature vector (the last block's output channels).</summary>
        public int FeatureCount => Blocks.Count == 0 ? Stem.Width : Blocks[^1].OutChannels;

        /// <summary>Blocks per stage, in order.</summary>
        public IReadOnlyList<int> BlocksPerStage => Blocks.GroupBy(b => b.Stage).Select(g => g.Count()).ToList();

        /// <summary>Each stage's output channels.</summary>
        public IReadOnlyList<int> StageWidths => Blocks.GroupBy(b => b.Stage).Select(g => g.Last().OutChannels).ToList();

        /// <summary>E.g. "bottleneck blocks 3-4-6-3, widths 256/512/1024/2048, stem 7×7/2 + max pool".</summary>
        public string Describe()
        {
            int groups = Blocks.Select(b => b.Groups).DefaultIfEmpty(1).Max();
            return $"{Kind.ToString().ToLowerInvariant()} blocks {string.Join("-", BlocksPerStage)}, widths {string.Join("/", StageWidths)}" +
                   (groups > 1 ? $", {groups} groups" : "") +
                   $", stem {Stem.Kernel}×{Stem.Kernel}/{Stem.Stride}{(MaxPool is null ? "" : " + max pool")}";
        }

        /// <summary>The layout of a built-in architecture.</summary>
        public static ResNetLayout For(ResNetArchitecture architecture, int inputChannels)
        {
            switch (architecture)
            {
                case ResNetArchitecture.ResNetTiny:
                case ResNetArchitecture.ResNetSmall:
                    // Small images: keep full resolution in the stem (28×28 → 28/14/7 over the three stages).
                    // Widths are multiples of 16/32 so bfloat16 GEMM kernels run at full vector width.
                    int[] small = architecture == ResNetArchitecture.ResNetTiny ? new[] { 16, 32, 64 } : new[] { 32, 64, 128 };
                    return Basic(new StemLayout(inputChannels, small[0], 3, 1, 1), null, small, new[] { 2, 2, 2 });
                case ResNetArchitecture.ResNet18:
                case ResNetArchitecture.PretrainedResNet18:
                    // CNTK's ImageNet ResNet18, the default pretrained network, has a third block in stage 4.
                    int[] depths = architecture == ResNetArchitecture.PretrainedResNet18 ? new[] { 2, 2, 2, 3 } : new[] { 2, 2, 2, 2 };
                    return Basic(new StemLayout(inputChannels, 64, 7, 2, 3), new PoolLayout(3, 2, 1), new[] { 64, 128, 256, 512 }, depths);
                default:
                    throw new ArgumentOutOfRangeException(nameof(architecture), architecture, "Unknown ResNet architecture.");
            }
        }

        /// <summary>Basic blocks, stride 2 at the first block of every stage but the first, a projection where the shape changes.</summary>
        private static ResNetLayout Basic(StemLayout stem, PoolLayout? pool, int[] widths, int[] depths)
        {
            var blocks = new List<BlockLayout>();
            int inWidth = stem.Width;
            for (int stage = 0; stage < widths.Length; stage++)
            {
                for (int b = 0; b < depths[stage]; b++)
                {
                    int stride = stage > 0 && b == 0 ? 2 : 1;
                    blocks.Add(new BlockLayout(stage, inWidth, widths[stage], widths[stage], stride, 1, stride != 1 || inWidth != widths[stage]));
                    inWidth = widths[stage];
                }
            }
            return new ResNetLayout(stem, pool, ResidualBlockKind.Basic, blocks);
        }
    }
}
