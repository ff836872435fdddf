using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Report
{
    /// <summary>What the figures were measured on.</summary>
    internal sealed class MachineInfo
    {
        public string CpuModel { get; init; }
        public int Cores { get; init; }
        public int TorchThreads { get; init; }
        public string Runtime { get; init; }
        public string Os { get; init; }
        public string TorchSharpVersion { get; init; }

        public static MachineInfo Describe()
        {
            string cpu = File.Exists("/proc/cpuinfo")
                ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
                : null;
            return new MachineInfo
            {
                CpuModel = cpu ?? RuntimeInformation.ProcessArchitecture.ToString(),
                Cores = Environment.ProcessorCount,
                TorchThreads = global::TorchSharp.torch.get_num_threads(),
                Runtime = RuntimeInformation.FrameworkDescription,
                Os = RuntimeInformation.OSDescription,
                TorchSharpVersion = typeof(global::TorchSharp.torch).Assembly.GetName().Version?.ToString(),
            };
        }

        public override string ToString() =>
            $"{CpuModel}, {Cores} cores, libtorch threads {TorchThreads}; {Runtime}; TorchSharp {TorchSharpVersion}; {Os}";
    }
}
