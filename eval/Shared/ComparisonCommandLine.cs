// What the comparison samples (SmallImages, DebianText) share on their command line: the sample's own folder, comma
// lists of sets and modes, and `--option Name=Value` overrides of our trainer's options. Linked into both projects.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

namespace SampleComparisons
{
    internal static class ComparisonCommandLine
    {
        /// <summary>The folder holding <paramref name="projectFile"/> (found from the build output), or the current folder.</summary>
        public static string SampleFolder(string projectFile)
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, projectFile)))
                    return dir.FullName;
            return Directory.GetCurrentDirectory();
        }

        /// <summary>Replaces <paramref name="chosen"/> by a comma list of <paramref name="known"/> names, or "all".</summary>
        public static void Choose(List<string> chosen, string value, string[] known, string what)
        {
            chosen.Clear();
            foreach (string v in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (v == "all")
                    chosen.AddRange(known);
                else if (known.Contains(v))
                    chosen.Add(v);
                else
                    throw new ArgumentException($"unknown {what} '{v}' ({string.Join(", ", known)}, all)");
            }
        }

        /// <summary>One `--option Name=Value` argument.</summary>
        public static (string Name, string Value) ParseOption(string argument)
        {
            string[] pair = argument.Split('=', 2);
            return (pair[0], pair.Length > 1 ? pair[1] : throw new ArgumentException("--option takes Name=Value"));
        }

        /// <summary>Sets each override on <paramref name="options"/> from text (numbers, booleans, enums, strings) by reflection.</summary>
        public static void Apply(object options, IEnumerable<(string Name, string Value)> overrides)
        {
            foreach (var (name, value) in overrides)
            {
                var property = options.GetType().GetProperty(name)
                    ?? throw new ArgumentException($"--option: the trainer has no option '{name}'");
                var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
                object parsed = type.IsEnum ? Enum.Parse(type, value, ignoreCase: true) : Convert.ChangeType(value, type, CultureInfo.InvariantCulture);
                property.SetValue(options, parsed);
            }
        }

        /// <summary>", Name=Value" for each override, for the results' detail column.</summary>
        public static string Describe(IEnumerable<(string Name, string Value)> overrides) => string.Concat(overrides.Select(o => $", {o.Name}={o.Value}"));
    }
}
