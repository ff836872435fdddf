using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using FashionMnist;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Tests.Text;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Docs
{
    /// <summary>
    /// The README's code runs as written. Convention: every ```csharp block of README.md is a whole Program.cs (top-level
    /// statements), announced by the line <c>&lt;!-- program: NAME --&gt;</c> just above it. Each is built as a user's
    /// default <c>dotnet new console</c> app builds it (net10.0, nullable and implicit usings on) with warnings as errors,
    /// a project reference to the library and the RuntimeIdentifier the README recommends, and run on small real data
    /// laid out as the program expects: Fashion-MNIST PNGs in a folder per class, a TSV of labelled texts.
    /// </summary>
    [TestClass]
    public class ReadmeExamplesTests
    {
#if DEBUG
        private const string Configuration = "Debug";
#else
        private const string Configuration = "Release";
#endif
        /// <summary>The programs the README holds, in its order; a block this test does not know fails the first test.</summary>
        private static readonly string[] ProgramNames = { "image-quickstart", "text-quickstart", "amp-core", "checkpoints" };

        private static readonly Regex ProgramMarker = new Regex(@"^<!-- program: ([a-z0-9-]+) -->$");

        private static readonly string Root = Path.Combine(Path.GetTempPath(), $"mp-readme-{Guid.NewGuid():N}");

        private static readonly Lazy<string> Build = new Lazy<string>(BuildPrograms);

        /// <summary>
        /// Package mode (build/package-check.sh): a folder of packed nupkgs and their version. The programs then reference
        /// the packages by name and version from that folder, as a user's app does, instead of the projects.
        /// </summary>
        private static readonly string PackageFeed = Environment.GetEnvironmentVariable("MP_PACKAGE_FEED");
        private static readonly string PackageVersion = Environment.GetEnvironmentVariable("MP_PACKAGE_VERSION");

        /// <summary>An app with stock ML.NET only (and, for image-bytes models, our small decoder package): it loads a saved
        /// model and prints the predicted label of each value given for the model's input column.</summary>
        private const string StockScorer = "stock-scorer";

        private const string StockScorerCode = """
            using Microsoft.ML;
            using Microsoft.ML.Data;

            // stock-scorer <model.zip> <input column> <value>...: loads the model with a plain MLContext and predicts.
            var ml = new MLContext();
            ITransformer model = ml.Model.Load(args[0], out _);
            var schema = SchemaDefinition.Create(typeof(Row));
            schema[0].ColumnName = args[1];
            var scored = model.Transform(ml.Data.LoadFromEnumerable(args.Skip(2).Select(v => new Row { Value = v }).ToList(), schema));
            foreach (string label in scored.GetColumn<string>("PredictedLabel"))
                Console.WriteLine($"predicted {label}");
            var ours = AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name ?? "")
                .Where(n => n.StartsWith("Microsoft.ML.MixedPrecision", StringComparison.Ordinal) || n.StartsWith("TorchSharp", StringComparison.Ordinal));
            Console.WriteLine($"loaded: {string.Join(", ", ours)}");

            public class Row
            {
                public string Value { get; set; } = "";
                public string Label { get; set; } = ""; // the saved pipelines start with MapValueToKey("Label"): unknown here
            }

            """;

        private static readonly Lazy<List<string>> ImageRun = new(() =>
        {
            // 150 Fashion-MNIST test images as PNG files in a folder per class, as samples/FashionMnist writes them.
            FashionMnistImages.Prepare("t10k", Path.Combine(Root, "data"), limit: 150);
            return RunProgram("image-quickstart", ImagesFolder);
        });

        private static readonly Lazy<List<string>> TextRun = new(() =>
        {
            Directory.CreateDirectory(Path.GetDirectoryName(TextsFile)!);
            File.WriteAllLines(TextsFile, new[] { "Label\tText" }.Concat(SyntheticText.Sentences(300, seed: 5).Select(r => $"{r.Label}\t{r.Sentence1}")));
            return RunProgram("text-quickstart", TextsFile);
        });

        private static string ImagesFolder => Path.Combine(Root, "data", "test");
        private static string TextsFile => Path.Combine(Root, "data", "texts.tsv");


        /// <summary>The README's programs by name, their code as written.</summary>
        private static Dictionary<string, string> ReadmePrograms()
        {
            string[] lines = File.ReadAllLines(Path.Combine(RepositoryFolder.Root(), "README.md"));
            var programs = new Dictionary<string, string>();
            for (int i = 0; i < lines.Length; i++)
            {
                if (!lines[i].StartsWith("```", StringComparison.Ordinal))
                    continue;
                string language = lines[i].Substring(3).Trim().ToLowerInvariant();
                int end = Array.FindIndex(lines, i + 1, l => l.StartsWith("```", StringComparison.Ordinal));
                end.Should().BeGreaterThan(i, $"the code block opened on README line {i + 1} must close");
                if (language is "csharp" or "cs" or "c#")
                {
                    var marker = i > 0 ? ProgramMarker.Match(lines[i - 1]) : Match.Empty;
                    marker.Success.Should().BeTrue($"the C# block on README line {i + 1} must be a whole program announced by " +
                        "'<!-- program: NAME -->' on the line above it, so that this test builds and runs it");
                    string name = marker.Groups[1].Value;
                    programs.Should().NotContainKey(name, "program names are unique");
                    programs[name] = string.Join("\n", lines.Skip(i + 1).Take(end - i - 1)) + "\n";
                }
                i = end;
            }
            return programs;
        }

        [TestMethod]
        public void Every_csharp_block_of_the_readme_is_a_program_this_test_runs()
        {
            ReadmePrograms().Keys.Should().Equal(ProgramNames,
                "each C# block of the README is built and run below; a new block needs its data and assertions here");
        }

        [TestMethod]
        public void The_amp_core_block_is_samples_AmpQuickstart()
        {
            string sample = File.ReadAllText(Path.Combine(RepositoryFolder.Root(), "samples", "AmpQuickstart", "Program.cs")).Replace("\r\n", "\n");
            ReadmePrograms()["amp-core"].Should().Be(sample, "samples/AmpQuickstart/Program.cs is the runnable twin of the README's AMP core block");
        }

        [TestMethod]
        public void The_checkpoints_block_is_samples_CheckpointResume()
        {
            string sample = File.ReadAllText(Path.Combine(RepositoryFolder.Root(), "samples", "CheckpointResume", "Program.cs")).Replace("\r\n", "\n");
            ReadmePrograms()["checkpoints"].Should().Be(sample, "samples/CheckpointResume/Program.cs is the runnable twin of the README's checkpoints block");
        }

        [TestMethod]
        public void The_readme_is_a_user_guide_of_at_most_440_lines()
        {
            File.ReadAllLines(Path.Combine(RepositoryFolder.Root(), "README.md")).Length.Should().BeLessThanOrEqualTo(440,
                "measurements and decision records belong in docs/, the README is for the person who installs the package");
        }

        [TestMethod]
        [Timeout(900_000)]
        public void Image_quickstart_trains_on_png_folders_and_scores_its_saved_model()
        {
            var output = ImageRun.Value;

            Directory.GetDirectories(ImagesFolder).Should().HaveCount(10);
            Accuracy(output).Should().BeGreaterThan(0.3, "ten classes: chance is 0.1");
            output.Last().Should().MatchRegex(@"\.png: (" + string.Join("|", FashionMnistImages.ClassNames.Select(Regex.Escape)) + ")$",
                "the reloaded model predicts a class name for the first image");
            File.Exists(Path.Combine(Root, "run-image-quickstart", "image-model.zip")).Should().BeTrue();
        }

        [TestMethod]
        [Timeout(900_000)]
        public void Text_quickstart_trains_on_a_tsv_file_and_scores_its_saved_model()
        {
            var output = TextRun.Value;

            Accuracy(output).Should().BeGreaterThan(0.6, "three topics: chance is 1/3");
            output.Last().Should().MatchRegex("^\".+\": (sports|cooking|space)$", "the reloaded model predicts a topic for the first text");
        }

        [TestMethod]
        [Timeout(900_000)]
        public void The_saved_models_score_the_same_in_an_app_with_stock_ml_net_only()
        {
            // The quickstarts print the prediction of their reloaded model for the first image / text; the stock app,
            // which references no TorchSharp and none of our packages but the image decoder, must predict the same.
            string imageLine = ImageRun.Value.Last();
            int colon = imageLine.LastIndexOf(": ", StringComparison.Ordinal);
            var image = RunProgram(StockScorer, Path.Combine(Root, "run-image-quickstart", "image-model.zip"), "ImagePath", imageLine[..colon]);
            image.Should().Contain($"predicted {imageLine[(colon + 2)..]}");
            image.Last().Should().Be("loaded: Microsoft.ML.MixedPrecision.ImageDecoding", "the image-bytes decoder is the one package of ours it needs");

            string textLine = TextRun.Value.Last();
            colon = textLine.LastIndexOf("\": ", StringComparison.Ordinal);
            var text = RunProgram(StockScorer, Path.Combine(Root, "run-text-quickstart", "text-model.zip"), "Text", textLine[1..colon]);
            text.Should().Contain($"predicted {textLine[(colon + 3)..]}");
            text.Last().Should().Be("loaded: ", "a text model scores with stock ML.NET alone");
        }

        [TestMethod]
        [Timeout(900_000)]
        public void Amp_core_trains_in_bfloat16_with_a_float32_loss_and_the_loss_falls()
        {
            var output = RunProgram("amp-core");

            double Loss(int step) => double.Parse(output.Single(l => l.StartsWith($"step {step,3}: loss ", StringComparison.Ordinal))
                .Split(' ', StringSplitOptions.RemoveEmptyEntries)[3], CultureInfo.CurrentCulture);
            Loss(100).Should().BeLessThan(Loss(1) / 10, "100 AdamW steps separate three Gaussian blobs");
            output.Should().Contain(l => l.Contains("(logits BFloat16, loss Float32", StringComparison.Ordinal),
                "autocast runs Linear in bf16 and the loss in float32");
            output.Last().Should().EndWith("skipped steps: 0");
        }

        [TestMethod]
        [Timeout(900_000)]
        public void Checkpoint_example_writes_checkpoints_and_deletes_them_when_the_fit_succeeds()
        {
            var output = RunProgram("checkpoints");

            output.Should().Contain(l => l.Contains("Checkpoints: every 2 optimizer steps", StringComparison.Ordinal));
            output.Should().Contain(l => l.Contains("The fit finished: deleted its", StringComparison.Ordinal));
            string folder = Path.Combine(Root, "run-checkpoints", "checkpoints");
            (Directory.Exists(folder) ? Directory.GetFiles(folder) : Array.Empty<string>()).Should().BeEmpty();
        }

        [ClassCleanup]
        public static void DeleteTheProjects()
        {
            if (Directory.Exists(Root))
                Directory.Delete(Root, recursive: true);
        }

        /// <summary>The micro accuracy a quickstart prints ("accuracy 76.5 %, macro accuracy 76.8 %"), as a fraction.</summary>
        private static double Accuracy(List<string> output)
        {
            var match = output.Select(l => Regex.Match(l, @"^accuracy (\d+(?:[.,]\d+)?)\s?%")).FirstOrDefault(m => m.Success);
            match.Should().NotBeNull($"the program prints its accuracy:\n{string.Join("\n", output)}");
            return double.Parse(match.Groups[1].Value.Replace(',', '.'), CultureInfo.InvariantCulture) / 100;
        }

        /// <summary>Builds (all together, once) and runs one README program in its own folder; returns its output lines.</summary>
        private static List<string> RunProgram(string name, params string[] arguments)
        {
            string buildLog = Build.Value;
            string dll = Path.Combine(Root, name, "bin", Configuration, "net10.0", "linux-x64", $"{name}.dll");
            File.Exists(dll).Should().BeTrue($"the README's '{name}' block builds as a default console app without warnings:\n{buildLog}");
            string folder = Path.Combine(Root, $"run-{name}");
            Directory.CreateDirectory(folder);
            var clock = Stopwatch.StartNew();
            var (exitCode, stdout, stderr) = Run(new[] { dll }.Concat(arguments), folder, TimeSpan.FromMinutes(5), $"the README's '{name}' program");
            Console.WriteLine($"{name} ran in {clock.Elapsed.TotalSeconds:F1} s:\n{stdout}");
            exitCode.Should().Be(0, $"the README's '{name}' program runs:\n{stdout}\n{stderr}");
            return stdout.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToList();
        }

        /// <summary>
        /// Writes each README program into a console project as <c>dotnet new console</c> makes it, plus warnings as errors,
        /// the README's RuntimeIdentifier and a reference to the library, and builds them all in one build.
        /// </summary>
        private static string BuildPrograms()
        {
            Directory.CreateDirectory(Root);
            // Nothing above the temporary folder (no Directory.Build.props, no central package versions) may change the build.
            foreach (string file in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
                File.WriteAllText(Path.Combine(Root, file), "<Project />\n");
            if (PackageFeed != null)
                File.WriteAllText(Path.Combine(Root, "NuGet.config"), $"""
                    <?xml version="1.0" encoding="utf-8"?>
                    <configuration>
                      <packageSources>
                        <add key="packed-here" value="{PackageFeed}" />
                      </packageSources>
                    </configuration>
                    """);
            var programs = ReadmePrograms();
            programs[StockScorer] = StockScorerCode;
            foreach (var (name, code) in programs)
            {
                string references = References(name);
                Directory.CreateDirectory(Path.Combine(Root, name));
                File.WriteAllText(Path.Combine(Root, name, "Program.cs"), code);
                File.WriteAllText(Path.Combine(Root, name, $"{name}.csproj"), $"""
                    <Project Sdk="Microsoft.NET.Sdk">
                      <PropertyGroup>
                        <OutputType>Exe</OutputType>
                        <TargetFramework>net10.0</TargetFramework>
                        <ImplicitUsings>enable</ImplicitUsings>
                        <Nullable>enable</Nullable>
                        <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                        <RuntimeIdentifier>linux-x64</RuntimeIdentifier>
                        {LineWarnings}
                      </PropertyGroup>
                      <ItemGroup>
                        {references}
                      </ItemGroup>
                    </Project>
                    """);
            }
            File.WriteAllText(Path.Combine(Root, "readme.slnx"),
                "<Solution>\n" + string.Concat(programs.Keys.Select(n => $"  <Project Path=\"{n}/{n}.csproj\" />\n")) + "</Solution>\n");
            // No build servers left behind (-nr:false, no shared compiler); the library is up to date from the test build, which
            // chose the ML.NET line the programs build against.
            var clock = Stopwatch.StartNew();
            var (exitCode, stdout, stderr) = Run(new[] { "build", "readme.slnx", "-c", Configuration, "-nologo", "-v:q", "-nr:false", "-p:UseSharedCompilation=false", $"-p:MLNetLine={Scoring.MLNetLine.Current}" },
                Root, TimeSpan.FromMinutes(8), "build of the README's programs");
            string log = $"dotnet build exited with {exitCode} after {clock.Elapsed.TotalSeconds:F1} s:\n{stdout}\n{stderr}";
            Console.WriteLine(log);
            return log; // a program that failed to build has no dll: its own test fails with this log, the others run
        }

        /// <summary>
        /// ML.NET 5.0.1's ImageAnalytics asks for SkiaSharp 2.88.8, which the package source here does not serve: NuGet
        /// takes 2.88.9 and warns NU1603 in any app on that line, ours or not. Line 6 builds without it.
        /// </summary>
        private static string LineWarnings => Scoring.MLNetLine.Current == "5" ? "<NoWarn>$(NoWarn);NU1603</NoWarn>" : "";

        /// <summary>
        /// What a program references: the trainers (the AMP core's program: the core and the CPU libtorch, as its section
        /// says; the stock scorer: ML.NET's packages of this line and the image decoder), as projects, or in package mode
        /// as packages by name and version.
        /// </summary>
        private static string References(string program)
        {
            string Ours(string name) => PackageFeed != null
                ? $"""<PackageReference Include="{name}" Version="{PackageVersion}" />"""
                : $"""<ProjectReference Include="{Path.Combine(RepositoryFolder.Root(), "src", name, name + ".csproj")}" />""";
            var (ml, onnxRuntime, _) = Scoring.MLNetLine.Versions;
            return program switch
            {
                "amp-core" => Ours("Microsoft.ML.MixedPrecision.Amp") + """<PackageReference Include="TorchSharp-cpu" Version="0.107.0" />""",
                StockScorer => string.Concat(new[] { "Microsoft.ML", "Microsoft.ML.ImageAnalytics", "Microsoft.ML.OnnxTransformer" }
                        .Select(p => $"""<PackageReference Include="{p}" Version="{ml}" />"""))
                    + $"""<PackageReference Include="Microsoft.ML.OnnxRuntime" Version="{onnxRuntime}" />"""
                    + Ours("Microsoft.ML.MixedPrecision.ImageDecoding"),
                _ => Ours("Microsoft.ML.MixedPrecision"),
            };
        }

        /// <summary>Runs dotnet with <paramref name="arguments"/>, outside the test host's MSBuild environment.</summary>
        private static (int ExitCode, string Stdout, string Stderr) Run(IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout, string what)
        {
            var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = workingDirectory,
            };
            foreach (string argument in arguments)
                psi.ArgumentList.Add(argument);
            foreach (string key in psi.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
                psi.Environment.Remove(key);
            psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            psi.Environment["DOTNET_NOLOGO"] = "1";
            using var process = Process.Start(psi);
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"The {what} did not finish within {timeout.TotalMinutes} minutes.");
            }
            process.WaitForExit();
            return (process.ExitCode, stdout.Result, stderr.Result);
        }
    }
}
