using System;
using System.Collections.Generic;
using System.IO;
using System.Text.RegularExpressions;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Native
{
    /// <summary>
    /// Which libtorch builds the native entry points of <see cref="LibTorchAmpNative"/> were tested against. They are bound
    /// by C++ mangled names and called with C++ calling conventions and layouts (enum values, <c>ArrayRef</c>, one-pointer
    /// <c>at::Tensor</c>); another libtorch may keep the names and change what is behind them, and a mismatch there crashes
    /// the process instead of raising an exception. So the first native AMP call checks the version first.
    /// </summary>
    internal static class LibTorchAbi
    {
        /// <summary>The libtorch release (major.minor; any patch) the boundary was tested with: TorchSharp-cpu 0.107's.</summary>
        public static readonly Version Tested = new Version(2, 10);

        private const string Fix = "Fix: reference TorchSharp-cpu 0.107.0 (libtorch 2.10.0), the version this library was built and tested with " +
                                   "(a direct reference to another TorchSharp or libtorch package overrides it).";

        /// <summary>
        /// Null when <paramref name="foundVersion"/> (e.g. "2.10.0.0") is a tested libtorch, else the message naming what
        /// <paramref name="source"/> reported, what was expected and the fix.
        /// </summary>
        public static string? Check(string? foundVersion, string source)
        {
            var match = Regex.Match(foundVersion ?? "", @"^\s*v?(\d+)\.(\d+)");
            if (match.Success && int.Parse(match.Groups[1].Value) == Tested.Major && int.Parse(match.Groups[2].Value) == Tested.Minor)
                return null;
            return $"Mixed precision calls libtorch's autocast and AMP kernels by their C++ names, tested with libtorch {Tested.Major}.{Tested.Minor}.x, " +
                   $"but {source} reports libtorch '{foundVersion}'. Another libtorch may change those functions' binary interface, which would " +
                   $"crash the process, so they are not called. {Fix}";
        }

        /// <summary>The libtorch versions this process can tell: TorchSharp's own, and the libtorch package the app's deps file lists.</summary>
        public static IEnumerable<(string Version, string Source)> Detect()
        {
            yield return (torch.__version__, $"TorchSharp {typeof(torch).Assembly.GetName().Version} (torch.__version__)");
            foreach (var found in FromDepsFiles(AppContext.GetData("APP_CONTEXT_DEPS_FILES") as string))
                yield return found;
        }

        /// <summary>The libtorch-cpu / libtorch-cuda package versions named in the given deps files (';'-separated paths).</summary>
        internal static IEnumerable<(string Version, string Source)> FromDepsFiles(string? depsFiles)
        {
            if (string.IsNullOrEmpty(depsFiles))
                yield break;
            foreach (string path in depsFiles.Split(';', StringSplitOptions.RemoveEmptyEntries))
            {
                string text;
                try
                {
                    text = File.ReadAllText(path);
                }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
                {
                    continue;
                }
                var match = Regex.Match(text, "\"(libtorch-(?:cpu|cuda-[0-9.]+)-[a-z0-9-]+)/([0-9][0-9.]*)\"");
                if (match.Success)
                    yield return (match.Groups[2].Value, $"the package {match.Groups[1].Value} in '{Path.GetFileName(path)}'");
            }
        }

        /// <summary>Throws <see cref="PlatformNotSupportedException"/> when a version this process reports is not a tested one.</summary>
        public static void EnsureTested()
        {
            foreach (var (version, source) in Detect())
            {
                string? problem = Check(version, source);
                if (problem != null)
                    throw new PlatformNotSupportedException(problem);
            }
        }
    }
}
