using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Catalog;
using Microsoft.ML.MixedPrecision.Onnx;
using Microsoft.ML.MixedPrecision.Precision;
using Microsoft.ML.MixedPrecision.Scoring;
using Microsoft.ML.MixedPrecision.Training;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>
    /// Trains a Transformer encoder text classifier from scratch on TorchSharp, in float32 or (with
    /// <c>.WithMixedPrecision()</c>) in bf16/fp16 autocast, and returns an ordinary FP32 ML.NET model: ApplyOnnxModel fed
    /// by the text column(s), with the tokenization inside the ONNX graph, so loading it needs neither this library nor
    /// TorchSharp. Create it with <c>mlContext.MulticlassClassification.Trainers.TextClassification(...)</c>.
    /// </summary>
    public sealed partial class TextClassificationTrainer : ClassificationTrainerBase<TextClassificationTrainer.Options, TextClassificationTransformer>
    {
        /// <summary>Temporary column feeding a sentence pair to the ONNX graph as one 2-slot text vector.</summary>
        internal const string PairColumnName = "MixedPrecision.Sentences";

        internal TextClassificationTrainer(TrainerEnvironment env, Options options)
            : base(env, options)
        {
        }

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

        private protected override TextClassificationTransformer FitCore(IDataView input, MixedPrecisionOptions mixedPrecision)
        {
            if (input == null)
                throw new ArgumentNullException(nameof(input));
            var o = TrainerOptions;
            using var log = new TrainingLog(Environment.Host, "TextClassification");
            TorchRuntime.EnsureAvailable();

            CheckTextColumns(input.Schema, "training data");
            var classNames = CheckLabelColumn(input.Schema, o.LabelColumnName, out int classCount);
            if (o.ValidationSet != null)
            {
                CheckTextColumns(o.ValidationSet.Schema, "validation set");
                CheckValidationLabels(classCount);
            }

            int seed = o.Seed ?? log.NewSeed();
            var all = ReadRows(input, "training data", log);
            TextRows train, validation;
            if (o.ValidationSet != null)
            {
                train = all;
                validation = ReadRows(o.ValidationSet, "validation set", log);
            }
            else
            {
                var split = ExampleOrder.HoldOut(all.Count, o.ValidationSetFraction, seed);
                (train, validation) = split is { } held ? (all.Subset(held.Train), all.Subset(held.Validation)) : (all, null);
            }
            if (train.Labels.Distinct().Count() < 2)
                throw new ArgumentException($"The training data's label column '{o.LabelColumnName}' holds a single class; a classifier needs at least two.");

            var tokenizer = CreateTokenizer(train, log);
            var shape = new TextTransformerShape
            {
                VocabularySize = tokenizer.IdCount,
                MaxLength = o.MaxSequenceLength,
                Width = o.EmbeddingSize,
                Heads = o.NumberOfHeads,
                Layers = o.NumberOfLayers,
                FeedForward = o.FeedForwardSize,
                Dropout = o.Dropout,
                Classes = classCount,
                Pooling = o.Pooling,
                Segments = tokenizer.Pairs,
            };
            var trainData = Encode(train, tokenizer, "training data", log);
            var validationData = validation == null ? null : Encode(validation, tokenizer, "validation set", log);

            torch.manual_seed(seed);
            using var model = new TextTransformer(shape);
            if (o.InitialWeightsPath != null)
                LoadInitialWeights(model, o.InitialWeightsPath, $"a text encoder ({model.Shape}, {model.Shape.Classes} classes)");
            log.Info($"Text encoder: {shape}.");

            var device = TrainingDevice.Resolve(Environment.GpuDeviceId, Environment.FallbackToCpu, log);
            using var precision = mixedPrecision == null
                ? PrecisionResolver.Float32()
                : PrecisionResolver.Resolve(mixedPrecision, device.type, log);
            var summary = new TrainingLoop(o, precision, device, log)
                .Run(model, trainData, validationData, seed, () => model.LastActivationDType?.ToString());

            model.to(torch.CPU);
            string onnxInput = tokenizer.Pairs ? PairColumnName : o.Sentence1ColumnName;
            var graph = TextClassifierOnnx.Build(model, tokenizer, onnxInput, out string logits);
            ClassificationHead.Append(graph, logits, classCount);
            var preprocessing = tokenizer.Pairs
                ? new IEstimator<ITransformer>[] { Builder.Transforms.Concatenate(PairColumnName, o.Sentence1ColumnName, o.Sentence2ColumnName) }
                : null;
            var chain = ClassificationOutputChain.Build(Builder, input, preprocessing, onnxInput, graph.ToBytes(), classNames, classCount,
                o.ScoreColumnName, o.PredictedLabelColumnName, tokenizer.Pairs ? new[] { PairColumnName } : null);
            log.Info($"Trained in {summary.Elapsed.TotalSeconds:F1} s ({summary.Precision}); exported the FP32 encoder and its tokenizer to ONNX.");
            return new TextClassificationTransformer(chain, classNames.DenseValues().Select(n => n.ToString()).ToArray(), summary,
                tokenizer.IdCount, o.MaxSequenceLength, shape.ToString());
        }

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
                    $"Text column '{name}' not found in the {where}. Its columns: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => c.Name))}.");
                if (!(column.Type is TextDataViewType))
                    throw new ArgumentOutOfRangeException(option,
                        $"Column '{name}' ({option}) must hold text (a scalar String column), but its type is {column.Type}.");
            }
        }


        private TextRows ReadRows(IDataView data, string what, TrainingLog log)
        {
            var o = TrainerOptions;
            var labelColumn = data.Schema[o.LabelColumnName];
            var firstColumn = data.Schema[o.Sentence1ColumnName];
            var secondColumn = o.Sentence2ColumnName == null ? (DataViewSchema.Column?)null : data.Schema[o.Sentence2ColumnName];
            var columns = new List<DataViewSchema.Column> { labelColumn, firstColumn };
            if (secondColumn.HasValue)
                columns.Add(secondColumn.Value);
            var rows = new TextRows();
            long missingLabels = 0;
            using (var cursor = data.GetRowCursor(columns))
            {
                var labelGetter = cursor.GetGetter<uint>(labelColumn);
                var firstGetter = cursor.GetGetter<ReadOnlyMemory<char>>(firstColumn);
                var secondGetter = secondColumn.HasValue ? cursor.GetGetter<ReadOnlyMemory<char>>(secondColumn.Value) : null;
                uint key = 0;
                ReadOnlyMemory<char> first = default, second = default;
                while (cursor.MoveNext())
                {
                    labelGetter(ref key);
                    if (key == 0)
                    {
                        missingLabels++;
                        continue;
                    }
                    firstGetter(ref first);
                    rows.First.Add(first.ToString());
                    if (secondGetter != null)
                    {
                        secondGetter(ref second);
                        rows.Second.Add(second.ToString());
                    }
                    rows.Labels.Add(key - 1);
                }
            }
            if (missingLabels > 0)
                log.Warning($"Skipped {missingLabels} rows of the {what} whose label '{o.LabelColumnName}' is missing (key 0).");
            if (rows.Count == 0)
                throw new ArgumentException($"The {what} is empty: no row with a label in '{o.LabelColumnName}'.");
            log.Info($"Loaded {rows.Count} texts from the {what}.");
            return rows;
        }


        private TextTokenizer CreateTokenizer(TextRows train, TrainingLog log)
        {
            var o = TrainerOptions;
            List<string> vocabulary;
            if (o.VocabularyPath != null)
            {
                vocabulary = TextVocabulary.Read(o.VocabularyPath, out int skipped);
                if (skipped > 0)
                    log.Warning($"Vocabulary file '{o.VocabularyPath}': skipped {skipped} lines (blank, duplicates, or not a single lowercased token).");
                if (vocabulary.Count == 0)
                    throw new ArgumentException($"Option VocabularyPath: '{o.VocabularyPath}' holds no usable token (one lowercased word or punctuation mark per line).", nameof(Options.VocabularyPath));
            }
            else
            {
                vocabulary = TextVocabulary.Learn(train.First.Concat(train.Second), o.MinTokenCount, o.MaxVocabularySize);
                if (vocabulary.Count == 0)
                    throw new ArgumentException($"No token of the training data's text column(s) occurs {o.MinTokenCount} times (option MinTokenCount): the vocabulary would be empty.");
            }
            log.Info($"Vocabulary: {vocabulary.Count} tokens + 4 special ({(o.VocabularyPath != null ? "from " + o.VocabularyPath : "learned from the training data")}).");
            return new TextTokenizer(vocabulary, o.MaxSequenceLength, o.Sentence2ColumnName != null);
        }

        private static TextTrainingData Encode(TextRows rows, TextTokenizer tokenizer, string what, TrainingLog log)
        {
            var sequences = new long[rows.Count][];
            int truncated = 0;
            long tokens = 0, unknown = 0;
            for (int i = 0; i < rows.Count; i++)
            {
                string second = tokenizer.Pairs ? rows.Second[i] : null;
                sequences[i] = tokenizer.Encode(rows.First[i], second);
                if (sequences[i].Length == tokenizer.MaxLength)
                    truncated++;
                foreach (long id in sequences[i])
                {
                    tokens++;
                    if (id == TextTokenizer.UnknownId)
                        unknown++;
                }
            }
            log.Info($"Tokenized the {what}: {tokens} tokens, {100.0 * unknown / Math.Max(1, tokens):F1} % unknown, " +
                     $"{truncated} of {rows.Count} texts at the {tokenizer.MaxLength}-token limit (longer ones are truncated).");
            return new TextTrainingData(sequences, rows.Labels.ToArray());
        }



        /// <summary>Texts and 0-based labels read from an IDataView.</summary>
        private sealed class TextRows
        {
            public List<string> First { get; } = new List<string>();
            public List<string> Second { get; } = new List<string>();
            public List<long> Labels { get; } = new List<long>();
            public int Count => Labels.Count;

            public TextRows Subset(IEnumerable<int> indices)
            {
                var subset = new TextRows();
                foreach (int i in indices)
                {
                    subset.First.Add(First[i]);
                    if (Second.Count > 0)
                        subset.Second.Add(Second[i]);
                    subset.Labels.Add(Labels[i]);
                }
                return subset;
            }
        }
    }
}
