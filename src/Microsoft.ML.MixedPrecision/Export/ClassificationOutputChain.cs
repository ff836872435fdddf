// Scoring API: what a trainer calls to turn its trained network into an ordinary FP32 ML.NET model.
//
//   1. Export + head (ONNX):   ClassificationHead.Append(OnnxGraphBuilder graph, string logitsName, int classCount)      [internal]
//        adds Softmax → Reshape [K] → "classification_head.probabilities" and ArgMax → "classification_head.predicted_index".
//        The network's single graph input may have any name; image networks declare float ImageInputOptions.OnnxInputShape
//        ([1, C, H, W], batch may be symbolic), vector networks [1, N] or [N].
//   2. Class names:            VBuffer<ReadOnlyMemory<char>> ClassificationOutputChain.GetClassNames(DataViewSchema.Column label, out int keyCount)
//   3. Fitted chain:
//        images:  TransformerChain<ITransformer> ImageInputChain.BuildClassifier(MLContext, ImageInputOptions, byte[] onnxModel,
//                     VBuffer<ReadOnlyMemory<char>> classNames, int keyCount, string scoreColumnName = "Score",
//                     string predictedLabelColumnName = "PredictedLabel", IDataView schemaSource = null)
//        vectors: TransformerChain<ITransformer> ClassificationOutputChain.BuildForVectorInput(MLContext, byte[] onnxModel,
//                     string featureColumnName, int featureSize, VBuffer<ReadOnlyMemory<char>> classNames, int keyCount,
//                     string scoreColumnName = "Score", string predictedLabelColumnName = "PredictedLabel")
//        other:   TransformerChain<ITransformer> ClassificationOutputChain.Build(MLContext, IDataView schemaSource,
//                     IEnumerable<IEstimator<ITransformer>> preprocessing, string onnxInputColumnName, byte[] onnxModel,
//                     VBuffer<ReadOnlyMemory<char>> classNames, int keyCount, string scoreColumnName = "Score",
//                     string predictedLabelColumnName = "PredictedLabel", IEnumerable<string>? temporaryColumns = null)
//   4. Training-side pre-processing (the exact pixels scoring feeds the network):
//        TransformerChain<ITransformer> ImageInputChain.FitPreprocessing(MLContext, ImageInputOptions, IDataView schemaSource = null)
//        → adds ImageInputChain.PixelsColumnName ("MixedPrecision.Pixels", Vector<Single, C, H, W>, planar, [0, 1]).
//
// Fitted chain (bytes input): ColumnCopying → CustomMapping (Microsoft.ML.MixedPrecision.ImageDecoding, the one non-stock
// step) → ImageResizing → [ImageGrayscale] → ImagePixelExtracting → ColumnSelecting → OnnxTransformer → Hashing →
// ValueMapping → ColumnSelecting. Image-column input: the same without the first two. Vector input: from OnnxTransformer on.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.MixedPrecision.Export
{
    /// <summary>
    /// Post-processing shared by every classifier of this library (image now, text later): turns an ONNX model that
    /// ends in <see cref="ClassificationHead"/> into stock ML.NET transformers producing
    /// <list type="bullet">
    /// <item><c>Score</c>: Vector&lt;Single, K&gt; of class probabilities whose SlotNames are the class names;</item>
    /// <item><c>PredictedLabel</c>: a scalar key with the label's KeyValues (MapKeyToValue gives the class name).</item>
    /// </list>
    /// Transformers appended after the input's pre-processing:
    /// <c>OnnxTransformer</c> (outputs Score and the temporary <see cref="PredictedIndexColumnName"/>; the SlotNames come
    /// from a <c>mlnet.Score.SlotNames</c> node inside the ONNX bytes, ML.NET's own convention) →
    /// <c>HashingTransformer</c> (combine: the 1-slot index vector becomes a scalar key; the only stock vector→scalar step) →
    /// <c>ValueMappingTransformer</c> (hash → label key; its lookup's value column is a key column carrying the label's
    /// KeyValues, which the output column inherits) → <c>ColumnSelectingTransformer</c> (drops the temporaries).
    /// </summary>
    internal static class ClassificationOutputChain
    {
        public const string DefaultScoreColumnName = "Score";
        public const string DefaultPredictedLabelColumnName = "PredictedLabel";

        /// <summary>Temporary: ONNX argmax, Vector&lt;Int64, 1&gt;. Dropped at the end of the chain.</summary>
        public const string PredictedIndexColumnName = "MixedPrecision.PredictedIndex";

        /// <summary>Temporary: hash of <see cref="PredictedIndexColumnName"/>. Dropped at the end of the chain.</summary>
        public const string PredictedIndexHashColumnName = "MixedPrecision.PredictedIndexHash";

        private const int HashBits = 31;

        /// <summary>
        /// The class names of a key label column, in key order, as text, and its key count.
        /// Text KeyValues are returned as is. Other KeyValues types (numbers, bool, ...) are converted to invariant-culture
        /// text: the model's PredictedLabel then carries TEXT KeyValues (MapKeyToValue gives strings, not the original type;
        /// key indices, Evaluate and the confusion table are unaffected). A key without KeyValues gives "0".."K-1"
        /// (the names ML.NET's confusion table would show).
        /// </summary>
        public static VBuffer<ReadOnlyMemory<char>> GetClassNames(DataViewSchema.Column labelColumn, out int keyCount)
        {
            if (!(labelColumn.Type is KeyDataViewType keyType))
                throw new ArgumentException($"The label column '{labelColumn.Name}' must be a key (use MapValueToKey); it is {labelColumn.Type}.", nameof(labelColumn));
            if (keyType.Count == 0 || keyType.Count > int.MaxValue)
                throw new ArgumentException($"The label column '{labelColumn.Name}' must have a known key count.", nameof(labelColumn));
            keyCount = (int)keyType.Count;

            var kvColumn = labelColumn.Annotations.Schema.GetColumnOrNull("KeyValues");
            if (kvColumn == null || !(kvColumn.Value.Type is VectorDataViewType kvType) || kvType.Size != keyCount)
                return new VBuffer<ReadOnlyMemory<char>>(keyCount, Enumerable.Range(0, keyCount).Select(i => i.ToString(CultureInfo.InvariantCulture).AsMemory()).ToArray());

            if (kvType.ItemType is TextDataViewType)
            {
                VBuffer<ReadOnlyMemory<char>> names = default;
                labelColumn.Annotations.GetValue("KeyValues", ref names);
                return names;
            }
            var method = typeof(ClassificationOutputChain).GetMethod(nameof(KeyValuesAsText), BindingFlags.NonPublic | BindingFlags.Static)!
                .MakeGenericMethod(kvType.ItemType.RawType);
            return (VBuffer<ReadOnlyMemory<char>>)method.Invoke(null, new object[] { labelColumn.Annotations })!;
        }

        private static VBuffer<ReadOnlyMemory<char>> KeyValuesAsText<T>(DataViewSchema.Annotations annotations)
        {
            VBuffer<T> values = default;
            annotations.GetValue("KeyValues", ref values);
            var text = values.DenseValues().Select(v => (Convert.ToString(v, CultureInfo.InvariantCulture) ?? "").AsMemory()).ToArray();
            return new VBuffer<ReadOnlyMemory<char>>(text.Length, text);
        }

        /// <summary>
        /// Builds the fitted scoring chain: <paramref name="preprocessing"/> (stock estimators producing the ONNX input
        /// column), then the ONNX model and the post-processing described on this class. Fitted on
        /// <paramref name="schemaSource"/>, whose rows are not read (every step is trivially trainable): the training
        /// data, or an empty view with the input schema.
        /// </summary>
        /// <param name="mlContext">The context; its GPU settings apply to ApplyOnnxModel.</param>
        /// <param name="schemaSource">Any view with the model's input schema.</param>
        /// <param name="preprocessing">Estimators producing <paramref name="onnxInputColumnName"/>; null = none.</param>
        /// <param name="onnxInputColumnName">The column that feeds the ONNX graph's single input (the input is renamed to it).</param>
        /// <param name="onnxModel">Network + <see cref="ClassificationHead"/>, FP32.</param>
        /// <param name="classNames">The label's KeyValues in key order (see <see cref="GetClassNames"/>); empty = "0".."K-1".</param>
        /// <param name="keyCount">The label's key count K.</param>
        /// <param name="scoreColumnName">Output probabilities column.</param>
        /// <param name="predictedLabelColumnName">Output key column.</param>
        /// <param name="temporaryColumns">Columns to drop at the end (e.g. the pixel column); the chain's own temporaries are always dropped.</param>
        public static TransformerChain<ITransformer> Build(MLContext mlContext, IDataView schemaSource,
            IEnumerable<IEstimator<ITransformer>>? preprocessing, string onnxInputColumnName, byte[] onnxModel,
            VBuffer<ReadOnlyMemory<char>> classNames, int keyCount,
            string scoreColumnName = DefaultScoreColumnName, string predictedLabelColumnName = DefaultPredictedLabelColumnName,
            IEnumerable<string>? temporaryColumns = null)
        {
            if (mlContext == null)
                throw new ArgumentNullException(nameof(mlContext));
            if (schemaSource == null)
                throw new ArgumentNullException(nameof(schemaSource));
            if (string.IsNullOrEmpty(scoreColumnName) || string.IsNullOrEmpty(predictedLabelColumnName) || scoreColumnName == predictedLabelColumnName)
                throw new ArgumentException("The score and predicted label column names must be non-empty and different.");

            var transformers = new List<ITransformer>();
            IDataView view = schemaSource;
            foreach (var estimator in preprocessing ?? Enumerable.Empty<IEstimator<ITransformer>>())
                view = FitAndApply(estimator, view, transformers);
            if (view.Schema.GetColumnOrNull(onnxInputColumnName) == null)
                throw new ArgumentException($"The pre-processed data has no column '{onnxInputColumnName}' to feed the ONNX model.", nameof(onnxInputColumnName));

            foreach (var estimator in CreateEstimators(mlContext, onnxInputColumnName, onnxModel, classNames, keyCount,
                         scoreColumnName, predictedLabelColumnName, temporaryColumns))
                view = FitAndApply(estimator, view, transformers);
            return new TransformerChain<ITransformer>(transformers.ToArray());
        }

        /// <summary>
        /// Generic float-vector input: <paramref name="featureColumnName"/> (Vector&lt;Single, featureSize&gt;) feeds the ONNX
        /// input directly (declare it [1, featureSize] or [featureSize]); nothing is pre-processed and the column is kept.
        /// </summary>
        public static TransformerChain<ITransformer> BuildForVectorInput(MLContext mlContext, byte[] onnxModel,
            string featureColumnName, int featureSize, VBuffer<ReadOnlyMemory<char>> classNames, int keyCount,
            string scoreColumnName = DefaultScoreColumnName, string predictedLabelColumnName = DefaultPredictedLabelColumnName)
        {
            if (featureSize <= 0)
                throw new ArgumentOutOfRangeException(nameof(featureSize));
            var schema = SchemaDefinition.Create(typeof(FloatVectorRow));
            schema[0].ColumnName = featureColumnName;
            schema[0].ColumnType = new VectorDataViewType(NumberDataViewType.Single, featureSize);
            IDataView empty = mlContext.Data.LoadFromEnumerable(Array.Empty<FloatVectorRow>(), schema);
            return Build(mlContext, empty, null, featureColumnName, onnxModel, classNames, keyCount, scoreColumnName, predictedLabelColumnName);
        }

        /// <summary>The unfitted post-processing estimators (ONNX, hash, value map, drop), for callers composing their own chain.</summary>
        public static IReadOnlyList<IEstimator<ITransformer>> CreateEstimators(MLContext mlContext, string onnxInputColumnName, byte[] onnxModel,
            VBuffer<ReadOnlyMemory<char>> classNames, int keyCount,
            string scoreColumnName = DefaultScoreColumnName, string predictedLabelColumnName = DefaultPredictedLabelColumnName,
            IEnumerable<string>? temporaryColumns = null)
        {
            string[] names = ToNames(classNames, keyCount);
            byte[] prepared = ScoringOnnxModel.Prepare(onnxModel, onnxInputColumnName, scoreColumnName, PredictedIndexColumnName, names);

            var onnx = mlContext.Transforms.ApplyOnnxModel(
                new[] { scoreColumnName, PredictedIndexColumnName }, new[] { onnxInputColumnName }, new MemoryStream(prepared, writable: false));

            (HashingEstimator hash, IDataView lookup) = CreateIndexLookup(mlContext, names);
            var toLabel = mlContext.Transforms.Conversion.MapValue(predictedLabelColumnName, lookup,
                lookup.Schema[PredictedIndexHashColumnName], lookup.Schema[LookupLabelColumn], PredictedIndexHashColumnName);

            var drop = new List<string> { PredictedIndexColumnName, PredictedIndexHashColumnName };
            if (temporaryColumns != null)
                drop.AddRange(temporaryColumns.Where(c => c != scoreColumnName && c != predictedLabelColumnName));
            var dropEstimator = mlContext.Transforms.DropColumns(drop.Distinct().ToArray());

            return new IEstimator<ITransformer>[] { onnx, hash, toLabel, dropEstimator };
        }

        private const string LookupIndexColumn = PredictedIndexColumnName;
        private const string LookupNameColumn = "Name";
        private const string LookupLabelColumn = "Label";

        /// <summary>
        /// The lookup of the ValueMapping step: hash of index vector [i] → label key i+1 (with the class names as KeyValues).
        /// The hashes are computed by the very HashingTransformer the chain uses, so they match at scoring time.
        /// </summary>
        private static (HashingEstimator, IDataView) CreateIndexLookup(MLContext mlContext, string[] names)
        {
            var rows = names.Select((n, i) => new IndexNameRow { Index = new long[] { i }, Name = n }).ToArray();
            var schema = SchemaDefinition.Create(typeof(IndexNameRow));
            var indexColumn = schema[nameof(IndexNameRow.Index)];
            var nameColumn = schema[nameof(IndexNameRow.Name)];
            indexColumn.ColumnType = new VectorDataViewType(NumberDataViewType.Int64, 1);
            indexColumn.ColumnName = LookupIndexColumn;
            nameColumn.ColumnName = LookupNameColumn;
            IDataView data = mlContext.Data.LoadFromEnumerable(rows, schema);
            IDataView keyData = mlContext.Data.LoadFromEnumerable(names.Select(n => new NameRow { Name = n }).ToArray());

            for (uint seed = 314489979; ; seed++)
            {
                var hash = mlContext.Transforms.Conversion.Hash(new HashingEstimator.ColumnOptions(
                    PredictedIndexHashColumnName, PredictedIndexColumnName, numberOfBits: HashBits, seed: seed,
                    useOrderedHashing: false, maximumNumberOfInverts: 0, combine: true));
                var toKey = mlContext.Transforms.Conversion.MapValueToKey(LookupLabelColumn, LookupNameColumn,
                    keyOrdinality: Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByOccurrence, keyData: keyData);
                var lookupPipeline = hash.Append(toKey);
                // Materialize: the lookup is copied into the ValueMappingTransformer anyway.
                IDataView lookup = mlContext.Data.Cache(lookupPipeline.Fit(data).Transform(data));
                var hashes = lookup.GetColumn<uint>(PredictedIndexHashColumnName).ToArray();
                if (hashes.Distinct().Count() == hashes.Length)
                    return (hash, lookup);
            }
        }

        internal static string[] ToNames(VBuffer<ReadOnlyMemory<char>> classNames, int keyCount)
        {
            if (keyCount < 2)
                throw new ArgumentOutOfRangeException(nameof(keyCount), keyCount, "A classifier needs a label with at least 2 classes.");
            string[] names = classNames.Length == 0
                ? Enumerable.Range(0, keyCount).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray()
                : classNames.DenseValues().Select(v => v.ToString()).ToArray();
            if (names.Length != keyCount)
                throw new ArgumentException($"The label has {keyCount} keys but {names.Length} class names.", nameof(classNames));
            var duplicate = names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
            if (duplicate != null)
                throw new ArgumentException($"The class name '{duplicate.Key}' appears more than once in the label's KeyValues.", nameof(classNames));
            return names;
        }

        private static IDataView FitAndApply(IEstimator<ITransformer> estimator, IDataView view, List<ITransformer> transformers)
        {
            ITransformer t = estimator.Fit(view);
            transformers.Add(t);
            return t.Transform(view);
        }

        private sealed class FloatVectorRow
        {
#pragma warning disable CS0649 // schema carrier only
            public float[] Features = Array.Empty<float>();
#pragma warning restore CS0649
        }

        private sealed class IndexNameRow
        {
            public long[] Index = Array.Empty<long>();
            public string Name = "";
        }

        private sealed class NameRow
        {
            public string Name = "";
        }
    }
}
