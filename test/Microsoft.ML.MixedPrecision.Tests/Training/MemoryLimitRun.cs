using System;
using System.IO;
using System.Runtime.InteropServices;
using Microsoft.ML.MixedPrecision.Tests.Vision;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>
    /// Run in the CheckpointChild process (<c>oom EXTRA_MIB</c>): fits a small image model once, then caps the process's
    /// address space (setrlimit RLIMIT_AS, as <c>ulimit -v</c> does) at its current size plus EXTRA_MIB and fits again at a
    /// batch whose step needs more, so libtorch's allocator really fails inside a training step. Prints
    /// "OOM\tbatch\tbytes" and "MESSAGE\t…" for the exception the fit threw, or "FITTED".
    /// </summary>
    internal static class MemoryLimitRun
    {
        public const int LargeBatch = 24;

        public static int Run(int extraMib)
        {
            var ml = new MLContext(1);
            using var images = new SyntheticImages(LargeBatch, size: 96, seed: 3);
            var raw = ml.Data.LoadFromEnumerable(images.Rows);
            var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw);
            Fit(ml, data, batchSize: 2); // warm-up: libtorch's threads and kernels, the heap, the JIT
            long limit = VirtualBytes() + ((long)extraMib << 20);
            if (setrlimit(RlimitAs, new RLimit { Current = (ulong)limit, Maximum = ulong.MaxValue }) != 0)
                throw new InvalidOperationException($"setrlimit failed ({Marshal.GetLastPInvokeError()})");
            try
            {
                Fit(ml, data, LargeBatch);
                Console.WriteLine("FITTED");
            }
            catch (Exception e)
            {
                Console.WriteLine(e is TrainingMemoryException m ? $"OOM\t{m.BatchSize}\t{m.RequestedBytes}" : "OTHER\t" + e.GetType().FullName);
                Console.WriteLine("MESSAGE\t" + e.Message.Replace('\n', ' '));
            }
            return 0;
        }

        private static void Fit(MLContext ml, IDataView data, int batchSize) =>
            ml.MulticlassClassification.Trainers.ImageClassification(new ImageClassificationTrainer.Options
            {
                FeatureColumnName = "ImageSource",
                Architecture = ResNetArchitecture.ResNetSmall,
                Epochs = 1,
                BatchSize = batchSize,
                ValidationSetFraction = 0,
                Seed = 5,
            }).Fit(data);

        private static long VirtualBytes()
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmSize:", StringComparison.Ordinal))
                    return long.Parse(line.Substring(7).Trim().Split(' ')[0]) * 1024;
            }
            throw new InvalidOperationException("no VmSize in /proc/self/status");
        }

        private const int RlimitAs = 9;

        [StructLayout(LayoutKind.Sequential)]
        private struct RLimit
        {
            public ulong Current;
            public ulong Maximum;
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int setrlimit(int resource, in RLimit limit);
    }
}
