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
        // Above glibc's largest mmap threshold (32 MiB), so by default every such block is mmap'd and unmapped again and
        // each cycle faults all of its pages in. 48 MiB still fits one of glibc's per-thread heaps (64 MiB; MSTest runs
        // tests off the main thread); 80 MiB does not, so a thread's arena can only ever mmap it.
        private const int HeapBlock = 48 << 20;
        private const int MappedBlock = 80 << 20;
        private const int Cycles = 6;

        [TestMethod]
        public void While_retained_a_freed_block_is_reused_without_faulting_its_pages_in_again()
        {
            if (!NativeHeap.IsTunable)
                Assert.Inconclusive("The C library is not glibc.");

            using (NativeHeap.RetainFreedMemory())
            {
                AllocateTouchFree(HeapBlock); // the first cycle faults the pages in once
                FaultsOver(Cycles, HeapBlock).Should().BeLessThan(Pages(HeapBlock) / 4, "the freed block's pages stay mapped for the next cycle");
            }
        }

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

        [TestMethod]
        public void Nested_retentions_end_with_the_last_one()
        {
            if (!NativeHeap.IsTunable)
                Assert.Inconclusive("The C library is not glibc.");

            using (NativeHeap.RetainFreedMemory())
            {
                using (NativeHeap.RetainFreedMemory())
                    AllocateTouchFree(HeapBlock);
                FaultsOver(Cycles, HeapBlock).Should().BeLessThan(Pages(HeapBlock) / 4, "the outer fit still trains after the inner one ended");
            }
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
