using System;
using System.IO;

namespace Microsoft.ML.MixedPrecision.Native
{
    /// <summary>
    /// The process's peak resident set since a point in time, on Linux: writing "5" to /proc/self/clear_refs resets the
    /// kernel's high-water mark (VmHWM in /proc/self/status) to the current resident set (Linux 4.0 and later). Where the
    /// mark cannot be reset, the resident set at the reading stands in for it: while <see cref="NativeHeap"/> retains
    /// freed memory (a fit's training), the heap gives nothing back, so the resident set after a step is at least its peak
    /// use of the heap.
    /// </summary>
    internal sealed class PeakResidentMemory
    {
        private readonly bool _reset;

        private PeakResidentMemory(bool reset) => _reset = reset;

        /// <summary>True where the resident set can be read (/proc/self/statm).</summary>
        public static bool IsAvailable => NativeHeap.ResidentBytes() >= 0;

        /// <summary>Starts a measurement: resets the high-water mark when the kernel allows it.</summary>
        public static PeakResidentMemory Start() => new PeakResidentMemory(ResetPeak());

        /// <summary>The peak resident set in bytes since <see cref="Start"/> (see the class summary), or -1 when unreadable.</summary>
        public long PeakBytes()
        {
            long resident = NativeHeap.ResidentBytes();
            return _reset ? Math.Max(resident, HighWaterMarkBytes()) : resident;
        }

        /// <summary>Resets the kernel's high-water mark to the current resident set; false where that cannot be done or read.</summary>
        internal static bool ResetPeak()
        {
            try
            {
                File.WriteAllText("/proc/self/clear_refs", "5");
                return HighWaterMarkBytes() > 0;
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is NotSupportedException)
            {
                return false;
            }
        }

        /// <summary>VmHWM of /proc/self/status in bytes, or -1 when unreadable.</summary>
        internal static long HighWaterMarkBytes()
        {
            try
            {
                foreach (string line in File.ReadLines("/proc/self/status"))
                {
                    if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                        return long.Parse(line.Substring(6).Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
                }
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is FormatException)
            {
            }
            return -1;
        }
    }
}
