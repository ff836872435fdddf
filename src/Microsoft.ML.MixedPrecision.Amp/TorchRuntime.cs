using System;
using Microsoft.ML.MixedPrecision.Native;

namespace Microsoft.ML.MixedPrecision.Amp
{
    /// <summary>
    /// Checks once that TorchSharp's native libraries load here, turning TorchSharp's long native-load failure into a
    /// message that names the cause and the fix. <see cref="Autocast"/>, <see cref="GradScaler"/> and the trainers call it
    /// themselves; call it at startup to fail early.
    /// </summary>
    /// <example>
    /// <code>
    /// TorchRuntime.EnsureAvailable(); // throws PlatformNotSupportedException naming the missing libstdc++ and the fix
    /// </code>
    /// </example>
    public static class TorchRuntime
    {
        /// <summary>The libstdc++ symbol version TorchSharp 0.107's native library needs (GCC 13 or newer).</summary>
        public const string RequiredGlibcxxVersion = LibTorchRuntime.RequiredGlibcxxVersion;

        /// <summary>Throws <see cref="PlatformNotSupportedException"/> with the fix when TorchSharp cannot load here.</summary>
        public static void EnsureAvailable() => LibTorchRuntime.EnsureAvailable();
    }
}
