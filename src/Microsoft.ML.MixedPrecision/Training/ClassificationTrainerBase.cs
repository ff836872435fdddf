using System;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Catalog;
using Microsoft.ML.MixedPrecision.Scoring;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// What every classifier of this library shares as an ML.NET estimator: the options, the float32 Fit and the
    /// mixed-precision Fit, output-schema propagation and the label checks. Subclasses say how their input is checked,
    /// read and modelled.
    /// </summary>
    public abstract class ClassificationTrainerBase<TOptions, TTransformer> : IEstimator<TTransformer>, IPrecisionAwareTrainer
        where TOptions : ClassificationTrainerOptionsBase
        where TTransformer : ClassifierTransformer
    {
        private protected ClassificationTrainerBase(TrainerEnvironment env, TOptions options)
        {
            Environment = env ?? throw new ArgumentNullException(nameof(env));
            TrainerOptions = options ?? throw new ArgumentNullException(nameof(options));
            TrainerOptions.Validate();
        }

        /// <summary>The trainer's options.</summary>
        public TOptions TrainerOptions { get; }

        private protected TrainerEnvironment Environment { get; }

        /// <summary>Creates the stock estimators of the fitted model.</summary>
        private protected MLContext Builder => Environment.Builder;

        /// <summary>Trains in float32. Use <c>.WithMixedPrecision()</c> for bf16/fp16 autocast training.</summary>
        public TTransformer Fit(IDataView input) => FitCore(input, mixedPrecision: null);

        ClassifierTransformer IPrecisionAwareTrainer.Fit(IDataView input, MixedPrecisionOptions mixedPrecision)
            => FitCore(input, mixedPrecision ?? new MixedPrecisionOptions());

        public SchemaShape GetOutputSchema(SchemaShape inputSchema)
        {
            if (inputSchema == null)
                throw new ArgumentNullException(nameof(inputSchema));
            CheckFeatureColumns(inputSchema);
            var o = TrainerOptions;
            var label = inputSchema.FirstOrDefault(c => c.Name == o.LabelColumnName);
            if (label.Name == null)
                throw new ArgumentOutOfRangeException(nameof(o.LabelColumnName), $"Label column '{o.LabelColumnName}' not found in the input schema.");
            if (!label.IsKey || label.Kind != SchemaShape.Column.VectorKind.Scalar)
                throw new ArgumentOutOfRangeException(nameof(o.LabelColumnName),
                    $"Label column '{o.LabelColumnName}' must be a key (use mlContext.Transforms.Conversion.MapValueToKey(\"{o.LabelColumnName}\")), but it is {label.ItemType}.");
            return ClassifierOutputSchema.Append(Builder, inputSchema, o.LabelColumnName, o.ScoreColumnName, o.PredictedLabelColumnName);
        }

        /// <summary>Trains; <paramref name="mixedPrecision"/> null means float32.</summary>
        private protected abstract TTransformer FitCore(IDataView input, MixedPrecisionOptions mixedPrecision);

        /// <summary>Throws, naming the column and what was expected, when the feature column(s) do not fit.</summary>
        private protected abstract void CheckFeatureColumns(SchemaShape inputSchema);

        /// <summary>Checks the label is a key with at least two classes; returns the class names in key order.</summary>
        private protected static VBuffer<ReadOnlyMemory<char>> CheckLabelColumn(DataViewSchema schema, string name, out int classCount,
            string where = "training data")
        {
            var column = schema.GetColumnOrNull(name) ?? throw new ArgumentOutOfRangeException(nameof(ClassificationTrainerOptionsBase.LabelColumnName),
                $"Label column '{name}' not found in the {where}. Its columns: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => c.Name))}.");
            if (!(column.Type is KeyDataViewType key))
                throw new ArgumentOutOfRangeException(nameof(ClassificationTrainerOptionsBase.LabelColumnName),
                    $"Label column '{name}' must be a key type (use mlContext.Transforms.Conversion.MapValueToKey(\"{name}\")), but its type is {column.Type}.");
            if (key.Count < 2 || key.Count > int.MaxValue)
                throw new ArgumentOutOfRangeException(nameof(ClassificationTrainerOptionsBase.LabelColumnName),
                    $"Label column '{name}' has {key.Count} class(es); a classifier needs at least two.");
            return ClassificationOutputChain.GetClassNames(column, out classCount);
        }

        /// <summary>Checks the validation set's label has the training label's classes (the same MapValueToKey).</summary>
        private protected void CheckValidationLabels(int trainingClassCount)
        {
            var o = TrainerOptions;
            CheckLabelColumn(o.ValidationSet.Schema, o.LabelColumnName, out int validationClasses, "validation set");
            if (validationClasses != trainingClassCount)
                throw new ArgumentException(
                    $"The validation set's label column '{o.LabelColumnName}' has {validationClasses} classes but the training data has {trainingClassCount}: " +
                    "map both with the same MapValueToKey transformer.", nameof(o.ValidationSet));
        }

        /// <summary>Loads <see cref="ClassificationTrainerOptionsBase.InitialWeightsPath"/>, naming the option and the model on failure.</summary>
        private protected static void LoadInitialWeights(torch.nn.Module model, string path, string modelDescription)
        {
            try
            {
                model.load(path);
            }
            catch (Exception e) when (!(e is OutOfMemoryException))
            {
                throw new ArgumentException(
                    $"Option InitialWeightsPath: '{path}' could not be loaded into {modelDescription} ({Innermost(e).Message}).",
                    nameof(ClassificationTrainerOptionsBase.InitialWeightsPath), e);
            }
        }

        private protected static Exception Innermost(Exception e)
        {
            while (e.InnerException != null)
                e = e.InnerException;
            return e;
        }
    }
}
