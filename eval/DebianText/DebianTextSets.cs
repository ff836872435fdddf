using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace DebianText
{
    /// <summary>One package: its short description (the text), its archive section (the label) and where it came from.</summary>
    internal sealed class PackageText
    {
        public string Text { get; set; }
        public string Label { get; set; }
        public string Package { get; set; }
        public string Source { get; set; }
    }

    /// <summary>A labelled text set with one fixed train/test split.</summary>
    internal sealed class TextSet
    {
        public string Name { get; init; }
        public string Description { get; init; }
        public List<PackageText> Train { get; init; }
        public List<PackageText> Test { get; init; }
        public int ClassCount => Train.Select(r => r.Label).Distinct().Count();
    }

    /// <summary>
    /// Text sets built from Debian 12 (bookworm) main's package index, the Packages file apt keeps in
    /// /var/lib/apt/lists (build/prereqs.sh --debian-text fetches it when missing). The one set so far:
    /// <list type="bullet">
    /// <item><c>sections12</c>: a package's one-line description (Description:, the only description the Packages file
    /// has) labelled by its Section, for 12 sections that name what the software is for (<see cref="Sections12"/>).</item>
    /// </list>
    /// The rows, in this order (<see cref="Build"/>):
    /// <list type="number">
    /// <item>left out: -dbg and -dbgsym packages, section debug, descriptions containing the word "transitional" or "dummy";</item>
    /// <item>texts compared lowercased with whitespace collapsed: a text found under two or more sections (of all of main's
    /// sections) is dropped everywhere; a text repeated within one section is kept once (the package of smallest hash);</item>
    /// <item>only the chosen sections; in each, at most <see cref="PerSourceCap"/> packages of one source package (the
    /// smallest hashes), so families of generated packages (tesseract languages, cross compilers, dictionaries) do not make a class;</item>
    /// <item>a source package is a test source when hash(source) mod 100 &lt; <see cref="TestPercent"/>, so all binary
    /// packages of one source land on the same side (their descriptions are often near copies);</item>
    /// <item>per class the <see cref="TrainPerClass"/> training and <see cref="TestPerClass"/> test rows of smallest
    /// hash(package); smaller sections keep all their rows (about 77 / 23).</item>
    /// </list>
    /// The hash is the first 8 bytes of SHA-256 of the name (UTF-8), so the split is the same on every machine, and a
    /// package added to or removed from the index moves at most a few rows. The rows are cached as TSV under
    /// data/&lt;set&gt;-&lt;key&gt;/ where the key is a hash of <see cref="Definition"/>.
    /// </summary>
    internal static class DebianTextSets
    {
        public static readonly string[] Names = { "sections12" };

        /// <summary>
        /// The 12 largest of main's sections that say what the software is for, after the steps above. Left out: sections
        /// named after a language or its ecosystem (python, perl, haskell, rust, golang, javascript, java, ruby, gnu-r,
        /// php, ocaml, lisp, cli-mono: their descriptions mostly name the language, "Python 3 library for ..."), sections
        /// of a kind of file rather than a purpose (libs, libdevel, doc, introspection, oldlibs: "(development files)",
        /// "documentation"), the catch-alls misc and utils, and metapackages/tasks.
        /// </summary>
        public static readonly string[] Sections12 = { "admin", "devel", "fonts", "games", "graphics", "math", "net", "science", "sound", "text", "web", "x11" };

        public const int PerSourceCap = 2;
        public const int TestPercent = 23;
        public const int TrainPerClass = 500;
        public const int TestPerClass = 150;

        /// <summary>Every choice that changes the rows; its hash names the cache folder.</summary>
        public static string Definition(string name) => name switch
        {
            "sections12" => "sections12 v1: Debian 12 bookworm main Packages (" + PackagesGlob + "); text = Description (short); label = Section; " +
                            "no -dbg/-dbgsym/section debug, no \\b(transitional|dummy)\\b; texts (lowercased, whitespace collapsed) in >1 section dropped, " +
                            "duplicates within a section kept once; sections " + string.Join(",", Sections12) + $"; at most {PerSourceCap} per source and section; " +
                            $"test source when sha256(source) mod 100 < {TestPercent}; per class first {TrainPerClass} train, {TestPerClass} test by sha256(package)",
            _ => throw new ArgumentException($"unknown set '{name}' ({string.Join(", ", Names)})"),
        };

        /// <summary>The set, read from its TSV cache, or built from apt's lists and cached.</summary>
        public static TextSet Load(string name, string dataRoot)
        {
            string definition = Definition(name);
            string folder = Path.Combine(dataRoot, $"{name}-{Key(definition)}");
            string trainPath = Path.Combine(folder, "train.tsv"), testPath = Path.Combine(folder, "test.tsv");
            List<PackageText> train, test;
            if (File.Exists(trainPath) && File.Exists(testPath))
            {
                train = ReadTsv(trainPath);
                test = ReadTsv(testPath);
            }
            else
            {
                (train, test) = Build(ReadPackagesFile(), Sections12);
                Directory.CreateDirectory(folder);
                File.WriteAllText(Path.Combine(folder, "definition.txt"), definition + "\n", new UTF8Encoding(false));
                WriteTsv(trainPath + ".tmp", train);
                WriteTsv(testPath + ".tmp", test);
                File.Move(trainPath + ".tmp", trainPath, overwrite: true);
                File.Move(testPath + ".tmp", testPath, overwrite: true);
            }
            return new TextSet
            {
                Name = name,
                Description = $"Debian 12 main, short description → Section, {Sections12.Length} sections, cached in {folder}",
                Train = train,
                Test = test,
            };
        }

        // ---- building ---------------------------------------------------------------------------------------------

        private static readonly Regex NotAProgram = new Regex(@"\b(transitional|dummy)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

        /// <summary>The steps of the class summary, on stanzas of a Packages file (Package, Source, Section, Description).</summary>
        public static (List<PackageText> Train, List<PackageText> Test) Build(IEnumerable<Dictionary<string, string>> stanzas, string[] sections)
        {
            var kept = new List<PackageText>();
            foreach (var s in stanzas)
            {
                if (!s.TryGetValue("Package", out string package) || !s.TryGetValue("Section", out string section) || !s.TryGetValue("Description", out string text))
                    continue;
                if (package.EndsWith("-dbg", StringComparison.Ordinal) || package.EndsWith("-dbgsym", StringComparison.Ordinal) || section == "debug")
                    continue;
                if (NotAProgram.IsMatch(text) || text.Trim().Length == 0)
                    continue;
                // "Source: name (version)" when the binary's version differs; no Source: when source and binary names agree.
                string source = s.TryGetValue("Source", out string src) ? src.Split(' ', 2)[0] : package;
                kept.Add(new PackageText { Package = package, Source = source, Label = section, Text = text.Replace('\t', ' ').Trim() });
            }

            var rows = kept
                .GroupBy(r => Normalize(r.Text), StringComparer.Ordinal)
                .Where(g => g.Select(r => r.Label).Distinct().Count() == 1)
                .Select(g => g.OrderBy(r => Hash(r.Package)).ThenBy(r => r.Package, StringComparer.Ordinal).First())
                .Where(r => sections.Contains(r.Label))
                .GroupBy(r => (r.Label, r.Source))
                .SelectMany(g => g.OrderBy(r => Hash(r.Package)).ThenBy(r => r.Package, StringComparer.Ordinal).Take(PerSourceCap))
                .ToList();

            var train = new List<PackageText>();
            var test = new List<PackageText>();
            foreach (string label in sections)
            {
                var ofClass = rows.Where(r => r.Label == label).OrderBy(r => Hash(r.Package)).ThenBy(r => r.Package, StringComparer.Ordinal).ToList();
                test.AddRange(ofClass.Where(IsTestSource).Take(TestPerClass));
                train.AddRange(ofClass.Where(r => !IsTestSource(r)).Take(TrainPerClass));
            }
            // Classes interleaved in hash order, so that a prefix of the training rows (or a validation split) sees every class.
            return (train.OrderBy(r => Hash(r.Package)).ToList(), test.OrderBy(r => Hash(r.Package)).ToList());
        }

        private static bool IsTestSource(PackageText r) => Hash(r.Source) % 100 < TestPercent;

        private static string Normalize(string text) => string.Join(' ', text.ToLowerInvariant().Split((char[])null, StringSplitOptions.RemoveEmptyEntries));

        /// <summary>The first 8 bytes of SHA-256 of the UTF-8 name, big-endian: the same on every machine and .NET version.</summary>
        public static ulong Hash(string name)
        {
            Span<byte> digest = stackalloc byte[32];
            SHA256.HashData(Encoding.UTF8.GetBytes(name), digest);
            return System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(digest);
        }

        private static string Key(string definition) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(definition)), 0, 4).ToLowerInvariant();

        // ---- apt's Packages file ----------------------------------------------------------------------------------

        /// <summary>apt's list of bookworm main for this machine's architecture (amd64 first), compressed or not.</summary>
        private const string PackagesGlob = "/var/lib/apt/lists/*_dists_bookworm_main_binary-*_Packages*";

        private static string FindPackagesFile()
        {
            var files = Directory.Exists("/var/lib/apt/lists")
                ? Directory.GetFiles("/var/lib/apt/lists", "*_dists_bookworm_main_binary-*_Packages*")
                    .Where(f => !f.EndsWith(".diff_Index", StringComparison.Ordinal))
                    .OrderBy(f => f.Contains("binary-amd64_", StringComparison.Ordinal) ? 0 : 1).ThenBy(f => f, StringComparer.Ordinal)
                    .ToList()
                : new List<string>();
            return files.Count > 0
                ? files[0]
                : throw new FileNotFoundException(
                    $"apt has no list of Debian 12 (bookworm) main ({PackagesGlob}): run 'build/prereqs.sh --debian-text' as root.");
        }

        /// <summary>
        /// The stanzas of the Packages file, through apt's own reader (<c>apt-helper cat-file</c> undoes apt's lz4, xz
        /// or gzip compression of the lists). Only the first line of each field is kept (Description's is the short one).
        /// </summary>
        private static IEnumerable<Dictionary<string, string>> ReadPackagesFile()
        {
            string path = FindPackagesFile();
            var start = new ProcessStartInfo("/usr/lib/apt/apt-helper") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add("cat-file");
            start.ArgumentList.Add(path);
            using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start /usr/lib/apt/apt-helper");
            var stanzas = new List<Dictionary<string, string>>();
            var current = new Dictionary<string, string>(StringComparer.Ordinal);
            string line;
            while ((line = process.StandardOutput.ReadLine()) != null)
            {
                if (line.Length == 0)
                {
                    if (current.Count > 0)
                        stanzas.Add(current);
                    current = new Dictionary<string, string>(StringComparer.Ordinal);
                }
                else if (line[0] != ' ' && line[0] != '\t')
                {
                    int colon = line.IndexOf(':');
                    if (colon > 0)
                        current[line.Substring(0, colon)] = line.Substring(colon + 1).Trim();
                }
            }
            if (current.Count > 0)
                stanzas.Add(current);
            string errors = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0 || stanzas.Count == 0)
                throw new InvalidOperationException($"apt-helper cat-file {path} failed ({process.ExitCode}): {errors.Trim()}");
            return stanzas;
        }

        // ---- TSV cache --------------------------------------------------------------------------------------------

        private const string TsvHeader = "Label\tText\tPackage\tSource";

        private static void WriteTsv(string path, List<PackageText> rows)
        {
            var text = new StringBuilder(TsvHeader).Append('\n');
            foreach (var r in rows)
                text.Append(r.Label).Append('\t').Append(r.Text).Append('\t').Append(r.Package).Append('\t').Append(r.Source).Append('\n');
            File.WriteAllText(path, text.ToString(), new UTF8Encoding(false));
        }

        private static List<PackageText> ReadTsv(string path)
        {
            var lines = File.ReadAllLines(path, Encoding.UTF8);
            if (lines.Length == 0 || lines[0] != TsvHeader)
                throw new InvalidDataException($"{path} is not a cached set (header '{TsvHeader}'); delete the folder to rebuild it");
            return lines.Skip(1).Where(l => l.Length > 0).Select(l => l.Split('\t'))
                .Select(f => new PackageText { Label = f[0], Text = f[1], Package = f[2], Source = f[3] }).ToList();
        }
    }
}
