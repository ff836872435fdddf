using System;
using System.Collections.Generic;
using System.IO;

namespace Microsoft.ML.MixedPrecision.Native
{
    /// <summary>
    /// Where a file that a NuGet dependency of this library delivers is looked for: the app's output folder (where the
    /// package's build or runtime assets put it), next to this library's assembly, then the package's folder in the NuGet
    /// cache (tests and tools run from elsewhere).
    /// </summary>
    internal static class PackagedFile
    {
        /// <param name="inOutputFolder">The file's path relative to an output folder.</param>
        /// <param name="packageId">The NuGet package that delivers it.</param>
        /// <param name="packageVersion">The version this library depends on.</param>
        /// <param name="inPackage">The file's path inside the package's folder.</param>
        public static IEnumerable<string> Candidates(string inOutputFolder, string packageId, string packageVersion, string inPackage)
        {
            yield return Path.Combine(AppContext.BaseDirectory, inOutputFolder);
            string? assemblyDirectory = Path.GetDirectoryName(typeof(PackagedFile).Assembly.Location);
            if (!string.IsNullOrEmpty(assemblyDirectory))
                yield return Path.Combine(assemblyDirectory, inOutputFolder);
            string? packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
            if (string.IsNullOrEmpty(packages))
                packages = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            yield return Path.Combine(packages, packageId.ToLowerInvariant(), packageVersion, inPackage);
        }
    }
}
