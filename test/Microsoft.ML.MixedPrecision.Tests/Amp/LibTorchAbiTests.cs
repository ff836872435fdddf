using System;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Native;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Amp
{
    /// <summary>The native AMP entry points are called only on a libtorch whose ABI was tested (2.10.x).</summary>
    [TestClass]
    public class LibTorchAbiTests
    {
        [TestMethod]
        [DataRow("2.10.0.0")]
        [DataRow("2.10.0")]
        [DataRow("2.10.3")]
        public void Tested_libtorch_version_is_accepted(string version)
        {
            LibTorchAbi.Check(version, "a test").Should().BeNull();
        }

        [TestMethod]
        [DataRow("2.11.0.0")]
        [DataRow("2.9.1")]
        [DataRow("1.10.0")]
        [DataRow("3.10.0")]
        [DataRow("")]
        [DataRow("unknown")]
        public void Other_libtorch_version_is_refused_naming_found_expected_and_fix(string version)
        {
            string message = LibTorchAbi.Check(version, "the test's source");
            message.Should().Contain($"'{version}'").And.Contain("the test's source").And.Contain("2.10.x").And.Contain("TorchSharp-cpu 0.107.0");
        }

        [TestMethod]
        public void This_machines_libtorch_is_detected_from_torchsharp_and_the_deps_file_and_accepted()
        {
            var found = LibTorchAbi.Detect().ToList();
            found.Should().Contain(f => f.Source.Contains("torch.__version__"));
            found.Should().Contain(f => f.Source.Contains("libtorch-cpu"), "the test's deps file lists the libtorch-cpu package");
            found.Should().OnlyContain(f => LibTorchAbi.Check(f.Version, f.Source) == null);
            Action load = LibTorchAbi.EnsureTested;
            load.Should().NotThrow();
        }

        [TestMethod]
        public void Deps_file_naming_another_libtorch_package_is_refused()
        {
            string deps = Path.Combine(Path.GetTempPath(), $"mp-{Guid.NewGuid():N}.deps.json");
            File.WriteAllText(deps, "{ \"libraries\": { \"libtorch-cpu-linux-x64/2.11.0\": { \"type\": \"package\" } } }");
            try
            {
                var (version, source) = LibTorchAbi.FromDepsFiles(deps).Single();
                version.Should().Be("2.11.0");
                LibTorchAbi.Check(version, source).Should().Contain("libtorch-cpu-linux-x64").And.Contain("'2.11.0'");
            }
            finally
            {
                File.Delete(deps);
            }
        }
    }
}
