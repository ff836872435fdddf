using System;

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>
    /// A training step could not allocate memory: the fit stops with this instead of libtorch's native error. The message
    /// names the batch size, the allocation that failed and the options that make a step smaller
    /// (<see cref="ClassificationTrainerOptionsBase.BatchSize"/> with <see cref="ClassificationTrainerOptionsBase.GradientAccumulationSteps"/>,
    /// or <see cref="ClassificationTrainerOptionsBase.MemoryBudgetMegabytes"/>). On Linux a process usually sees this only
    /// under an address-space limit (ulimit -v) or for an allocation larger than the machine's memory: with the kernel's
    /// default overcommit, running out of memory otherwise ends the process (the OOM killer), which only a
    /// <see cref="ClassificationTrainerOptionsBase.MemoryBudgetMegabytes"/> set below the limit prevents.
    /// </summary>
    public sealed class TrainingMemoryException : OutOfMemoryException
    {
        /// <summary>Creates the exception for a failed step at <paramref name="batchSize"/> examples.</summary>
        /// <param name="message">What failed and what to set.</param>
        /// <param name="batchSize">Examples in the batch whose step failed.</param>
        /// <param name="requestedBytes">Bytes of the allocation that failed, or -1 when unknown.</param>
        /// <param name="residentBytes">The process's resident memory when it failed, or -1 when unknown.</param>
        /// <param name="inner">libtorch's error.</param>
        public TrainingMemoryException(string message, int batchSize, long requestedBytes, long residentBytes, Exception? inner)
            : base(message, inner)
        {
            BatchSize = batchSize;
            RequestedBytes = requestedBytes;
            ResidentBytes = residentBytes;
        }

        /// <summary>Examples in the batch whose training step failed.</summary>
        public int BatchSize { get; }

        /// <summary>Bytes of the allocation that failed (libtorch's request), or -1 when unknown.</summary>
        public long RequestedBytes { get; }

        /// <summary>The process's resident memory in bytes when the allocation failed, or -1 when unknown.</summary>
        public long ResidentBytes { get; }
    }
}
