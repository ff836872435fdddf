using System;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;

namespace Microsoft.ML.MixedPrecision.Native
{
    /// <summary>
    /// Keeps glibc from handing freed memory back to the kernel while a fit trains, and gives it back when the fit ends.
    /// libtorch's CPU tensors come straight from malloc. An AMP step allocates, per weight, a bf16 copy, its gradient and
    /// the float32 gradient, and frees them at the step's end; glibc returns such blocks to the kernel (munmap above its
    /// mmap threshold, trimming the heap's top above its trim threshold), so the next step faults every page in again.
    /// Measured on the MiniLM fine-tune: ~80,000 page faults in 5 s of the estimator's AMP epoch against ~900 in the
    /// benchmark's bare loop at the same step (whose heap happened to be laid out so that it kept its pages), and the
    /// AMP epoch 15-30 % slower for it. PyTorch users get the same effect by preloading jemalloc or tcmalloc.
    /// Process-wide and reference-counted: concurrent fits share one retention period; the last one to end restores
    /// glibc's steady-state limits and trims. A no-op where the C library is not glibc.
    /// Kept memory is bounded: a heap that never trims can grow its resident footprint step after step when freed blocks
    /// do not fit later requests (measured once: RSS 648 → 838 MiB over 2,000 image AMP steps with 95–102 MiB in use).
    /// The training loop calls <see cref="TrimIfGrown()"/> after every batch; when the resident set has grown by more than
    /// <see cref="GrowthAllowance"/> since it settled, the heap is trimmed once. That costs one step's page faults, so it
    /// is cheap unless the heap really grows, and it caps RSS at the settled level plus the allowance.
    /// </summary>
    internal static class NativeHeap
    {
        // mallopt parameters (malloc.h).
        private const int TrimThreshold = -1;
        private const int TopPad = -2;
        private const int MmapThreshold = -3;
        private const int MmapMax = -4;

        // What glibc's own dynamic rule converges to once large blocks have been freed (its mmap threshold tops out at
        // 32 MiB on 64-bit, the trim threshold at twice that), and its default count of mmap'd blocks.
        private const int SteadyMmapThreshold = 32 << 20;
        private const int SteadyTrimThreshold = 64 << 20;
        private const int DefaultMmapMax = 65536;
        private const int DefaultTopPad = 128 << 10;
        // A thread arena (every thread but the process's first allocates from one) unmaps a sub-heap, at most 64 MiB,
        // as soon as it is entirely free, whatever the trim threshold says, unless the top pad it must keep is larger
        // than a sub-heap (glibc heap_trim). Fits on worker threads (test hosts, Model Builder, web servers) need it.
        private const int RetainingTopPad = 96 << 20;

        // How often TrimIfGrown reads the resident set: reading /proc/self/statm costs microseconds, a step milliseconds.
        private const int StepsPerCheck = 16;

        private static readonly object Gate = new object();
        private static int _retainers;
        private static bool? _available;
        private static int _stepsSinceCheck;
        private static long _settledResidentBytes = -1; // -1: take it at the next check (after a start or a trim)
        private static long _trims;

        /// <summary>Trims made by <see cref="TrimIfGrown()"/> since the process started (the soak reports it).</summary>
        public static long Trims => Interlocked.Read(ref _trims);

        /// <summary>How far the resident set may grow beyond its settled level before the kept memory is trimmed.</summary>
        internal static long GrowthAllowance(long settledResidentBytes) => Math.Max(128L << 20, settledResidentBytes / 8);

        /// <summary>True when the C library is glibc (mallopt and malloc_trim exist).</summary>
        public static bool IsTunable
        {
            get
            {
                lock (Gate)
                    return _available ??= Probe();
            }
        }

