using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Security.Cryptography;
using System.Threading;
using Microsoft.ML;

namespace Microsoft.ML.MixedPrecision.Training.Checkpoints
{
    /// <summary>
    /// What a fit must share with the fit that wrote a checkpoint for resuming it to reproduce that fit: the options that
    /// affect training (every public option of the trainer and of <see cref="MixedPrecisionOptions"/> except callbacks,
    /// cancellation, logging and the checkpoint options themselves; the seed as resolved; precision and device), the
    /// training and validation data (row counts, a hash of the labels in order and one of the features: decoded pixels or
    /// texts) and the class names.
    /// </summary>
    internal sealed class CheckpointFingerprint
    {
        /// <summary>Options that change nothing a checkpoint holds (where to write, how to report, how to stop).</summary>
        private static readonly HashSet<string> NotFingerprinted = new HashSet<string>
        {
            nameof(ClassificationTrainerOptionsBase.CheckpointDirectory),
            nameof(ClassificationTrainerOptionsBase.CheckpointEverySteps),
            nameof(ClassificationTrainerOptionsBase.CheckpointsToKeep),
            nameof(ClassificationTrainerOptionsBase.MetricsCallback),
            nameof(ClassificationTrainerOptionsBase.MetricsEveryBatches),
            nameof(ClassificationTrainerOptionsBase.CancellationToken),
            // How the processes were launched: the world size they resolve to is fingerprinted as "(world size)".
            nameof(ClassificationTrainerOptionsBase.DataParallel),
            nameof(ClassificationTrainerOptionsBase.ScoreColumnName),
            nameof(ClassificationTrainerOptionsBase.PredictedLabelColumnName),
            // The validation rows are fingerprinted as data.
            nameof(ClassificationTrainerOptionsBase.ValidationSet),
        };

        /// <summary>Option name → value, invariant culture, round-trip doubles.</summary>
        public SortedDictionary<string, string> Options { get; set; } = new();

        public int TrainingRows { get; set; }
        public int ValidationRows { get; set; }

        /// <summary>SHA-256 of the training labels then the validation labels, in order.</summary>
        public string LabelHash { get; set; } = "";

        /// <summary>SHA-256 of the training then the validation examples' features (<see cref="IExampleSet{TSelf}.HashFeatures"/>).</summary>
        public string FeatureHash { get; set; } = "";

        public string[] Classes { get; set; } = Array.Empty<string>();

        public static CheckpointFingerprint Create(ClassificationTrainerOptionsBase options, MixedPrecisionOptions? mixedPrecision,
            TrainingPrecision precision, string device, int seed, IExampleSet<object> train, IExampleSet<object>? validation, IEnumerable<string> classes,
            int worldSize = 1)
        {
            long[] trainLabels = train.Labels;
            long[]? validationLabels = validation?.Labels;
            var values = new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["(trainer)"] = options.GetType().FullName!,
                ["(precision)"] = precision.ToString(),
                ["(device)"] = device,
                [nameof(options.Seed)] = seed.ToString(CultureInfo.InvariantCulture),
            };
            if (worldSize > 1) // absent alone, so checkpoints of fits alone keep their fingerprint
                values["(world size)"] = worldSize.ToString(CultureInfo.InvariantCulture);
            foreach (var (name, value) in Values(options).Where(v => !NotFingerprinted.Contains(v.Name) && v.Name != nameof(options.Seed)))
                values[name] = value;
            if (mixedPrecision != null)
                foreach (var (name, value) in Values(mixedPrecision))
                    values["MixedPrecision." + name] = value;

            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            foreach (var labels in new[] { trainLabels, validationLabels ?? Array.Empty<long>() })
            {
                hash.AppendData(BitConverter.GetBytes(labels.Length));
                foreach (long label in labels)
                    hash.AppendData(BitConverter.GetBytes(label));
            }
            string labelHash = Convert.ToHexString(hash.GetHashAndReset());
            train.HashFeatures(hash);
            validation?.HashFeatures(hash);
            return new CheckpointFingerprint
            {
                Options = values,
                TrainingRows = trainLabels.Length,
                ValidationRows = validationLabels?.Length ?? 0,
                LabelHash = labelHash,
                FeatureHash = Convert.ToHexString(hash.GetHashAndReset()),
                Classes = classes.ToArray(),
            };
        }

        /// <summary>Why a checkpoint with fingerprint <paramref name="saved"/> cannot resume this fit; null when it can.</summary>
        public string? Mismatch(CheckpointFingerprint saved)
        {
            var reasons = new List<string>();
            var names = saved.Options.Keys.Union(Options.Keys).Where(k => Value(saved.Options, k) != Value(Options, k)).ToList();
            if (names.Count > 0)
                reasons.Add("other options (" + string.Join(", ", names.Take(5).Select(k =>
                    $"{k}: {Value(saved.Options, k) ?? "absent"} in the checkpoint, {Value(Options, k) ?? "absent"} now")) +
                    (names.Count > 5 ? $", and {names.Count - 5} more" : "") + ")");
            if (saved.TrainingRows != TrainingRows || saved.ValidationRows != ValidationRows)
                reasons.Add($"other data ({saved.TrainingRows} training and {saved.ValidationRows} validation rows in the checkpoint, " +
                            $"{TrainingRows} and {ValidationRows} now)");
            else if (saved.LabelHash != LabelHash)
                reasons.Add("other data (as many rows, but other labels or another row order)");
            else if (saved.FeatureHash != FeatureHash)
                reasons.Add("other data (as many rows and the same labels, but other images or texts)");
            if (!saved.Classes.SequenceEqual(Classes))
                reasons.Add($"other classes ({Describe(saved.Classes)} in the checkpoint, {Describe(Classes)} now)");
            return reasons.Count == 0 ? null : string.Join("; ", reasons);
        }

        private static string? Value(IDictionary<string, string> values, string key) => values.TryGetValue(key, out var v) ? v : null;

        private static string Describe(string[] classes) =>
            classes.Length <= 8 ? $"[{string.Join(", ", classes)}]" : $"{classes.Length} classes [{string.Join(", ", classes.Take(8))}, …]";

        /// <summary>The public readable properties of <paramref name="options"/> with simple values (delegates and tokens aside).</summary>
        private static IEnumerable<(string Name, string Value)> Values(object options)
        {
            foreach (var property in options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.Name, StringComparer.Ordinal))
            {
                var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
                if (property.GetMethod == null || property.GetIndexParameters().Length > 0 || typeof(Delegate).IsAssignableFrom(type) ||
                    type == typeof(CancellationToken) || typeof(IDataView).IsAssignableFrom(type))
                    continue;
                yield return (property.Name, Format(property.GetValue(options)));
            }
        }

        private static string Format(object? value) => value switch
        {
            null => "null",
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            float f => f.ToString("R", CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            IEnumerable<string> names => "[" + string.Join(", ", names) + "]",
            _ => value.ToString() ?? "",
        };
    }
}
