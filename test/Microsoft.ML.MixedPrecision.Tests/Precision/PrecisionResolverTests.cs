using System.Collections.Generic;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.ML.MixedPrecision.Training.Precision;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Tests.Precision
{
    /// <summary>
    /// The Auto choice on both kinds of CPU this project runs on (with and without AVX512-BF16), whichever this one is.
    /// </summary>
    [TestClass]
    public class PrecisionResolverTests
    {
        [TestInitialize]
        public void Init() => TorchRuntime.EnsureAvailable();

        [TestMethod]
        [DataRow(true, TrainingPrecision.BFloat16, false)]
        [DataRow(false, TrainingPrecision.Float32, true)]
        public void Auto_takes_bfloat16_only_on_a_cpu_with_native_bf16(bool fastBf16, TrainingPrecision expected, bool warns)
        {
            var (precision, warnings) = Resolve(new MixedPrecisionOptions(), fastBf16);
            precision.Should().Be(expected);
            if (warns)
                warnings.Should().ContainSingle().Which.Should().Contain("no native bfloat16").And.Contain("Precision = BFloat16");
            else
                warnings.Should().BeEmpty();
        }

        [TestMethod]
        public void Asked_for_bfloat16_is_kept_on_a_cpu_without_native_bf16()
        {
            var (precision, warnings) = Resolve(new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16 }, cpuHasFastBFloat16: false);
            precision.Should().Be(TrainingPrecision.BFloat16);
            warnings.Should().BeEmpty();
        }

        private static (TrainingPrecision, List<string>) Resolve(MixedPrecisionOptions options, bool cpuHasFastBFloat16)
        {
            var warnings = new List<string>();
            var ml = new MLContext(seed: 1);
            ml.Log += (_, e) => { if (e.Source.Contains("PrecisionTest") && e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Warning) lock (warnings) warnings.Add(e.Message); };
            using var log = new TrainingLog(ml, "PrecisionTest");
            using var plugin = PrecisionResolver.Resolve(options, DeviceType.CPU, log, cpuHasFastBFloat16);
            return (plugin.Precision, warnings);
        }
    }
}
