using System;
using System.Runtime.InteropServices;
using Microsoft.ML.MixedPrecision.Native;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Measurement
{
    /// <summary>
    /// Linux process memory: resident set (the reading NativeHeap's bound uses), its peak (VmHWM, resettable through /proc/self/clear_refs), and the
    /// bytes glibc's malloc has handed out, which is where libtorch's CPU allocator gets every tensor.
    /// </summary>
    internal static class ProcessMemory
    {
        public static long ResidentBytes() => NativeHeap.ResidentBytes();

        public static long PeakResidentBytes() => PeakResidentMemory.HighWaterMarkBytes();

        /// <summary>Starts a new peak: writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0).</summary>
        public static bool ResetPeak() => PeakResidentMemory.ResetPeak();

        /// <summary>Bytes in use in the malloc heap (small blocks + mmapped large blocks), or -1 when unavailable.</summary>
        public static long NativeHeapInUse() => MallInfo() is { } info ? (long)(info.uordblks + info.hblkhd) : -1;

        /// <summary>
        /// Bytes glibc's malloc holds from the kernel (every arena's heap + mmapped blocks), in use or free, or -1 when
        /// unavailable. Footprint minus in-use is what freed memory kept for reuse costs; it stays resident unless trimmed.
        /// </summary>
        public static long NativeHeapFootprint() => MallInfo() is { } info ? (long)(info.arena + info.hblkhd) : -1;

        private static MallInfo2? MallInfo()
        {
            try
            {
                return mallinfo2();
            }
            catch (Exception e) when (e is EntryPointNotFoundException || e is DllNotFoundException)
            {
                return null;
            }
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct MallInfo2
        {
            public nuint arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
        }

        [DllImport("libc", EntryPoint = "mallinfo2")]
        private static extern MallInfo2 mallinfo2();
    }
}
