using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Report
{
    /// <summary>What the PyTorch peer measured for one workload, and how closely it mirrors ours.</summary>
    internal sealed class PeerResult
    {
        /// <summary>First-step loss tolerances (relative): FP32 and bf16 autocast.</summary>
        public const double Fp32Tolerance = 1e-4, AmpTolerance = 1e-2;

        public string TorchVersion { get; init; }
        public int Threads { get; init; }
        public string Blas { get; init; }
        public long ParameterCount { get; init; }

        /// <summary>The CNNs' conv weight layout the peer timed faster, per precision ("fp32 nchw, amp channels_last"), or null.</summary>
        public string Layouts { get; init; }
        public List<double> Fp32 { get; } = new List<double>();
        public List<double> Amp { get; } = new List<double>();

        /// <summary>Per-step losses from the same initial weights and batches, dropout off: ours and the peer's.</summary>
        public List<double> OursParityFp32 { get; init; }
        public List<double> OursParityAmp { get; init; }
        public List<double> PeerParityFp32 { get; init; }
        public List<double> PeerParityAmp { get; init; }

        public double Fp32Median => Stats.Median(Fp32);
        public double AmpMedian => Stats.Median(Amp);

        public double FirstLossDifferenceFp32 => RelativeDifference(OursParityFp32[0], PeerParityFp32[0]);
        /// <summary>Whether AMP ran (the bench times FP32 only on a CPU without native bf16).</summary>
        public bool AmpTimed => OursParityAmp.Count > 0;
        public double FirstLossDifferenceAmp => AmpTimed ? RelativeDifference(OursParityAmp[0], PeerParityAmp[0]) : double.NaN;
        public double MaxLossDifferenceFp32 => OursParityFp32.Zip(PeerParityFp32, RelativeDifference).Max();
        public double MaxLossDifferenceAmp => AmpTimed ? OursParityAmp.Zip(PeerParityAmp, RelativeDifference).Max() : double.NaN;

        /// <summary>Same parameter count as ours and first-step losses within tolerance, in each precision that ran.</summary>
        public bool ParityPassed(long ourParameterCount) => ParameterCount == ourParameterCount
            && FirstLossDifferenceFp32 <= Fp32Tolerance && (!AmpTimed || FirstLossDifferenceAmp <= AmpTolerance);

        private static double RelativeDifference(double ours, double peer) => Math.Abs(ours - peer) / Math.Max(Math.Abs(ours), 1e-12);
    }
}
