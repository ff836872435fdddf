using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Microsoft.ML.MixedPrecision.Kernels
{
    /// <summary>
    /// Eight xoshiro128** generators (Blackman and Vigna) side by side in one 256-bit vector, one per lane, seeded from one
    /// 64-bit seed through splitmix64 as the authors recommend. Each <see cref="Next"/> gives eight uniform 32-bit words:
    /// about 20 vector instructions where libtorch's CPU generator (mt19937, one thread) takes a call per word.
    /// </summary>
    internal struct Xoshiro128Lanes
    {
        public const int Lanes = 8;

        private Vector256<uint> _s0, _s1, _s2, _s3;

        public Xoshiro128Lanes(ulong seed)
        {
            Span<uint> words = stackalloc uint[4 * Lanes];
            for (int k = 0; k < words.Length; k += 2)
            {
                ulong z = SplitMix64(ref seed);
                words[k] = (uint)z;
                words[k + 1] = (uint)(z >> 32);
            }
            for (int lane = 0; lane < Lanes; lane++)
            {
                if ((words[lane] | words[Lanes + lane] | words[2 * Lanes + lane] | words[3 * Lanes + lane]) == 0)
                    words[lane] = 1; // the one state xoshiro never leaves
            }
            _s0 = Vector256.Create((ReadOnlySpan<uint>)words.Slice(0, Lanes));
            _s1 = Vector256.Create((ReadOnlySpan<uint>)words.Slice(Lanes, Lanes));
            _s2 = Vector256.Create((ReadOnlySpan<uint>)words.Slice(2 * Lanes, Lanes));
            _s3 = Vector256.Create((ReadOnlySpan<uint>)words.Slice(3 * Lanes, Lanes));
        }

        /// <summary>The next word of each lane's generator.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<uint> Next()
        {
            var result = RotateLeft(_s1 * 5u, 7) * 9u;
            var t = _s1 << 9;
            _s2 ^= _s0;
            _s3 ^= _s1;
            _s1 ^= _s2;
            _s0 ^= _s3;
            _s2 ^= t;
            _s3 = RotateLeft(_s3, 11);
            return result;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<uint> RotateLeft(Vector256<uint> x, int k) => (x << k) | (x >>> (32 - k));

        internal static ulong SplitMix64(ref ulong state)
        {
            ulong z = state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
