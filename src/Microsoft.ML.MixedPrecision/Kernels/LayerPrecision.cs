using System;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.ML.MixedPrecision.Amp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Kernels
{
    /// <summary>
    /// Layers kept in float32 inside an autocast region (<c>MixedPrecisionOptions.Float32Layers</c>): the networks call
    /// every layer through <see cref="Run(nn.Module{Tensor, Tensor}, Tensor)"/>, which runs a marked layer with autocast off
    /// and its floating-point input cast to float32, as <see cref="Float32Module"/> does, and any other layer as it is.
    /// Marks live with the module (a weak table), so parallel fits of different networks do not see each other's.
    /// </summary>
    internal static class LayerPrecision
    {
        private static readonly ConditionalWeakTable<nn.Module, object> Marked = new();
        private static int _markedCount; // skips the table lookup while no fit has marked a layer

        [ThreadStatic]
        private static long _float32Runs;

        /// <summary>Keeps <paramref name="module"/> in float32 inside autocast regions from now on.</summary>
        public static void KeepInFloat32(nn.Module module)
        {
            if (Marked.TryAdd(module, Marked))
                Interlocked.Increment(ref _markedCount);
        }

        /// <summary>Lets <paramref name="module"/> follow autocast again (tests reuse one network for many lists).</summary>
        internal static void Forget(nn.Module module)
        {
            if (Marked.Remove(module))
                Interlocked.Decrement(ref _markedCount);
        }

        /// <summary>Whether <see cref="KeepInFloat32"/> marked <paramref name="module"/>.</summary>
        public static bool IsKeptInFloat32(nn.Module module) => Volatile.Read(ref _markedCount) > 0 && Marked.TryGetValue(module, out _);

        /// <summary>How many forwards of marked layers ran with autocast off on this thread (for tests).</summary>
        internal static long Float32Runs => _float32Runs;

        /// <summary><paramref name="module"/>'s forward, in float32 with autocast off when it is kept in float32 and autocast is on.</summary>
        public static Tensor Run(this nn.Module<Tensor, Tensor> module, Tensor input) =>
            Run(module, input, static (m, x) => m.forward(x));

        /// <summary>A two-input <paramref name="module"/>'s forward (a transformer layer and its padding mask), as the one-input <c>Run</c>.</summary>
        public static TResult Run<T2, TResult>(this nn.Module<Tensor, T2, TResult> module, Tensor input, T2 second) =>
            Run(module, input, (m, x) => m.forward(x, second));

        /// <summary><paramref name="forward"/> of <paramref name="module"/> on <paramref name="input"/>, in float32 with autocast
        /// off when the module is kept in float32 and autocast is on for the input's device.</summary>
        public static TResult Run<TModule, TResult>(TModule module, Tensor input, Func<TModule, Tensor, TResult> forward)
            where TModule : nn.Module
        {
            if (!IsKeptInFloat32(module) || !Autocast.IsEnabled(input.device.type))
                return forward(module, input);
            using var region = new Autocast(input.device.type, enabled: false);
            _float32Runs++;
            bool cast = input.is_floating_point() && input.dtype != ScalarType.Float32;
            return forward(module, cast ? input.to(ScalarType.Float32) : input);
        }
    }
}
