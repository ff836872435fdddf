using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using FluentAssertions;

namespace Microsoft.ML.MixedPrecision.Tests
{
    /// <summary>Starts one of the small programs the test build builds next to the tests (named by an assembly metadata key).</summary>
    internal static class ChildProcess
    {
        public static Process Start(string dllMetadataKey, params string[] arguments)
        {
            string dll = typeof(ChildProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .Single(a => a.Key == dllMetadataKey).Value;
            File.Exists(dll).Should().BeTrue($"the test build builds the child program ({dll})");
            var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            psi.ArgumentList.Add(dll);
            foreach (string argument in arguments)
                psi.ArgumentList.Add(argument);
            psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            return Process.Start(psi);
        }

        /// <summary>Runs the program to its end and returns its output lines; throws if it times out, fails if it exits non-zero.</summary>
        public static List<string> Run(string dllMetadataKey, TimeSpan timeout, string what, params string[] arguments)
        {
            using var child = Start(dllMetadataKey, arguments);
            var stderr = child.StandardError.ReadToEndAsync();
            string stdout = child.StandardOutput.ReadToEnd();
            if (!child.WaitForExit(timeout))
            {
                child.Kill(entireProcessTree: true);
                throw new TimeoutException($"The {what} did not finish.");
            }
            child.ExitCode.Should().Be(0, $"the {what} failed:\n{stdout}\n{stderr.Result}");
            return stdout.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        }
    }
}
