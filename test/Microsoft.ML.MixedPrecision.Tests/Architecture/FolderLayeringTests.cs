using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using FluentAssertions;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Architecture
{
    /// <summary>
    /// The library's top-level folders depend one way (docs/design.md): the entry points at the root → the model folders
    /// (Vision, Text) → Training → Export, Kernels and Distributed → Amp → Native. A file may name types of its own folder and of the
    /// folders below it, never of a folder above or beside it. Read from the source, by the type names each file mentions.
    /// </summary>
    [TestClass]
    public class FolderLayeringTests
    {
        /// <summary>Each folder with its level; a file may use types of folders with a lower level only.</summary>
        private static readonly Dictionary<string, int> Levels = new()
        {
            ["Native"] = 0,
            ["Amp"] = 1,
            ["Kernels"] = 2,
            ["Export"] = 2,
            ["Distributed"] = 2,
            ["Training"] = 3,
            ["Vision"] = 4,
            ["Text"] = 4,
            ["."] = 5,
        };

        private static readonly Regex TypeDeclaration = new(
            @"^    (?:public |internal )?(?:sealed |static |abstract |readonly |unsafe )*(?:partial )*(?:class|struct|enum|interface|record(?: struct)?)\s+([A-Z]\w*)",
            RegexOptions.Multiline);

        [TestMethod]
        public void Every_folder_of_the_library_uses_only_the_folders_below_it()
        {
            var files = LibraryFiles();
            var declaredIn = new Dictionary<string, HashSet<string>>();
            foreach (var (folder, text) in files)
            {
                foreach (Match m in TypeDeclaration.Matches(text))
                {
                    if (!declaredIn.TryGetValue(m.Groups[1].Value, out var folders))
                        declaredIn[m.Groups[1].Value] = folders = new HashSet<string>();
                    folders.Add(folder);
                }
            }

            var violations = new List<string>();
            foreach (var (folder, text) in files)
            {
                foreach (string type in TypeReferences(text))
                {
                    if (!declaredIn.TryGetValue(type, out var owners) || owners.Contains(folder))
                        continue;
                    foreach (string owner in owners.Where(o => Levels[o] >= Levels[folder]))
                        violations.Add($"{folder} uses {type} of {owner}");
                }
            }
            violations.Distinct().Should().BeEmpty("a folder may depend only on the folders below it (docs/design.md)");
        }

        [TestMethod]
        public void Every_folder_of_the_library_has_a_level()
        {
            LibraryFiles().Select(f => f.Folder).Distinct().Should().OnlyContain(f => Levels.ContainsKey(f),
                "a new top-level folder needs its place in the layering");
        }

        [TestMethod]
        public void The_check_sees_a_reference_upwards()
        {
            // The same reading as the real check, on a made-up file in Native that names a Training type.
            TypeReferences("namespace X { class A { void F() { var loop = new TrainingLoop(); Helper(); } } }")
                .Should().Contain("TrainingLoop").And.NotContain("Helper", "a method call is not a type");
        }

        /// <summary>Names a file uses as types: capitalized identifiers outside comments and strings, except method names.</summary>
        private static IEnumerable<string> TypeReferences(string text)
        {
            text = Regex.Replace(text, @"//.*", "");
            text = Regex.Replace(text, @"@?\$?""(?:[^""\\\n]|\\.)*""", "\"\"");
            foreach (Match m in Regex.Matches(text, @"(?<!\.)\b([A-Z]\w*)\b(\s*\()?"))
            {
                bool call = m.Groups[2].Success;
                bool constructed = call && Regex.IsMatch(text.Substring(Math.Max(0, m.Index - 4), Math.Min(4, m.Index)), @"new\s$");
                if (!call || constructed)
                    yield return m.Groups[1].Value;
            }
        }

        /// <summary>
        /// The trainers' files by top folder, and the AMP core package's (src/Microsoft.ML.MixedPrecision.Amp) as the
        /// bottom of the same stack: its root is "Amp", its Native/ is "Native", so nothing of the core may use the trainers.
        /// </summary>
        private static List<(string Folder, string Text)> LibraryFiles() =>
            FilesByTopFolder(Path.Combine(RepositoryFolder.Root(), "src", "Microsoft.ML.MixedPrecision"), ".")
                .Concat(FilesByTopFolder(Path.Combine(RepositoryFolder.Root(), "src", "Microsoft.ML.MixedPrecision.Amp"), "Amp"))
                .ToList();

        private static IEnumerable<(string Folder, string Text)> FilesByTopFolder(string root, string rootFolder) =>
            Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
                .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") &&
                            !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
                .Select(p =>
                {
                    string relative = Path.GetRelativePath(root, Path.GetDirectoryName(p)!);
                    string top = relative == "." ? rootFolder : relative.Split(Path.DirectorySeparatorChar)[0];
                    return (top, File.ReadAllText(p));
                });

    }
}
