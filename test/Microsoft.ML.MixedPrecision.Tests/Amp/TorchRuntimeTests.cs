using System.IO;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Native;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Amp
{
    [TestClass]
    public class TorchRuntimeTests
    {
        [TestMethod]
        public void Old_libstdcxx_is_reported_with_the_missing_version_and_the_fix()
        {
            string fake = Path.Combine(Path.GetTempPath(), "libstdc++-old-" + Path.GetRandomFileName());
            File.WriteAllText(fake, "GLIBCXX_3.4.29\0GLIBCXX_3.4.30\0");
            try
            {
                string message = LibTorchRuntime.CheckLibStdCxx(fake);
                message.Should().Contain("GLIBCXX_3.4.32").And.Contain(fake).And.Contain("libstdc++6").And.Contain("trixie");
            }
            finally
            {
                File.Delete(fake);
            }
        }

        [TestMethod]
        public void Libstdcxx_with_the_required_version_passes_the_check()
        {
            string fake = Path.Combine(Path.GetTempPath(), "libstdc++-new-" + Path.GetRandomFileName());
            File.WriteAllText(fake, "GLIBCXX_3.4.31\0GLIBCXX_3.4.32\0GLIBCXX_3.4.33\0");
            try
            {
                LibTorchRuntime.CheckLibStdCxx(fake).Should().BeNull();
            }
            finally
            {
                File.Delete(fake);
            }
        }

        [TestMethod]
        public void Torch_loads_on_the_test_machine()
        {
            TorchRuntime.EnsureAvailable();
            AmpCapabilities.Supports(TorchSharp.DeviceType.CPU, TorchSharp.torch.ScalarType.BFloat16).Should().BeTrue();
        }
    }
}
