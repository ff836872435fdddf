using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text.Json;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Measurement
{
    /// <summary>Runs this benchmark again as a child process (a fresh heap per measurement) and reads the one JSON result line it prints.</summary>
    internal static class ChildRun
    {
        /// <summary>Starts this program with <paramref name="arguments"/>; returns the JSON after <paramref name="resultPrefix"/> on its output.</summary>
        public static TResult Result<TResult>(IEnumerable<string> arguments, string resultPrefix, string what)
        {
            var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
                start.ArgumentList.Add(typeof(ChildRun).Assembly.Location);
            foreach (string arg in arguments)
                start.ArgumentList.Add(arg);
            using var child = Process.Start(start)!;
            string output = child.StandardOutput.ReadToEnd();
            child.WaitForExit();
            foreach (string line in output.Split('\n'))
            {
                if (line.StartsWith(resultPrefix, StringComparison.Ordinal))
                    return JsonSerializer.Deserialize<TResult>(line.Substring(resultPrefix.Length))!;
            }
            throw new InvalidOperationException($"The {what} exited with {child.ExitCode} and no result:\n{output}");
        }
    }
}
