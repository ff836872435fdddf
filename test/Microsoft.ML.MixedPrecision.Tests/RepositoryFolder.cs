using System;
using System.IO;

namespace Microsoft.ML.MixedPrecision.Tests
{
    /// <summary>The repository's root folder (the one with Microsoft.ML.MixedPrecision.sln), for tests that read its files.</summary>
    internal static class RepositoryFolder
    {
        public static string Root()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Microsoft.ML.MixedPrecision.sln")))
                    return dir.FullName;
            }
            throw new DirectoryNotFoundException("The repository root (Microsoft.ML.MixedPrecision.sln) is not above " + AppContext.BaseDirectory);
        }
    }
}
