using System;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Catalog;
using Microsoft.ML.MixedPrecision.Precision;
using Microsoft.ML.MixedPrecision.Scoring;
using Microsoft.ML.MixedPrecision.Training.Checkpoints;
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

        /// <summary>Trains; <paramref name="mixedPrecision"/> null means float32. Implemented by calling <see cref="Fit{TExamples}"/>.</summary>
        private protected abstract TTransformer FitCore(IDataView input, MixedPrecisionOptions mixedPrecision);

        /// <summary>Throws, naming the column and what was expected, when the feature column(s) do not fit.</summary>
        private protected abstract void CheckFeatureColumns(SchemaShape inputSchema);

        /// <summary>The same check on a data view's schema; <paramref name="where"/> names the data in messages.</summary>
        private protected abstract void CheckFeatureColumns(DataViewSchema schema, string where);

        /// <summary>The log's component name ("ImageClassification").</summary>
        private protected abstract string ComponentName { get; }

        /// <summary>
        /// The one Fit of every trainer: checks the columns, reads and splits the examples, seeds, builds the network,
        /// exports it once untrained (an unsupported layer fails in seconds, not after training), trains in the chosen
        /// precision (resuming from a checkpoint when CheckpointDirectory holds one of this fit), exports the FP32 network
        /// with its classification head and wraps it in the stock scoring chain.
        /// </summary>
        private protected TTransformer Fit<TExamples>(IDataView input, MixedPrecisionOptions mixedPrecision,
            Func<TrainingLog, FitSteps<TExamples, TTransformer>> createSteps)
            where TExamples : class, IExampleSet<TExamples>
        {
            if (input == null)
                throw new ArgumentNullException(nameof(input));
            var o = TrainerOptions;
            using var log = new TrainingLog(Environment.Host, ComponentName);
            TorchRuntime.EnsureAvailable();

            CheckFeatureColumns(input.Schema, "training data");
            var classNames = CheckLabelColumn(input.Schema, o.LabelColumnName, out int classCount);
            if (o.ValidationSet != null)
            {
                CheckFeatureColumns(o.ValidationSet.Schema, "validation set");
                CheckValidationLabels(classCount);
            }

            int seed = o.Seed ?? log.NewSeed();
            using var steps = createSteps(log);
            var all = steps.Read(input, "training data");
            TExamples train, validation;
            if (o.ValidationSet != null)
            {
                train = all;
                validation = steps.Read(o.ValidationSet, "validation set");
            }
            else
            {
                var split = ExampleOrder.HoldOut(all.Count, o.ValidationSetFraction, seed);
                (train, validation) = split is { } held ? (all.Subset(held.Train), all.Subset(held.Validation)) : (all, null);
            }
            if (train.Labels.Distinct().Count() < 2)
                throw new ArgumentException($"The training data's label column '{o.LabelColumnName}' holds a single class; a classifier needs at least two.");

            torch.manual_seed(seed);
            using var model = steps.CreateModel(train, classCount);
            if (o.InitialWeightsPath != null)
                LoadInitialWeights(model, o.InitialWeightsPath, steps.ModelDescription);
            ExportOnnx(steps, model, classCount);

            var device = TrainingDevice.Resolve(Environment.GpuDeviceId, Environment.FallbackToCpu, log);
            using var precision = mixedPrecision == null
                ? PrecisionResolver.Float32()
                : PrecisionResolver.Resolve(mixedPrecision, device.type, log);
            var fingerprint = o.CheckpointDirectory == null ? null : CheckpointFingerprint.Create(o, mixedPrecision, precision.Precision,
                device.ToString(), seed, train.Labels, validation?.Labels, classNames.DenseValues().Select(n => n.ToString()));
            using var checkpoints = CheckpointSession.Open(o, fingerprint, log);
            var summary = steps.Train(new FitContext(o, precision, device, log, seed, classCount, checkpoints), model, train, validation);

            model.to(torch.CPU);
            DivergenceGuard.ThrowIfNotFinite(model, steps.ModelDescription);
            byte[] onnx = ExportOnnx(steps, model, classCount);
            var transformer = steps.CreateTransformer(onnx, input, classNames, classCount, summary);
            log.Info($"Trained in {summary.Elapsed.TotalSeconds:F1} s ({summary.Precision}); exported the FP32 network to ONNX.");
            checkpoints?.FitSucceeded();
            return transformer;
        }

        private static byte[] ExportOnnx<TExamples>(FitSteps<TExamples, TTransformer> steps, torch.nn.Module<torch.Tensor, torch.Tensor> model, int classCount)
            where TExamples : class, IExampleSet<TExamples>
        {
            var graph = steps.ExportLogits(model, out string logits);
            ClassificationHead.Append(graph, logits, classCount);
            return graph.ToBytes();
        }

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
                    $"Option InitialWeightsPath: '{path}' could not be loaded into {modelDescription} ({e.Innermost().Message}).",
                    nameof(ClassificationTrainerOptionsBase.InitialWeightsPath), e);
            }
        }
    }
}
