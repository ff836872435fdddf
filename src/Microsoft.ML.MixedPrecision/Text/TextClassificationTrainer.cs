using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.ML.MixedPrecision.Text.Pretrained;
using Microsoft.ML.MixedPrecision.Training;

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>
    /// Trains a text classifier on TorchSharp (by default all-MiniLM-L6-v2 fine-tuned, or an encoder from scratch), in float32 or (with
    /// <c>.WithMixedPrecision()</c>) in bf16/fp16 autocast, and returns an ordinary FP32 ML.NET model: ApplyOnnxModel fed
    /// by the text column(s), with the tokenization inside the ONNX graph, so loading it needs neither this library nor
    /// TorchSharp. Create it with <c>mlContext.MulticlassClassification.Trainers.TextClassification(...)</c>.
    /// </summary>
    public sealed partial class TextClassificationTrainer : ClassificationTrainerBase<TextClassificationTrainer.Options, TextClassificationTransformer>
    {
        internal TextClassificationTrainer(TrainerEnvironment env, Options options, MixedPrecisionOptions? mixedPrecision = null)
            : base(env, options, mixedPrecision)
        {
        }

        /// <summary>The same trainer, training in the precision <paramref name="mixedPrecision"/> asks for.</summary>
        internal TextClassificationTrainer WithPrecision(MixedPrecisionOptions mixedPrecision) => new(Environment, TrainerOptions, mixedPrecision);

        private protected override void CheckFeatureColumns(SchemaShape inputSchema)
        {
            foreach (var (name, option) in TextColumns())
            {
                var column = inputSchema.FirstOrDefault(c => c.Name == name);
                if (column.Name == null)
                    throw new ArgumentOutOfRangeException(option, $"Text column '{name}' not found in the input schema.");
                if (!(column.ItemType is TextDataViewType) || column.Kind != SchemaShape.Column.VectorKind.Scalar)
                    throw new ArgumentOutOfRangeException(option, $"Column '{name}' must hold text (a scalar String column), but it holds {column.ItemType}.");
            }
        }

        private protected override string ComponentName => "TextClassification";

        private protected override TextClassificationTransformer FitCore(IDataView input, MixedPrecisionOptions? mixedPrecision)
            => Fit(input, mixedPrecision, ChooseEncoder);

        /// <summary>
        /// Auto: the pretrained MiniLM when its package is found (it is a dependency of this library, so normally it is), else
        /// an encoder from scratch; the log says which and why.
        /// </summary>
        private TextFitSteps ChooseEncoder(TrainingLog log)
        {
            var o = TrainerOptions;
            if (o.Encoder == TextEncoderKind.FromScratch)
            {
                log.Info("Encoder FromScratch: a Transformer encoder from random weights, with a vocabulary learned from the training data.");
                return new ScratchTextFitSteps(o, Builder, log);
            }
            string? path = o.PretrainedModelPath ?? MiniLmPackage.Find();
            if (path == null)
            {
                string lookedAt = string.Join(", ", MiniLmPackage.Candidates());
                if (o.Encoder == TextEncoderKind.MiniLmL6)
                    throw new FileNotFoundException($"Encoder MiniLmL6: the pretrained encoder was not found (looked for {lookedAt}). {MiniLmPackage.Fix}");
                log.Warning($"Encoder Auto: training a Transformer from scratch, because the pretrained MiniLM was not found (looked for {lookedAt}). {MiniLmPackage.Fix}");
                return new ScratchTextFitSteps(o, Builder, log);
            }
            bool onnx = !PretrainedTextEncoder.IsAssembly(path);
            var encoder = PretrainedTextEncoder.Read(path, onnx ? o.VocabularyPath : null);
            if (o.MaxSequenceLength > encoder.Layout.MaxPositions)
                throw new ArgumentOutOfRangeException(nameof(Options.MaxSequenceLength),
                    $"Option MaxSequenceLength: the pretrained encoder {encoder.Name} takes at most {encoder.Layout.MaxPositions} tokens (was {o.MaxSequenceLength}); " +
                    "lower it, or set Encoder = FromScratch.");
            log.Info($"Encoder {o.Encoder}: fine-tuning {encoder.Name} ({encoder.Layout}; uncased WordPiece, {encoder.Vocabulary.Length} tokens) from '{path}'; " +
                     "set Encoder = FromScratch for languages it was not pretrained on.");
            if (o.VocabularyPath != null && !onnx)
                log.Warning($"Option VocabularyPath is ignored: the pretrained encoder's package has its own vocabulary ({encoder.Vocabulary.Length} WordPiece tokens).");
            return new PretrainedBertFitSteps(o, Builder, log, encoder);
        }

        private protected override void CheckFeatureColumns(DataViewSchema schema, string where) => CheckTextColumns(schema, where);

        private IEnumerable<(string Name, string Option)> TextColumns()
        {
            yield return (TrainerOptions.Sentence1ColumnName, nameof(Options.Sentence1ColumnName));
            if (TrainerOptions.Sentence2ColumnName != null)
                yield return (TrainerOptions.Sentence2ColumnName, nameof(Options.Sentence2ColumnName));
        }

        private void CheckTextColumns(DataViewSchema schema, string where)
        {
            foreach (var (name, option) in TextColumns())
            {
                var column = schema.GetColumnOrNull(name) ?? throw new ArgumentOutOfRangeException(option,
                    $"Text column '{name}' not found in the {where}. Its columns: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => c.Name))}. " +
                    $"Set {option} to the text column.");
                if (!(column.Type is TextDataViewType))
                    throw new ArgumentOutOfRangeException(option,
                        $"Column '{name}' ({option}) of the {where} must hold text (a scalar String column, one text per row), but its type is {column.Type}: " +
                        $"set {option} to a text column.");
            }
        }
    }
}
