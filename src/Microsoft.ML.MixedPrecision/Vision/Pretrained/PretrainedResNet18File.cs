using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.MixedPrecision.Native;

namespace Microsoft.ML.MixedPrecision.Vision.Pretrained
{
    /// <summary>
    /// Where CNTK's ImageNet ResNet18 (ONNX) is: the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18, a dependency of
    /// this library, copies it to every app's output as DnnImageModels/ResNet18Onnx/ResNet18.onnx; the package folder of
    /// the NuGet cache is the fallback (tests, tools run from elsewhere).
    /// </summary>
    internal static class PretrainedResNet18File
    {
        public const string PackageId = "Microsoft.ML.DnnImageFeaturizer.ResNet18";
        public const string PackageVersion = "0.23.1";

        private static readonly string[] RelativePath = { "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx" };

        /// <summary>How to get the file, for messages.</summary>
        public const string Fix =
            "Reference the NuGet package " + PackageId + " " + PackageVersion + " (a dependency of Microsoft.ML.MixedPrecision; its build " +
            "copies DnnImageModels/ResNet18Onnx/ResNet18.onnx to the output), or set ImageClassificationTrainer.Options.PretrainedModelPath " +
            "to that file.";

        /// <summary>The first existing candidate, or null.</summary>
        public static string? Find() => Candidates().FirstOrDefault(File.Exists);

        /// <summary>The places looked at, in order.</summary>
        public static IEnumerable<string> Candidates()
            => PackagedFile.Candidates(Path.Combine(RelativePath), PackageId, PackageVersion, Path.Combine(new[] { "tools" }.Concat(RelativePath).ToArray()));
    }
}
