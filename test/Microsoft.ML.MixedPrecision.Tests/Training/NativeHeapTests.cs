using System;
using System.Runtime.InteropServices;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Native;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>
    /// The fit's heap policy, with blocks from malloc itself (Marshal.AllocHGlobal is malloc on Linux, as libtorch's CPU
    /// allocator is): freed memory stays resident while retained, goes back when the retention ends, and a resident set
    /// that outgrows its settled level by more than the allowance is trimmed mid-fit, once.
    /// </summary>
    [TestClass]
    public class NativeHeapTests
    {
        private const int BlockBytes = 1 << 20;

        [TestInitialize]
        public void RequireGlibc()
        {
            if (!NativeHeap.IsTunable)
                Assert.Inconclusive("The C library is not glibc: NativeHeap does nothing here.");
            // Earlier tests in this process (a ResNet18 step, say) leave freed memory resident in the heap; it would serve
            // this test's blocks without raising RSS. Give it back first, so every block here is new memory.
            NativeHeap.GiveBackFreeMemory();
        }

        [TestMethod]
        public void Freed_blocks_stay_resident_while_retained_and_go_back_when_the_retention_ends()
        {
            long before, whileRetained;
            using (NativeHeap.RetainFreedMemory())
            {
                before = NativeHeap.ResidentBytes();
                AllocateTouchAndFree(256);
                whileRetained = NativeHeap.ResidentBytes();
            }
            long after = NativeHeap.ResidentBytes();

            (whileRetained - before).Should().BeGreaterThan(200L << 20, "256 MiB freed while retained stay in the process for reuse");
            (whileRetained - after).Should().BeGreaterThan(150L << 20, "ending the retention trims the heap");
        }

        [TestMethod]
        public void A_resident_set_grown_past_the_allowance_is_trimmed_once_and_then_settles_again()
        {
            using (NativeHeap.RetainFreedMemory())
            {
                NativeHeap.TrimIfGrown(checkNow: true).Should().BeFalse("the first check only takes the settled level");
                long settled = NativeHeap.ResidentBytes();
                int blocks = (int)(NativeHeap.GrowthAllowance(settled) / BlockBytes) + 128;
                long trimsBefore = NativeHeap.Trims;

                AllocateTouchAndFree(blocks);
                long grown = NativeHeap.ResidentBytes();
                NativeHeap.TrimIfGrown(checkNow: true).Should().BeTrue($"RSS grew {(grown - settled) >> 20} MiB past its settled {settled >> 20} MiB");
                long trimmed = NativeHeap.ResidentBytes();

                (grown - trimmed).Should().BeGreaterThan(100L << 20, "the trim gives the freed blocks back");
                NativeHeap.Trims.Should().Be(trimsBefore + 1);
                NativeHeap.TrimIfGrown(checkNow: true).Should().BeFalse("after a trim the next check settles again");
                NativeHeap.TrimIfGrown(checkNow: true).Should().BeFalse("no growth since it settled");
            }
        }

        [TestMethod]
        public void Growth_within_the_allowance_keeps_the_freed_memory()
        {
            using (NativeHeap.RetainFreedMemory())
            {
                NativeHeap.TrimIfGrown(checkNow: true).Should().BeFalse();
                long settled = NativeHeap.ResidentBytes();
                AllocateTouchAndFree(32);
                NativeHeap.TrimIfGrown(checkNow: true).Should().BeFalse("32 MiB is within the allowance");
                (NativeHeap.ResidentBytes() - settled).Should().BeGreaterThan(24L << 20, "the freed blocks stay for reuse");
            }
        }

        [TestMethod]
        public void Outside_a_retention_nothing_is_checked_or_trimmed()
        {
            long trims = NativeHeap.Trims;
            for (int i = 0; i < 100; i++)
                NativeHeap.TrimIfGrown().Should().BeFalse();
            NativeHeap.TrimIfGrown(checkNow: true).Should().BeFalse();
            NativeHeap.Trims.Should().Be(trims);
        }

        /// <summary>
        /// Mallocs <c>count</c> blocks of 1 MiB on the calling thread, writes every page of each and frees them all, as a
        /// training step frees its activations. The test host runs tests on worker threads, which allocate from glibc's
        /// thread arenas: those unmap a sub-heap the moment it is entirely free unless NativeHeap's top pad stops them.
        /// </summary>
        private static void AllocateTouchAndFree(int count)
        {
            var blocks = new IntPtr[count];
            for (int b = 0; b < count; b++)
            {
                blocks[b] = Marshal.AllocHGlobal(BlockBytes);
                for (int offset = 0; offset < BlockBytes; offset += 4096)
                    Marshal.WriteByte(blocks[b], offset, 1);
            }
            foreach (var block in blocks)
                Marshal.FreeHGlobal(block);
        }
    }
}