        /// <summary>
        /// From now until the returned object is disposed, freed blocks stay in the process for reuse (no trimming, no
        /// mmap'd blocks). Dispose returns what is free to the kernel. Returns a no-op scope where glibc is absent.
        /// </summary>
        public static IDisposable RetainFreedMemory()
        {
            lock (Gate)
            {
                if (!(_available ??= Probe()))
                    return new Retention(active: false);
                if (_retainers++ == 0)
                {
                    mallopt(TrimThreshold, int.MaxValue);
                    mallopt(MmapMax, 0);
                    mallopt(TopPad, RetainingTopPad);
                }
                // Every retention settles anew: a fit started inside another retention (the benchmark's bare loop holds
                // one across its estimator fits) has its own working set, and measured against the outer level it
                // trimmed on every fit.
                _settledResidentBytes = -1;
                _stepsSinceCheck = 0;
                return new Retention(active: true);
            }
        }

        /// <summary>
        /// Called after each training step while memory is retained: every <see cref="StepsPerCheck"/> calls it reads the
        /// resident set; the first reading after the retention starts (or after a trim) is the settled level, since the
        /// steps before it have faulted their working set in. When a later reading exceeds that level by more than the
        /// allowance, it gives the free memory back (malloc_trim) and settles again at the next check. Returns true when
        /// it trimmed. Retention itself stays on: the next steps reuse the blocks that are still in the heap.
        /// </summary>
        public static bool TrimIfGrown() => TrimIfGrown(checkNow: false);

        internal static bool TrimIfGrown(bool checkNow)
        {
            lock (Gate)
            {
                if (_retainers == 0) // a retention only starts where glibc is
                    return false;
                if (!checkNow && ++_stepsSinceCheck < StepsPerCheck)
                    return false;
                _stepsSinceCheck = 0;
                long resident = ResidentBytes();
                if (resident < 0)
                    return false;
                if (_settledResidentBytes < 0)
                {
                    _settledResidentBytes = resident;
                    return false;
                }
                if (resident - _settledResidentBytes <= GrowthAllowance(_settledResidentBytes))
                    return false;
                GiveBackFreeMemory();
                _settledResidentBytes = -1;
                Interlocked.Increment(ref _trims);
                return true;
            }
        }

        /// <summary>Returns the heap's free memory to the kernel (malloc_trim(0), every arena). Only where <see cref="IsTunable"/>.</summary>
        internal static void GiveBackFreeMemory() => malloc_trim(UIntPtr.Zero);

        /// <summary>The resident set in bytes (/proc/self/statm's second field, in pages), or -1 when unreadable.</summary>
        internal static long ResidentBytes()
        {
            try
            {
                string[] fields = File.ReadAllText("/proc/self/statm").Split(' ');
                return long.Parse(fields[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is FormatException || e is IndexOutOfRangeException)
            {
                return -1;
            }
        }

        private static void Release()
        {
            lock (Gate)
            {
                if (--_retainers > 0)
                    return;
                mallopt(TopPad, DefaultTopPad);
                mallopt(MmapMax, DefaultMmapMax);
                mallopt(MmapThreshold, SteadyMmapThreshold);
                mallopt(TrimThreshold, SteadyTrimThreshold);
                GiveBackFreeMemory();
            }
        }

        private static bool Probe()
        {
            if (!OperatingSystem.IsLinux())
                return false;
            try
            {
                // gnu_get_libc_version exists only in glibc (musl has mallopt as a stub that does nothing).
                return Marshal.PtrToStringAnsi(gnu_get_libc_version()) is { Length: > 0 };
            }
            catch (Exception e) when (e is DllNotFoundException || e is EntryPointNotFoundException)
            {
                return false;
            }
        }

        private sealed class Retention : IDisposable
        {
            private bool _active;

            public Retention(bool active) => _active = active;

            public void Dispose()
            {
                if (!_active)
                    return;
                _active = false;
                Release();
            }
        }

        [DllImport("libc.so.6")]
        private static extern int mallopt(int param, int value);

        [DllImport("libc.so.6")]
        private static extern int malloc_trim(UIntPtr pad);

        [DllImport("libc.so.6")]
        private static extern IntPtr gnu_get_libc_version();
    }
}
