using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using FluentAssertions;

namespace Microsoft.ML.MixedPrecision.Tests.Distributed
{
    /// <summary>
    /// Runs the DistributedHost program under Open MPI's mpirun on this machine (loopback), or alone, and reads the outcome
    /// files it writes per rank. mpirun runs as root here (--allow-run-as-root), may start more ranks than free cores
    /// (--oversubscribe), and copies through shared memory without the cross-memory-attach containers forbid.
    /// </summary>
    internal sealed class MpiJob : IDisposable
    {
        public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

        public MpiJob()
        {
            Folder = Path.Combine(Path.GetTempPath(), "mp-mpi-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Folder);
        }

        public string Folder { get; }

        public static string HostDll => typeof(MpiJob).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "DistributedHostDll").Value;

        /// <summary>Starts the host under "mpirun -np <paramref name="ranks"/>" (or alone when 0), output and errors redirected.</summary>
        public static Process Start(int ranks, IEnumerable<string> mpiOptions, params string[] hostArguments)
        {
            File.Exists(HostDll).Should().BeTrue($"the test build builds the host program ({HostDll})");
            string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
            var psi = new ProcessStartInfo(ranks == 0 ? dotnet : "mpirun")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            if (ranks > 0)
            {
                foreach (string a in new[] { "-np", ranks.ToString(), "--allow-run-as-root", "--oversubscribe", "--mca", "btl_vader_single_copy_mechanism", "none" }
                             .Concat(mpiOptions).Append(dotnet))
                    psi.ArgumentList.Add(a);
            }
            psi.ArgumentList.Add(HostDll);
            foreach (string a in hostArguments)
                psi.ArgumentList.Add(a);
            psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            return Process.Start(psi)!;
        }

        /// <summary>Runs the host to its end; returns the exit code, standard output and standard error. Kills it all on timeout.</summary>
        public static (int ExitCode, string Output, string Error) Run(int ranks, IEnumerable<string> mpiOptions, params string[] hostArguments)
        {
            using var job = Start(ranks, mpiOptions, hostArguments);
            var error = job.StandardError.ReadToEndAsync();
            var output = job.StandardOutput.ReadToEndAsync();
            if (!job.WaitForExit(Timeout))
            {
                KillTree(job.Id);
                throw new TimeoutException($"mpirun -np {ranks} {string.Join(" ", hostArguments)} did not end within {Timeout}.");
            }
            job.WaitForExit();
            return (job.ExitCode, output.Result, error.Result);
        }

        /// <summary>Runs a fit of the host and returns each rank's outcome lines (rank → lines); fails the test if the job failed.</summary>
        public List<string>[] Fit(int ranks, string workload, TrainingPrecision precision, int batchSize, string name,
            string checkpoints = "-", params string[] mpiOptions)
        {
            string prefix = Path.Combine(Folder, name);
            var (code, output, error) = Run(ranks, mpiOptions, workload, precision.ToString(), batchSize.ToString(), prefix, checkpoints);
            code.Should().Be(0, $"the job ran to its end:\n{output}\n{error}");
            return Outcome(prefix, Math.Max(1, ranks));
        }

        public static List<string>[] Outcome(string prefix, int ranks) =>
            Enumerable.Range(0, ranks).Select(r => File.ReadAllLines($"{prefix}.rank{r}.txt").ToList()).ToArray();

        public static string Line(List<string> lines, string kind) => lines.Single(l => l.StartsWith(kind + "\t", StringComparison.Ordinal));

        public static float[] Scores(List<string> lines) =>
            Line(lines, "SCORES").Split('\t')[1].Split(' ').Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();

        /// <summary>SIGKILL to <paramref name="root"/> and every process below it (mpirun, its ranks, their children), found first, then killed.</summary>
        public static void KillTree(int root)
        {
            var children = new Dictionary<int, List<int>>();
            foreach (string dir in Directory.GetDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out int pid))
                    continue;
                try
                {
                    string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    int parent = int.Parse(stat.Substring(stat.LastIndexOf(')') + 2).Split(' ')[1]);
                    if (!children.TryGetValue(parent, out var list))
                        children[parent] = list = new List<int>();
                    list.Add(pid);
                }
                catch (IOException)
                {
                }
            }
            var tree = new List<int>();
            var pending = new Stack<int>(new[] { root });
            while (pending.Count > 0)
            {
                int pid = pending.Pop();
                tree.Add(pid);
                foreach (int child in children.GetValueOrDefault(pid) ?? new List<int>())
                    pending.Push(child);
            }
            foreach (int pid in tree)
                kill(pid, 9);
        }

        [DllImport("libc")]
        private static extern int kill(int pid, int signal);

        public void Dispose()
        {
            if (Directory.Exists(Folder))
                Directory.Delete(Folder, recursive: true);
        }
    }
}
