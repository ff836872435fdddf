using System;
using System.Linq;
using System.Runtime.Intrinsics;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    [TestClass]
    public class DropoutNoiseTests
    {
        [TestMethod]
        public void The_scalar_reference_is_xoshiro128_starstar()
        {
            // By hand from the published algorithm, state {1, 2, 3, 4}: rotl(2 * 5, 7) * 9 = 11520, then s1 becomes 0.
            uint[] state = { 1, 2, 3, 4 };
            Reference(state).Should().Be(11520u);
            state.Should().Equal(7u, 0u, 1026u, 12288u); // t = 2 << 9; s2 = 3 ^ 1 ^ t; s3 = rotl(4 ^ 2, 11)
            Reference(state).Should().Be(0u);
        }

        [TestMethod]
        public void Each_lane_is_the_scalar_generator_seeded_by_splitmix64()
        {
            const ulong seed = 0x1234_5678_9abc_def0UL;
            var lanes = new Xoshiro128Lanes(seed);
            // The constructor's layout: 16 splitmix64 outputs, low word first, as words s0[0..7], s1[0..7], s2[0..7], s3[0..7].
            ulong splitmix = seed;
            var words = new uint[32];
            for (int k = 0; k < 32; k += 2)
            {
                ulong z = Xoshiro128Lanes.SplitMix64(ref splitmix);
                words[k] = (uint)z;
                words[k + 1] = (uint)(z >> 32);
            }
            var states = Enumerable.Range(0, 8).Select(j => new[] { words[j], words[8 + j], words[16 + j], words[24 + j] }).ToArray();

            for (int step = 0; step < 200; step++)
            {
                var next = lanes.Next();
                for (int j = 0; j < 8; j++)
                    next.GetElement(j).Should().Be(Reference(states[j]), $"lane {j}, step {step}");
            }
        }

        [TestMethod]
        [DataRow(ScalarType.Float32, 0.1)]
        [DataRow(ScalarType.Float32, 0.9)]
        [DataRow(ScalarType.BFloat16, 0.01)]
        [DataRow(ScalarType.BFloat16, 0.5)]
        [DataRow(ScalarType.Float16, 0.1)]
        public void Noise_is_zero_or_libtorchs_one_over_keep_and_drops_a_fraction_p(ScalarType dtype, double p)
        {
            using var scope = NewDisposeScope();
            manual_seed(11);
            var like = empty(new long[] { 1000, 103 }, dtype); // 103,000 elements: not a multiple of 8 or 16, so the tail runs
            var noise = DropoutNoise.Draw(like, p);

            noise.dtype.Should().Be(dtype);
            noise.shape.Should().Equal(1000, 103);
            var kept = ones(1, dtype).div_(1 - p); // libtorch's dropout: noise.div_(1 - p)
            var isKept = noise.eq(kept);
            var isDropped = noise.eq(0);
            isKept.logical_or(isDropped).all().item<bool>().Should().BeTrue("every element is 0 or 1/(1-p) in the dtype");

            double fraction = isDropped.to(ScalarType.Float64).mean().item<double>();
            fraction.Should().BeApproximately(p, 5 * Math.Sqrt(p * (1 - p) / noise.numel()));
        }

        [TestMethod]
        public void Every_position_is_dropped_at_rate_p_including_the_lanes_and_the_tail()
        {
            using var scope = NewDisposeScope();
            manual_seed(12);
            const int draws = 2000;
            const double p = 0.5;
            var like = empty(new long[] { 37 }, ScalarType.BFloat16); // two full 16-element blocks and a tail of 5
            var dropped = stack(Enumerable.Range(0, draws).Select(_ => DropoutNoise.Draw(like, p).eq(0)).ToArray());
            var rate = dropped.to(ScalarType.Float64).mean(new long[] { 0 });
            double sigma = Math.Sqrt(p * (1 - p) / draws);
            rate.sub(p).abs().max().item<double>().Should().BeLessThan(5 * sigma, "no position, lane or tail element is stuck or biased");

            // Two positions agree half the time, so none is a copy of another (a tail filled from one lane would be).
            var d = dropped.to(ScalarType.Float64);
            var agree = d.t().matmul(d).add_(d.neg().add_(1).t().matmul(d.neg().add_(1))).div_(draws);
            var offDiagonal = agree.masked_select(eye(37, dtype: ScalarType.Bool).logical_not());
            offDiagonal.sub(0.5).abs().max().item<double>().Should().BeLessThan(5 * sigma * 1.5, "no two positions move together");
        }

        [TestMethod]
        public void Neighbouring_elements_are_uncorrelated()
        {
            using var scope = NewDisposeScope();
            manual_seed(13);
            var keep = DropoutNoise.Draw(empty(1 << 20), 0.5).ne(0).to(ScalarType.Float64).sub_(0.5).mul_(2); // ±1
            long n = keep.numel();
            foreach (long lag in new long[] { 1, 2, 7, 8, 9, 16 }) // 8: the same lane's next word; 16: its next in 2-byte output
            {
                double correlation = keep.narrow(0, 0, n - lag).mul(keep.narrow(0, lag, n - lag)).mean().item<double>();
                Math.Abs(correlation).Should().BeLessThan(5 / Math.Sqrt(n), $"lag {lag}");
            }
        }

        [TestMethod]
        public void Libtorchs_generator_state_reproduces_the_noise_and_each_draw_moves_it_on()
        {
            using var scope = NewDisposeScope();
            var like = empty(64, 40);
            manual_seed(14);
            var state = Generator.Default.get_state();
            var first = DropoutNoise.Draw(like, 0.2);
            var second = DropoutNoise.Draw(like, 0.2);
            second.Equals(first).Should().BeFalse("the seed comes from libtorch's generator, which moved on");

            Generator.Default.set_state(state); // what a checkpoint's resume does
            DropoutNoise.Draw(like, 0.2).Equals(first).Should().BeTrue();
            DropoutNoise.Draw(like, 0.2).Equals(second).Should().BeTrue();
        }

        [TestMethod]
        public void A_generator_made_current_on_this_thread_decides_the_noise_and_leaves_the_default_generator_and_other_threads_alone()
        {
            using var scope = NewDisposeScope();
            var like = empty(64, 40);
            using var own = new Generator(21);
            using var ownStart = own.get_state();
            manual_seed(15);
            using var defaultGenerator = Generator.Default;
            var defaultStart = defaultGenerator.get_state();
            Tensor first, second, elsewhere;
            using (AmbientGenerator.Use(own))
            {
                first = DropoutNoise.Draw(like, 0.2);
                AmbientGenerator.Current.Should().BeSameAs(own);
            }
            AmbientGenerator.Current.Should().BeNull("the scope put back what was current before it");
            defaultGenerator.get_state().Equals(defaultStart).Should().BeTrue("the own generator's draw left the default generator where it was");

            using (AmbientGenerator.Use(own))
                elsewhere = System.Threading.Tasks.Task.Run(() => DropoutNoise.Draw(like, 0.2)).Result; // current here only
            manual_seed(15);
            DropoutNoise.Draw(like, 0.2).Equals(elsewhere).Should().BeTrue("the other thread drew from the default generator");

            own.set_state(ownStart);
            using (AmbientGenerator.Use(own))
                second = DropoutNoise.Draw(like, 0.2);
            second.Equals(first).Should().BeTrue("the own generator's state reproduces its noise");
            first.Equals(elsewhere).Should().BeFalse();
        }

        [TestMethod]
        public void Other_dtypes_take_libtorchs_dropout_and_probabilities_outside_0_1_are_refused()
        {
            using var scope = NewDisposeScope();
            var x = ones(new long[] { 1000 }, ScalarType.Float64);
            DropoutNoise.Supports(x).Should().BeFalse();
            var y = UniformMaskDropout.Apply(x, 0.5);
            y.dtype.Should().Be(ScalarType.Float64);
            y.eq(0).logical_or(y.eq(2)).all().item<bool>().Should().BeTrue();

            FluentActions.Invoking(() => DropoutNoise.Draw(x, 0.5)).Should().Throw<ArgumentException>().WithMessage("*float32, bfloat16 or float16*");
            FluentActions.Invoking(() => DropoutNoise.Draw(empty(4), 1.0)).Should().Throw<ArgumentOutOfRangeException>();
            FluentActions.Invoking(() => DropoutNoise.Draw(empty(4), 0.0)).Should().Throw<ArgumentOutOfRangeException>();
        }

        private static uint Reference(uint[] s)
        {
            uint result = RotateLeft(s[1] * 5, 7) * 9;
            uint t = s[1] << 9;
            s[2] ^= s[0];
            s[3] ^= s[1];
            s[1] ^= s[2];
            s[0] ^= s[3];
            s[2] ^= t;
            s[3] = RotateLeft(s[3], 11);
            return result;
        }

        private static uint RotateLeft(uint x, int k) => (x << k) | (x >> (32 - k));
    }
}
