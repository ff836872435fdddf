using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Security.Cryptography;
using Microsoft.ML.MixedPrecision.Tests.Text;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>
    /// The small seeded fit the checkpoint tests interrupt and resume (compiled into the tests and into the
    /// CheckpointChild process): a from-scratch text transformer with dropout (so libtorch's random state matters), a
    /// held-out validation fraction (so the best-weights record matters), three epochs of eight batches.
    /// </summary>
    internal static class CheckpointRun
    {
        public const int Epochs = 3;

        public static TextClassificationTrainer.Options Options(string checkpointDirectory, int? everySteps = 1) => new TextClassificationTrainer.Options
        {
            Encoder = TextEncoderKind.FromScratch,
            Epochs = Epochs,
            BatchSize = 16,
            LearningRate = 0.002,
            EmbeddingSize = 32,
            NumberOfHeads = 2,
            NumberOfLayers = 1,
            FeedForwardSize = 64,
            MaxSequenceLength = 24,
            Dropout = 0.1,
            ValidationSetFraction = 0.15,
            MinTokenCount = 1,
            Seed = 7,
            CheckpointDirectory = checkpointDirectory,
            CheckpointEverySteps = everySteps,
        };

        public static IDataView Data(MLContext ml) => ml.Data.LoadFromEnumerable(SyntheticText.Sentences(150, seed: 11));

        /// <summary>Fits <paramref name="options"/> (float32 when <paramref name="precision"/> is Float32, else autocast).</summary>
        public static TextClassificationTransformer Fit(MLContext ml, TextClassificationTrainer.Options options, TrainingPrecision precision)
        {
            var trainer = ml.MulticlassClassification.Trainers.TextClassification(options);
            var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(Data(ml)).Transform(Data(ml));
            if (precision == TrainingPrecision.Float32)
                return trainer.Fit(data);
            return trainer.WithMixedPrecision(new MixedPrecisionOptions { Precision = precision }).Fit(data);
        }

        /// <summary>
        /// What must be identical between an interrupted-and-resumed fit and an uninterrupted one, one line each: every
        /// epoch's metrics (round-trip doubles; timings left out) and a SHA-256 of the exported FP32 network (the ONNX
        /// graph with its weights, as the saved model holds it).
        /// </summary>
        public static List<string> Outcome(MLContext ml, ClassifierTransformer model, DataViewSchema schema = null)
        {
            var lines = model.Summary.Epochs.Select(e => string.Join("\t", "EPOCH", e.Epoch, e.BatchesProcessed, e.OptimizerSteps,
                R(e.TrainingLoss), R(e.TrainingAccuracy), R(e.TrainingMacroAccuracy), R(e.ValidationLoss), R(e.ValidationAccuracy),
                R(e.LearningRate), R(e.LossScale), e.SkippedSteps)).ToList();
            var s = model.Summary;
            lines.Add(string.Join("\t", "SUMMARY", s.EpochsRun, s.OptimizerSteps, s.BestEpoch, R(s.BestValidationAccuracy), s.StoppedEarly,
                s.ObservedActivationType));
            lines.Add("MODEL\t" + ModelHash(ml, model, schema ?? Data(ml).Schema));
            return lines;
        }

        /// <summary>
        /// SHA-256 of the ONNX graph(s) in the model ML.NET saves: the trained weights. (The rest of the zip is ML.NET's
        /// own; its binary key-value map, DefaultMap.idv, was not byte-identical between two fits of equal weights.)
        /// </summary>
        public static string ModelHash(MLContext ml, ITransformer model, DataViewSchema schema)
        {
            using var zip = new MemoryStream();
            ml.Model.Save(model, schema, zip);
            zip.Position = 0;
            using var archive = new ZipArchive(zip, ZipArchiveMode.Read);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            foreach (var entry in archive.Entries.Where(e => e.Name == "OnnxModel").OrderBy(e => e.FullName, StringComparer.Ordinal))
            {
                hash.AppendData(System.Text.Encoding.UTF8.GetBytes(entry.FullName));
                using var content = entry.Open();
                using var bytes = new MemoryStream();
                content.CopyTo(bytes);
                hash.AppendData(bytes.ToArray());
            }
            return Convert.ToHexString(hash.GetHashAndReset());
        }

        private static string R(double? value) => value?.ToString("R", CultureInfo.InvariantCulture) ?? "-";
    }
}
