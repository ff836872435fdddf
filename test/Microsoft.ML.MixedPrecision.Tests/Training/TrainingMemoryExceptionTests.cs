using System;
using System.Linq;
using FluentAssertions;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>A training step whose allocation fails ends the fit with TrainingMemoryException, not libtorch's native error.</summary>
    [TestClass]
    public class TrainingMemoryExceptionTests
    {
        [TestMethod]
        public void A_step_over_an_address_space_limit_throws_naming_the_batch_the_bytes_and_the_fix()
        {
            // The child caps its address space at its size after a warm-up fit plus 100 MiB (ulimit -v's limit), then fits
            // at a batch of 24 96-px images, whose step needs ~700 MiB more: malloc fails inside libtorch. (At 64 px and
            // 200 MiB the step once fitted in address space the warm-up had left reserved.)
            var lines = ChildProcess.Run("CheckpointChildDll", TimeSpan.FromSeconds(120), "memory-limit child", "oom", "100");
            string outcome = lines.Single(l => l.StartsWith("OOM", StringComparison.Ordinal) || l.StartsWith("OTHER", StringComparison.Ordinal) || l == "FITTED");
            string message = lines.SingleOrDefault(l => l.StartsWith("MESSAGE", StringComparison.Ordinal));
            var fields = outcome.Split('\t');
            fields[0].Should().Be("OOM", $"the fit should throw TrainingMemoryException ({message})");
            fields[1].Should().Be(MemoryLimitRun.LargeBatch.ToString());
            long.Parse(fields[2]).Should().BePositive("libtorch's message says how many bytes it asked for");
            message.Should().Contain($"batch of {MemoryLimitRun.LargeBatch} examples").And.Contain($"{fields[2]} bytes")
                .And.Contain("Set BatchSize to 12 and GradientAccumulationSteps to 2").And.Contain("MemoryBudgetMegabytes");
        }

        [TestMethod]
        public void Libtorch_allocation_errors_are_recognized_with_their_size()
        {
            var e = new System.Runtime.InteropServices.ExternalException(
                "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate 2004000000 bytes. " +
                "Error code 12 (Cannot allocate memory)\nframe #0: c10::ThrowEnforceNotMet");
            Native.AllocationFailure.Is(new InvalidOperationException("wrapped", e), out long bytes).Should().BeTrue();
            bytes.Should().Be(2004000000);
            Native.AllocationFailure.Is(new InvalidOperationException("shape mismatch"), out _).Should().BeFalse();
        }
    }
}
