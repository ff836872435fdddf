using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Text.Pretrained;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.ML.MixedPrecision.Training;
using TorchSharp;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision
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

        private protected override string ComponentName => "TextClassification";

        private protected override TextClassificationTransformer FitCore(IDataView input, MixedPrecisionOptions mixedPrecision)
            => Fit(input, mixedPrecision, ChooseEncoder);

        /// <summary>
        /// Auto: the pretrained MiniLM when its package is found (it is a dependency of this library, so normally it is), else
        /// an encoder from scratch; the log says which and why.
        /// </summary>
        private FitSteps<TextRows, TextClassificationTransformer> ChooseEncoder(TrainingLog log)
        {
            var o = TrainerOptions;
            if (o.Encoder == TextEncoderKind.FromScratch)
            {
                log.Info("Encoder FromScratch: a Transformer encoder from random weights, with a vocabulary learned from the training data.");
                return new TextFitSteps(this, log);
            }
            string path = o.PretrainedModelPath ?? MiniLmPackage.Find();
            if (path == null)
            {
                string lookedAt = string.Join(", ", MiniLmPackage.Candidates());
                if (o.Encoder == TextEncoderKind.MiniLmL6)
                    throw new FileNotFoundException($"Encoder MiniLmL6: the pretrained encoder was not found (looked for {lookedAt}). {MiniLmPackage.Fix}");
                log.Warning($"Encoder Auto: training a Transformer from scratch, because the pretrained MiniLM was not found (looked for {lookedAt}). {MiniLmPackage.Fix}");
                return new TextFitSteps(this, log);
            }
            if (o.MaxSequenceLength > BertShape.MiniLmL6MaxPositions)
                throw new ArgumentOutOfRangeException(nameof(Options.MaxSequenceLength),
                    $"Option MaxSequenceLength: the pretrained encoder takes at most {BertShape.MiniLmL6MaxPositions} tokens (was {o.MaxSequenceLength}); " +
                    "lower it, or set Encoder = FromScratch.");
            var package = MiniLmPackage.Read(path);
            log.Info($"Encoder {o.Encoder}: fine-tuning all-MiniLM-L6-v2 (pretrained on English, uncased WordPiece) from '{path}'; " +
                     "set Encoder = FromScratch for other languages.");
            if (o.VocabularyPath != null)
                log.Warning($"Option VocabularyPath is ignored: the pretrained encoder has its own vocabulary ({package.Vocabulary.Length} WordPiece tokens).");
            return new MiniLmFitSteps(this, log, package);
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


        /// <summary>The text trainer's parts of the one Fit: read texts, learn the vocabulary, build the encoder, export it with its tokenizer.</summary>
        private sealed class TextFitSteps : FitSteps<TextRows, TextClassificationTransformer>
        {
            private readonly TextClassificationTrainer _trainer;
            private readonly TrainingLog _log;
            private TextTokenizer _tokenizer;
            private TextTransformer _model;

            public TextFitSteps(TextClassificationTrainer trainer, TrainingLog log)
            {
                _trainer = trainer;
                _log = log;
            }

            public override string ModelDescription => $"a text encoder ({_model.Shape}, {_model.Shape.Classes} classes)";

            public override TextRows Read(IDataView data, string what) => _trainer.ReadRows(data, what, _log);

            public override Module CreateModel(TextRows train, int classCount)
            {
                var o = _trainer.TrainerOptions;
                _tokenizer = _trainer.CreateTokenizer(train, _log);
                var shape = new TextTransformerShape
                {
                    VocabularySize = _tokenizer.IdCount,
                    MaxLength = o.MaxSequenceLength,
                    Width = o.EmbeddingSize,
                    Heads = o.NumberOfHeads,
                    Layers = o.NumberOfLayers,
                    FeedForward = o.FeedForwardSize,
                    Dropout = o.Dropout,
                    Classes = classCount,
                    Pooling = o.Pooling,
                    Segments = _tokenizer.Pairs,
                };
                _model = new TextTransformer(shape);
                _log.Info($"Text encoder: {shape}.");
                return _model;
            }

            public override TrainingSummary Train(FitContext fit, Module model, TextRows train, TextRows validation)
            {
                var trainData = _trainer.Encode(train, _tokenizer.Encode, _tokenizer.MaxLength, TextTokenizer.UnknownId, "training data", _log, bucket: _trainer.TrainerOptions.BucketByLength ?? false);
                var validationData = validation == null ? null : _trainer.Encode(validation, _tokenizer.Encode, _tokenizer.MaxLength, TextTokenizer.UnknownId, "validation set", _log, bucket: false);
                return fit.Train(model, trainData, validationData, new TrainingPhase
                {
                    Epochs = fit.Options.Epochs ?? ClassificationTrainerOptionsBase.DefaultEpochs,
                    ActivationProbe = () => _model.LastActivationDType?.ToString(),
                });
            }

            public override OnnxGraphBuilder ExportLogits(Module model, out string logitsName)
                => TextClassifierOnnx.Build(_model, _tokenizer, _trainer.OnnxInput, out logitsName);

            public override TextClassificationTransformer CreateTransformer(byte[] onnxModel, IDataView input, VBuffer<ReadOnlyMemory<char>> classNames,
                int classCount, TrainingSummary summary)
                => _trainer.CreateTransformer(onnxModel, input, classNames, classCount, summary, _tokenizer.IdCount, _model.Shape.ToString());
        }

        /// <summary>Whether the model reads a sentence pair (fed to the ONNX graph as one 2-slot text vector).</summary>
        private bool Pairs => TrainerOptions.Sentence2ColumnName != null;

        /// <summary>The ONNX graph's text input: the text column, or the pair column the chain concatenates.</summary>
        private string OnnxInput => Pairs ? PairColumnName : TrainerOptions.Sentence1ColumnName;

        /// <summary>The stock chain: (Concatenate the pair →) ApplyOnnxModel → Score / PredictedLabel.</summary>
        private TextClassificationTransformer CreateTransformer(byte[] onnxModel, IDataView input, VBuffer<ReadOnlyMemory<char>> classNames,
            int classCount, TrainingSummary summary, int vocabularySize, string architecture)
        {
            var o = TrainerOptions;
            var preprocessing = Pairs
                ? new IEstimator<ITransformer>[] { Builder.Transforms.Concatenate(PairColumnName, o.Sentence1ColumnName, o.Sentence2ColumnName) }
                : null;
            var chain = ClassificationOutputChain.Build(Builder, input, preprocessing, OnnxInput, onnxModel, classNames, classCount,
                o.ScoreColumnName, o.PredictedLabelColumnName, Pairs ? new[] { PairColumnName } : null);
            return new TextClassificationTransformer(chain, classNames.DenseValues().Select(n => n.ToString()).ToArray(), summary,
                vocabularySize, o.MaxSequenceLength, architecture);
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
                    log.ThrowIfCanceled(o.CancellationToken);
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
                    rows.LabelList.Add(key - 1);
                }
            }
            if (missingLabels > 0)
                log.SkippedRows(what, $"label '{o.LabelColumnName}' missing (key 0)", missingLabels);
            if (rows.Count == 0)
                throw new ArgumentException($"The {what} is empty: no row with a label in '{o.LabelColumnName}'" +
                    (missingLabels > 0 ? $" (all {missingLabels} rows have a missing label: key 0, e.g. a value the MapValueToKey transformer did not see)." : "."));
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

        /// <summary>Tokenizes every row (ids with [CLS]/[SEP], unpadded) and logs the unknown rate and how many were truncated.</summary>
        private TextTrainingData Encode(TextRows rows, Func<string, string, long[]> encode, int maxLength, long unknownId, string what,
            TrainingLog log, bool bucket)
        {
            var sequences = new long[rows.Count][];
            int truncated = 0;
            long tokens = 0, unknown = 0;
            for (int i = 0; i < rows.Count; i++)
            {
                if (i % 256 == 0)
                    log.ThrowIfCanceled(TrainerOptions.CancellationToken);
                string second = Pairs ? rows.Second[i] : null;
                sequences[i] = encode(rows.First[i], second);
                if (sequences[i].Length == maxLength)
                    truncated++;
                foreach (long id in sequences[i])
                {
                    tokens++;
                    if (id == unknownId)
                        unknown++;
                }
            }
            log.Info($"Tokenized the {what}: {tokens} tokens, {100.0 * unknown / Math.Max(1, tokens):F1} % unknown, " +
                     $"{truncated} of {rows.Count} texts at the {maxLength}-token limit (longer ones are truncated).");
            return new TextTrainingData(sequences, rows.Labels, bucket);
        }

        /// <summary>Texts and 0-based labels read from an IDataView.</summary>
        private sealed class TextRows : IExampleSet<TextRows>
        {
            public List<string> First { get; } = new List<string>();
            public List<string> Second { get; } = new List<string>();
            public List<long> LabelList { get; } = new List<long>();
            public long[] Labels => LabelList.ToArray();
            public int Count => LabelList.Count;

            public TextRows Subset(int[] indices)
            {
                var subset = new TextRows();
                foreach (int i in indices)
                {
                    subset.First.Add(First[i]);
                    if (Second.Count > 0)
                        subset.Second.Add(Second[i]);
                    subset.LabelList.Add(LabelList[i]);
                }
                return subset;
            }

            public void HashFeatures(IncrementalHash hash)
            {
                foreach (var column in new[] { First, Second })
                {
                    hash.AppendData(BitConverter.GetBytes(column.Count));
                    foreach (string text in column)
                    {
                        // Length-prefixed, so ["ab", "c"] and ["a", "bc"] differ; null (missing) apart from "".
                        hash.AppendData(BitConverter.GetBytes(text?.Length ?? -1));
                        hash.AppendData(Encoding.UTF8.GetBytes(text ?? ""));
                    }
                }
            }
        }
    }
}
