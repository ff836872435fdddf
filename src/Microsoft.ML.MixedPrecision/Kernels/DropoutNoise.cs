using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Microsoft.ML.MixedPrecision.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Kernels
{
    /// <summary>
    /// Dropout's noise tensor as libtorch's CPU dropout makes it — 0 with probability p, else 1/(1 − p) rounded to the
    /// input's dtype — drawn in one vectorized pass. libtorch's CPU generator gives one mt19937 word per call on one thread,
    /// and a mask from it takes a compare, a cast and a divide more, each a pass: a [32, 59, 128] dropout went from 1.2 to
    /// 0.35 ms with this (Zen 3 EPYC, docs/decisions/2026-12-03-dropout-noise.md). Each call takes a 53-bit seed from the
    /// thread's <see cref="AmbientGenerator"/> (a fit's own generator while it trains, else libtorch's default CPU
    /// generator), so the fit's seed and a checkpoint's random state reproduce every mask, whatever other threads draw.
    /// </summary>
    internal static unsafe class DropoutNoise
    {
        /// <summary>Whether <see cref="Draw"/> can make noise for tensors like <paramref name="like"/>: CPU, 2- or 4-byte floats.</summary>
        public static bool Supports(Tensor like) =>
            like.device.type == DeviceType.CPU && like.dtype is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16;

        /// <summary>A new contiguous tensor shaped like <paramref name="like"/>, in its dtype: the noise for drop probability <paramref name="p"/>.</summary>
        public static Tensor Draw(Tensor like, double p)
        {
            if (!Supports(like))
                throw new ArgumentException($"Dropout noise is drawn for float32, bfloat16 or float16 CPU tensors, not {like.dtype} on {like.device.type}.", nameof(like));
            if (!(p > 0 && p < 1))
                throw new ArgumentOutOfRangeException(nameof(p), p, "The drop probability must be in (0, 1).");

            // A word below p·2³² drops its element: p resolved to 2⁻³².
            uint threshold = (uint)Math.Min(Math.Round(p * 4294967296.0), uint.MaxValue);
            uint kept = KeptBits(like.dtype, 1 - p);
            var generator = new Xoshiro128Lanes(DrawSeed());
            Tensor noise = empty(like.shape, like.dtype);
            long count = noise.numel();
            if (noise.element_size() == 4)
                Fill((uint*)LibTorchAmpNative.TensorData(noise), count, kept, threshold, ref generator);
            else
                Fill((ushort*)LibTorchAmpNative.TensorData(noise), count, (ushort)kept, threshold, ref generator);
            return noise; // returned, so alive while Fill writes through its pointer
        }

        private static ulong DrawSeed()
        {
            using var seed = empty(1, ScalarType.Int64);
            // A bound a double holds exactly (TorchSharp passes it as one); null generator: libtorch's default.
            seed.random_(0, 1L << 53, AmbientGenerator.Current);
            return (ulong)seed.item<long>();
        }

        /// <summary>The bits of 1/(1 − p) in <paramref name="dtype"/>, computed by libtorch as its dropout does (noise.div_(1 − p)).</summary>
        private static uint KeptBits(ScalarType dtype, double keepProbability)
        {
            using Scalar keep = keepProbability;
            using var value = ones(1, dtype).div_(keep);
            void* data = (void*)LibTorchAmpNative.TensorData(value);
            return value.element_size() == 4 ? *(uint*)data : *(ushort*)data; // value is disposed, so alive, after this read
        }

        private static void Fill(uint* target, long count, uint kept, uint threshold, ref Xoshiro128Lanes generator)
        {
            var keptBits = Vector256.Create(kept);
            var limit = Vector256.Create(threshold);
            long i = 0;
            for (; i + Xoshiro128Lanes.Lanes <= count; i += Xoshiro128Lanes.Lanes)
                (Vector256.GreaterThanOrEqual(generator.Next(), limit) & keptBits).Store(target + i);
            if (i < count)
            {
                var last = Vector256.GreaterThanOrEqual(generator.Next(), limit) & keptBits;
                for (int lane = 0; i < count; i++, lane++)
                    target[i] = last.GetElement(lane);
            }
        }

        private static void Fill(ushort* target, long count, ushort kept, uint threshold, ref Xoshiro128Lanes generator)
        {
            const int Step = 2 * Xoshiro128Lanes.Lanes;
            var keptBits = Vector256.Create(kept);
            var limit = Vector256.Create(threshold);
            long i = 0;
            for (; i + Step <= count; i += Step)
                Next16(ref generator, limit, keptBits).Store(target + i);
            if (i < count)
            {
                var last = Next16(ref generator, limit, keptBits);
                for (int lane = 0; i < count; i++, lane++)
                    target[i] = last.GetElement(lane);
            }
        }

        // Narrow keeps element order: the first eight words' masks, then the next eight's.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<ushort> Next16(ref Xoshiro128Lanes generator, Vector256<uint> limit, Vector256<ushort> keptBits) =>
            Vector256.Narrow(Vector256.GreaterThanOrEqual(generator.Next(), limit),
                             Vector256.GreaterThanOrEqual(generator.Next(), limit)) & keptBits;
    }
}
