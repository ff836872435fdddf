using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Kernels
{
    /// <summary>
    /// Dropout as libtorch computes it on a CPU (noise = keep-mask / (1 − p) in the input's dtype, output = input × noise,
    /// the same gradient), with the noise drawn by <see cref="DropoutNoise"/>: uniform 32-bit words ≥ p·2³² from eight
    /// vectorized generators seeded from the thread's <see cref="AmbientGenerator"/> (the fit's own while it trains), in one pass. libtorch's own CPU mask takes one generator
    /// call per element on one thread (bernoulli_ a double per element off Intel), and a text step has a dropout at every
    /// residual branch. Other devices and dtypes take libtorch's dropout, which draws from libtorch's default generator.
    /// </summary>
    internal sealed class UniformMaskDropout : nn.Module<Tensor, Tensor>
    {
        private readonly double _p;

        public UniformMaskDropout(double p) : base(nameof(UniformMaskDropout))
        {
            _p = p;
        }

        public override Tensor forward(Tensor x) => training ? Apply(x, _p) : x.alias();

        /// <summary>Training-mode dropout of <paramref name="x"/> with drop probability <paramref name="p"/>.</summary>
        public static Tensor Apply(Tensor x, double p)
        {
            if (p <= 0)
                return x.alias();
            if (p >= 1 || !DropoutNoise.Supports(x))
                return nn.functional.dropout(x, p, training: true);
            using var noise = DropoutNoise.Draw(x, p);
            return x.mul(noise);
        }
    }
}
