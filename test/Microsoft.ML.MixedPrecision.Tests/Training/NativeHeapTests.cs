using System;
using System.Runtime.InteropServices;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    [TestClass]
    [DoNotParallelize] // counts the whole process's page faults
    public class NativeHeapTests
    {
        // Whether a freed block is reused without faulting while retained depends, off the main thread (where MSTest runs
        // tests), on the state of glibc's per-thread arena (its heaps are at most 64 MiB and an emptied extra heap is
        // unmapped whatever the trim threshold): such a test passed and failed from one run to the next, so the reuse is
        // measured by the benchmark (page faults and samples/s, README) instead. What is deterministic: once no fit
        // trains, a block above 64 MiB is mmap'd and unmapped again (retention switches mmap off; the end must restore it).
        private const int HeapBlock = 40 << 20;
        private const int MappedBlock = 80 << 20;
        private const int Cycles = 6;

        [TestMethod]
        public void After_the_last_retention_large_blocks_are_unmapped_again_as_by_default()
        {
            if (!NativeHeap.IsTunable)
                Assert.Inconclusive("The C library is not glibc.");

            using (NativeHeap.RetainFreedMemory())
            using (NativeHeap.RetainFreedMemory())
                AllocateTouchFree(HeapBlock);
            FaultsOver(Cycles, MappedBlock).Should().BeGreaterThan(Cycles * Pages(MappedBlock) / 2,
                "once no fit trains, glibc maps and unmaps large blocks again");
        }

        private static long Pages(int bytes) => bytes / 4096;

        private static long FaultsOver(int cycles, int bytes)
        {
            long before = MinorFaults();
            for (int i = 0; i < cycles; i++)
                AllocateTouchFree(bytes);
            return MinorFaults() - before;
        }

        private static void AllocateTouchFree(int bytes)
        {
            IntPtr block = Marshal.AllocHGlobal(bytes); // malloc on Linux
            try
            {
                for (int offset = 0; offset < bytes; offset += 4096)
                    Marshal.WriteByte(block, offset, 1);
            }
            finally
            {
                Marshal.FreeHGlobal(block);
            }
        }

        private static long MinorFaults()
        {
            var usage = new RUsage();
            getrusage(0, ref usage).Should().Be(0); // RUSAGE_SELF
            return usage.MinorFaults;
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct RUsage
        {
            public long UserSeconds, UserMicroseconds, SystemSeconds, SystemMicroseconds;
            public long MaxRss, SharedRss, UnsharedData, UnsharedStack, MinorFaults, MajorFaults;
            public long Swaps, BlockIn, BlockOut, MessagesSent, MessagesReceived, Signals, VoluntarySwitches, InvoluntarySwitches;
        }

        [DllImport("libc.so.6")]
        private static extern int getrusage(int who, ref RUsage usage);
    }
}
