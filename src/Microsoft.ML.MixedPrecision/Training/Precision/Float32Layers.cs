using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.ML.MixedPrecision.Kernels;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Training.Precision
{
    /// <summary>
    /// Resolves <see cref="MixedPrecisionOptions.Float32Layers"/> against a network's layer names (its
    /// <c>named_modules()</c>) and keeps every layer a name matches, with the layers inside it, in float32 under autocast
    /// (<see cref="LayerPrecision"/>). A name that matches nothing fails with the names the network has.
    /// </summary>
    internal static class Float32Layers
    {
        /// <summary>Marks the layers <paramref name="patterns"/> name in <paramref name="model"/>; returns the names matched, in the network's order.</summary>
        public static IReadOnlyList<string> Apply(nn.Module model, IEnumerable<string> patterns, string modelDescription)
        {
            var layers = model.named_modules().Where(m => m.name.Length > 0).ToList();
            var globs = patterns.Select(p => (Pattern: p, Regex: Glob(p))).ToList();
            foreach (var (pattern, regex) in globs)
            {
                if (!layers.Any(l => regex.IsMatch(l.name)))
                    throw new ArgumentException(
                        $"MixedPrecisionOptions.Float32Layers: no layer of the {modelDescription} is named \"{pattern}\". " +
                        $"Its layers are: {string.Join(", ", layers.Select(l => l.name))}. Name one of them; * stands for any run of characters (\"layers.*.attention\").",
                        nameof(MixedPrecisionOptions.Float32Layers));
            }
            var matched = layers.Where(l => globs.Any(g => g.Regex.IsMatch(l.name))).ToList();
            foreach (var (_, module) in matched)
                KeepInFloat32WithInnerLayers(module);
            return matched.Select(l => l.name).ToList();
        }

        /// <summary>Also the layers inside: a container such as a ModuleList has no forward of its own, and a network may call a
        /// block's layers one by one.</summary>
        private static void KeepInFloat32WithInnerLayers(nn.Module module)
        {
            LayerPrecision.KeepInFloat32(module);
            foreach (var (_, inner) in module.named_modules())
                LayerPrecision.KeepInFloat32(inner);
        }

        /// <summary>The whole name: * any run of characters, ? one character, the rest literal.</summary>
        private static Regex Glob(string pattern) =>
            new Regex("^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$", RegexOptions.CultureInvariant);
    }
}
