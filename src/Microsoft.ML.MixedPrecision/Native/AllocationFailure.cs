using System;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Microsoft.ML.MixedPrecision.Native
{
    /// <summary>
    /// Recognizes libtorch's failed CPU allocation. When malloc returns null, c10's DefaultCPUAllocator throws a c10::Error
    /// "DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes. Error code 12 (Cannot allocate memory)"
    /// (older releases: "not enough memory"), which TorchSharp rethrows as an <see cref="System.Runtime.InteropServices.ExternalException"/>
    /// carrying that message (verified with TorchSharp 0.107 / libtorch 2.10 for an absurd tensor and under ulimit -v).
    /// </summary>
    internal static class AllocationFailure
    {
        private static readonly Regex Message = new Regex(
            @"DefaultCPUAllocator: (?:can't allocate memory|not enough memory): you tried to allocate (\d+) bytes", RegexOptions.CultureInvariant);

        /// <summary>True when <paramref name="e"/> (or an exception inside it) is libtorch's failed allocation; <paramref name="bytes"/> is the size it asked for.</summary>
        public static bool Is(Exception e, out long bytes)
        {
            for (Exception? x = e; x != null; x = x.InnerException)
            {
                var match = Message.Match(x.Message);
                if (match.Success)
                {
                    bytes = long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : -1;
                    return true;
                }
            }
            bytes = -1;
            return false;
        }
    }
}
