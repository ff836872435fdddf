#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using FluentAssertions;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Docs
{
    /// <summary>
    /// Every relative link of the README, docs/ and the package READMEs leads somewhere: the file exists and, for a link
    /// with #anchor into a Markdown file, a heading of that file has that anchor (GitHub's rule: lower case, punctuation
    /// dropped, spaces to hyphens). Links inside code blocks and to web addresses are not checked.
    /// </summary>
    [TestClass]
    public sealed class DocumentationLinksTests
    {
        private static readonly Regex CodeBlock = new(@"^```.*?^```", RegexOptions.Singleline | RegexOptions.Multiline);
        private static readonly Regex Link = new(@"\]\(([^)\s]+)\)");
        private static readonly Regex Heading = new(@"^#+\s+(.+?)\s*$", RegexOptions.Multiline);

        [TestMethod]
        public void Every_relative_link_of_the_documentation_leads_to_a_file_and_heading()
        {
            string root = RepositoryFolder.Root();
            var documents = new[] { Path.Combine(root, "README.md") }
                .Concat(Directory.GetFiles(Path.Combine(root, "docs"), "*.md", SearchOption.AllDirectories))
                .Concat(Directory.GetFiles(Path.Combine(root, "src"), "PACKAGE-README.md", SearchOption.AllDirectories))
                .ToList();

            var broken = documents.SelectMany(d => BrokenLinks(d, File.ReadAllText(d), File.Exists, ReadIfExists)).ToList();

            documents.Should().HaveCountGreaterThan(10);
            broken.Should().BeEmpty("a reader who follows a link must land on what it names");
        }

        [TestMethod]
        public void The_check_sees_a_missing_file_and_a_missing_heading()
        {
            var files = new Dictionary<string, string> { ["/r/docs/a.md"] = "# Title\n## Full run of 2026-12-03, with the `--peer`\n" };
            string readme = "see [a](docs/a.md#full-run-of-2026-12-03-with-the---peer), [b](docs/b.md), [c](docs/a.md#nothing),\n" +
                            "[web](https://example.org/x)\n```\n[in code](docs/none.md)\n```\n";

            var broken = BrokenLinks("/r/README.md", readme, files.ContainsKey, p => files.GetValueOrDefault(p));

            broken.Should().Equal("/r/README.md: docs/b.md (no such file)", "/r/README.md: docs/a.md#nothing (no such heading)");
        }

        /// <summary>GitHub's anchor of a heading: lower case, characters other than letters, digits, _, - and spaces dropped, spaces to hyphens.</summary>
        internal static string Anchor(string heading)
            => Regex.Replace(Regex.Replace(heading.Trim().ToLowerInvariant(), @"[^\p{L}\p{N}_\s-]", ""), @"\s", "-");

        private static IEnumerable<string> BrokenLinks(string document, string text, Func<string, bool> exists, Func<string, string?> read)
        {
            foreach (Match m in Link.Matches(CodeBlock.Replace(text, "")))
            {
                string link = m.Groups[1].Value;
                if (link.Contains("://") || link.StartsWith("mailto:", StringComparison.Ordinal))
                    continue;
                int hash = link.IndexOf('#');
                string path = hash < 0 ? link : link.Substring(0, hash);
                string target = path.Length == 0 ? document : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(document)!, path));
                if (!exists(target) && !Directory.Exists(target))
                {
                    yield return $"{document}: {link} (no such file)";
                    continue;
                }
                if (hash < 0 || !target.EndsWith(".md", StringComparison.Ordinal))
                    continue;
                string anchor = link.Substring(hash + 1);
                var anchors = Heading.Matches(CodeBlock.Replace(read(target) ?? "", "")).Select(h => Anchor(h.Groups[1].Value));
                if (!anchors.Contains(anchor))
                    yield return $"{document}: {link} (no such heading)";
            }
        }

        private static string? ReadIfExists(string path) => File.Exists(path) ? File.ReadAllText(path) : null;

    }
}
