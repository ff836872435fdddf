using Microsoft.ML.MixedPrecision.Export;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>A ResNet block (<see cref="BasicBlock"/> or <see cref="Bottleneck"/>): a residual branch plus a shortcut, then ReLU.</summary>
    internal abstract class ResidualBlock : nn.Module<Tensor, Tensor>, IOnnxExportable
    {
        protected ResidualBlock(string name) : base(name)
        {
        }

        /// <summary>The BatchNorm closing the residual branch (zeroed by zero-init-residual).</summary>
        internal abstract BatchNorm2d LastNorm { get; }

        public abstract string ExportOnnx(OnnxGraphBuilder graph, string input);

        /// <summary>The branch plus the shortcut, then ReLU, in place where autograd allows.</summary>
        protected static Tensor AddAndRelu(Tensor branch, Tensor identity)
        {
            // Under CPU autocast both branches come out of conv + BatchNorm in bfloat16; an in-place add of a mixed pair
            // would silently round the float32 one, so only a pair of one dtype adds in place.
            Tensor y = branch.dtype == identity.dtype ? branch.add_(identity) : branch + identity;
            return y.relu_();
        }
    }
}
