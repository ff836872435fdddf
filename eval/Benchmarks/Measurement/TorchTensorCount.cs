using System;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Measurement
{
    /// <summary>TorchSharp's tensor count, for the soak and the tests that check what a fit leaves alive.</summary>
    internal static class TorchTensorCount
    {
        /// <summary>
        /// Live TorchSharp tensors once the garbage is finalized: what a fit leaves reachable (tensors left to the finalizer
        /// are freed first). The count does not return to its start after a module is made and disposed, by one per
        /// parameter (TorchSharp 0.107; pinned in FitCycleLeakTests), so a fit is compared with a completed one or with
        /// that offset, not with zero.
        /// </summary>
        public static long AfterGc()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            return torch.Tensor.TotalCount;
        }
    }
}
