using System;
using System.IO;
using System.Linq;
using TorchSharp;
using ScalarType = TorchSharp.torch.ScalarType;

namespace Microsoft.ML.MixedPrecision.Amp
{
    /// <summary>
    /// What this machine can do fast, used for the automatic precision choice: bfloat16 autocast pays off on a CPU only
    /// with native bf16 instructions (AVX512-BF16 or AMX); without them it is slower than float32 (pytorch #86270).
    /// </summary>
    public static class AmpCapabilities
    {
        private static readonly Lazy<string[]> CpuFlags = new Lazy<string[]>(() => ReadCpuInfo("flags"));

        /// <summary>True when the CPU has AVX512-BF16 or AMX-BF16 (Linux: read from /proc/cpuinfo).</summary>
        public static bool CpuHasFastBFloat16 => CpuFlags.Value.Contains("avx512_bf16") || CpuFlags.Value.Contains("amx_bf16");

        /// <summary>True when TorchSharp sees a CUDA device (never with the TorchSharp-cpu package).</summary>
        public static bool IsCudaAvailable
        {
            get
            {
                TorchRuntime.EnsureAvailable();
                return torch.cuda.is_available();
            }
        }

        /// <summary>
        /// Whether <paramref name="device"/> can run <paramref name="dtype"/> at all. bf16 on CUDA needs compute capability
        /// 8.0+, which TorchSharp 0.107 cannot query: we report it as supported and let libtorch fail loudly otherwise.
        /// </summary>
        public static bool Supports(DeviceType device, ScalarType dtype)
        {
            if (dtype != ScalarType.BFloat16 && dtype != ScalarType.Float16)
                return false;
            return device == DeviceType.CPU || (device == DeviceType.CUDA && IsCudaAvailable);
        }

        /// <summary>The words of the first /proc/cpuinfo line of <paramref name="field"/> (Linux), else none.</summary>
        private static string[] ReadCpuInfo(string field)
        {
            try
            {
                if (!File.Exists("/proc/cpuinfo"))
                    return Array.Empty<string>();
                string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
                return line == null ? Array.Empty<string>() : line.Substring(line.IndexOf(':') + 1).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            }
            catch (IOException)
            {
                return Array.Empty<string>();
            }
        }
    }
}
