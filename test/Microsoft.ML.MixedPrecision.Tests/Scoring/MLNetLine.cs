using System;
using System.Linq;
using System.Reflection;
using FluentAssertions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Scoring
{
    /// <summary>The ML.NET line this test build was made against (Directory.Packages.props, <c>-p:MLNetLine=5</c> in CI's second pass).</summary>
    internal static class MLNetLine
    {
        public static string Current { get; } = typeof(MLNetLine).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "MLNetLine").Value ?? throw new InvalidOperationException("The test assembly names no ML.NET line.");

        /// <summary>The line's versions of Microsoft.ML (and its ImageAnalytics, OnnxTransformer), Microsoft.ML.OnnxRuntime and Microsoft.ML.Tokenizers.</summary>
        public static (string MLNet, string OnnxRuntime, string Tokenizers) Versions => Current switch
        {
            "6" => ("6.0.0", "1.32.0", "3.0.0"),
            "5" => ("5.0.1", "1.31.1", "2.0.1"),
            var other => throw new AssertFailedException($"Unknown ML.NET line {other}."),
        };
    }

    [TestClass]
    public class MLNetLineTests
    {
        [TestMethod]
        public void The_suite_runs_on_the_ml_net_onnx_runtime_and_tokenizers_of_its_line()
        {
            var (ml, onnxRuntime, tokenizers) = MLNetLine.Versions;
            Console.WriteLine($"ML.NET line {MLNetLine.Current}");
            InformationalVersion(typeof(MLContext)).Should().StartWith(ml);
            InformationalVersion(typeof(InferenceSession)).Should().StartWith(onnxRuntime);
            InformationalVersion(typeof(Microsoft.ML.Tokenizers.Tokenizer)).Should().StartWith(tokenizers);
        }

        private static string InformationalVersion(Type type) =>
            type.Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "";
    }
}
