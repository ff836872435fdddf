using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Training;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>
    /// What every text fit shares: the texts and labels read from the data view, tokenized into id sequences, and the stock
    /// scoring chain around the exported network ((Concatenate the pair →) ApplyOnnxModel → Score / PredictedLabel).
    /// Subclasses choose the tokenizer and build, train and export the encoder.
    /// </summary>
    internal abstract class TextFitSteps : FitSteps<TextRows, TextClassificationTransformer>
    {
        /// <summary>Temporary column feeding a sentence pair to the ONNX graph as one 2-slot text vector.</summary>
        internal const string PairColumnName = "MixedPrecision.Sentences";

        protected TextFitSteps(TextClassificationTrainer.Options options, MLContext builder, TrainingLog log)
        {
            Options = options;
            Builder = builder;
            Log = log;
        }

        protected TextClassificationTrainer.Options Options { get; }
        protected MLContext Builder { get; }
        protected TrainingLog Log { get; }

        /// <summary>Whether the model reads a sentence pair (fed to the ONNX graph as one 2-slot text vector).</summary>
        protected bool Pairs => Options.Sentence2ColumnName != null;

        /// <summary>The ONNX graph's text input: the text column, or the pair column the chain concatenates.</summary>
        protected string OnnxInput => Pairs ? PairColumnName : Options.Sentence1ColumnName;

        public override TextRows Read(IDataView data, string what)
        {
            var o = Options;
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
                    Log.ThrowIfCanceled(o.CancellationToken);
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
                Log.SkippedRows(what, $"label '{o.LabelColumnName}' missing (key 0)", missingLabels);
            if (rows.Count == 0)
                throw new ArgumentException($"The {what} is empty: no row with a label in '{o.LabelColumnName}'" +
                    (missingLabels > 0 ? $" (all {missingLabels} rows have a missing label: key 0, e.g. a value the MapValueToKey transformer did not see)." : "."));
            Log.Info($"Loaded {rows.Count} texts from the {what}.");
            return rows;
        }

        /// <summary>
        /// The training rows and the validation rows tokenized with <paramref name="encode"/>; the training batches grouped
        /// by length when <c>BucketByLength</c> says so (null: <paramref name="bucketByDefault"/>), the validation rows never.
        /// </summary>
        protected (TextTrainingData Train, TextTrainingData? Validation) Encode(TextRows train, TextRows? validation,
            Func<string, string?, long[]> encode, int maxLength, long unknownId, bool bucketByDefault)
        {
            var trainData = Encode(train, encode, maxLength, unknownId, "training data", bucket: Options.BucketByLength ?? bucketByDefault);
            var validationData = validation == null ? null : Encode(validation, encode, maxLength, unknownId, "validation set", bucket: false);
            return (trainData, validationData);
        }

        /// <summary>Tokenizes every row (ids with [CLS]/[SEP], unpadded) and logs the unknown rate and how many were truncated.</summary>
        private TextTrainingData Encode(TextRows rows, Func<string, string?, long[]> encode, int maxLength, long unknownId, string what,
            bool bucket)
        {
            var sequences = new long[rows.Count][];
            int truncated = 0;
            long tokens = 0, unknown = 0;
            for (int i = 0; i < rows.Count; i++)
            {
                if (i % 256 == 0)
                    Log.ThrowIfCanceled(Options.CancellationToken);
                string? second = Pairs ? rows.Second[i] : null;
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
            Log.Info($"Tokenized the {what}: {tokens} tokens, {100.0 * unknown / Math.Max(1, tokens):F1} % unknown, " +
                     $"{truncated} of {rows.Count} texts at the {maxLength}-token limit (longer ones are truncated).");
            return new TextTrainingData(sequences, rows.Labels, bucket);
        }

        /// <summary>The stock chain: (Concatenate the pair →) ApplyOnnxModel → Score / PredictedLabel.</summary>
        protected TextClassificationTransformer CreateTransformer(byte[] onnxModel, IDataView input, VBuffer<ReadOnlyMemory<char>> classNames,
            int classCount, TrainingSummary summary, int vocabularySize, string architecture)
        {
            var o = Options;
            var preprocessing = Pairs
                ? new IEstimator<ITransformer>[] { Builder.Transforms.Concatenate(PairColumnName, o.Sentence1ColumnName, o.Sentence2ColumnName) }
                : null;
            var chain = ClassificationOutputChain.Build(Builder, input, preprocessing, OnnxInput, onnxModel, classNames, classCount,
                o.ScoreColumnName, o.PredictedLabelColumnName, Pairs ? new[] { PairColumnName } : null);
            return new TextClassificationTransformer(chain, classNames.DenseValues().Select(n => n.ToString()).ToArray(), summary,
                vocabularySize, o.MaxSequenceLength, architecture);
        }
    }
}
