using System;
using System.IO;
using System.Linq;
using System.Text;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Native
{
    /// <summary>
    /// Loads TorchSharp once, turning its long native-load failure into a message that names the cause and the fix.
    /// TorchSharp 0.107's native shim needs libstdc++ with GLIBCXX_3.4.32 (GCC 13+), which e.g. Debian 12 lacks.
    /// </summary>
    internal static class LibTorchRuntime
    {
        /// <summary>The libstdc++ symbol version TorchSharp 0.107's native library needs.</summary>
        public const string RequiredGlibcxxVersion = "GLIBCXX_3.4.32";

        private static readonly object Gate = new object();
        private static volatile bool _available;

        /// <summary>Throws <see cref="PlatformNotSupportedException"/> with a fix when TorchSharp cannot load here.</summary>
        public static void EnsureAvailable()
        {
            if (_available)
                return;
            lock (Gate)
            {
                if (_available)
                    return;
                if (OperatingSystem.IsLinux())
                {
                    string? lib = FindLoadedLibStdCxx() ?? FindSystemLibStdCxx();
                    string? problem = lib == null ? null : CheckLibStdCxx(lib);
                    if (problem != null)
                        throw new PlatformNotSupportedException(problem);
                }
                try
                {
                    // Touches the native library: torch's static initialization loads libtorch and LibTorchSharp.
                    using var probe = torch.zeros(1);
                }
                catch (Exception e) when (e is TypeInitializationException || e is DllNotFoundException || e is NotSupportedException)
                {
                    throw new PlatformNotSupportedException(
                        "TorchSharp could not load its native libraries (libtorch 2.10 via TorchSharp-cpu 0.107.0). " +
                        $"On Linux this usually means libstdc++ lacks {RequiredGlibcxxVersion}: install libstdc++6 from GCC 13 or " +
                        "newer (Debian 12: libstdc++6 from trixie; the repository's build/prereqs.sh does it). Details: " +
                        e.Innermost().Message, e);
                }
                _available = true;
            }
        }

        /// <summary>
        /// Returns null when <paramref name="libStdCxxPath"/> provides <see cref="RequiredGlibcxxVersion"/>, otherwise the
        /// user-facing message naming the missing version and the fix.
        /// </summary>
        internal static string? CheckLibStdCxx(string libStdCxxPath)
        {
            byte[] needle = Encoding.ASCII.GetBytes(RequiredGlibcxxVersion + "\0");
            byte[] content;
            try
            {
                content = File.ReadAllBytes(libStdCxxPath);
            }
            catch (IOException)
            {
                return null; // cannot tell: let the real load decide
            }
            if (content.AsSpan().IndexOf(needle) >= 0)
                return null;
            return $"TorchSharp 0.107 (libtorch 2.10) needs libstdc++ with {RequiredGlibcxxVersion} (GCC 13 or newer), but " +
                   $"'{libStdCxxPath}' does not provide it. Fix: install a newer libstdc++6. On Debian 12 (bookworm), as root: " +
                   "add Debian trixie as a temporary apt source and run 'apt-get install -t trixie libstdc++6' " +
                   "(this repository's build/prereqs.sh does exactly that); Ubuntu 24.04 and Debian 13 already have it.";
        }

        private static string? FindLoadedLibStdCxx()
        {
            try
            {
                return File.ReadLines("/proc/self/maps")
                    .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault())
                    .FirstOrDefault(path => path != null && path.StartsWith("/") && Path.GetFileName(path).StartsWith("libstdc++.so"));
            }
            catch (IOException)
            {
                return null;
            }
        }

        private static string? FindSystemLibStdCxx()
        {
            string[] candidates =
            {
                "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
                "/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
            };
            return candidates.FirstOrDefault(File.Exists);
        }
    }
}
