using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Distributed;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Native;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.ML.MixedPrecision.Training.Checkpoints;
using Microsoft.ML.MixedPrecision.Training.Precision;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>
    /// What every classifier of this library shares as an ML.NET estimator: the options, the float32 Fit and the
    /// mixed-precision Fit, output-schema propagation and the label checks. Subclasses say how their input is checked,
    /// read and modelled.
    /// </summary>
    public abstract class ClassificationTrainerBase<TOptions, TTransformer> : IEstimator<TTransformer>
        where TOptions : ClassificationTrainerOptionsBase
        where TTransformer : ClassifierTransformer
    {
        private protected ClassificationTrainerBase(TrainerEnvironment env, TOptions options, MixedPrecisionOptions? mixedPrecision)
        {
            Environment = env ?? throw new ArgumentNullException(nameof(env));
            TrainerOptions = options ?? throw new ArgumentNullException(nameof(options));
            TrainerOptions.Validate();
            mixedPrecision?.Validate();
            MixedPrecision = mixedPrecision;
        }

        /// <summary>The trainer's options.</summary>
        public TOptions TrainerOptions { get; }

        /// <summary>
        /// The mixed-precision settings this trainer trains with, set by <c>.WithMixedPrecision()</c>; null: float32.
        /// Whatever the precision, Fit returns the same kind of FP32 model (its Summary.Precision says which precision ran).
        /// </summary>
        public MixedPrecisionOptions? MixedPrecision { get; }

        private protected TrainerEnvironment Environment { get; }

        /// <summary>Creates the stock estimators of the fitted model.</summary>
        private protected MLContext Builder => Environment.Builder;

        /// <summary>
        /// Trains on <paramref name="input"/>: in float32, or with <see cref="MixedPrecision"/> set (<c>.WithMixedPrecision()</c>)
        /// in bf16/fp16 autocast. Returns an ordinary FP32 model.
        /// </summary>
        public TTransformer Fit(IDataView input) => FitCore(input, MixedPrecision);

        /// <summary>The input schema plus Score (one float per class) and PredictedLabel (a key of the label's values); throws naming the column when the feature or label column does not fit.</summary>
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
        private protected abstract TTransformer FitCore(IDataView input, MixedPrecisionOptions? mixedPrecision);

        /// <summary>Throws, naming the column and what was expected, when the feature column(s) do not fit.</summary>
        private protected abstract void CheckFeatureColumns(SchemaShape inputSchema);

        /// <summary>The same check on a data view's schema; <paramref name="where"/> names the data in messages.</summary>
        private protected abstract void CheckFeatureColumns(DataViewSchema schema, string where);

        /// <summary>The log's component name ("ImageClassification").</summary>
        private protected abstract string ComponentName { get; }

        /// <summary>
        /// The one Fit of every trainer: checks the columns, reads and splits the examples, seeds, builds the network,
        /// exports it once untrained (an unsupported layer fails in seconds, not after training), trains in the chosen
        /// precision (resuming from a checkpoint when CheckpointDirectory holds one of this fit, keeping freed native memory
        /// for reuse meanwhile, <see cref="NativeHeap"/>), exports the FP32 network with its classification head and wraps it
        /// in the stock scoring chain. Launched by mpirun (<see cref="ClassificationTrainerOptionsBase.DataParallel"/>), it
        /// trains data-parallel with the job's other processes, and a failure on any of them ends the whole job with its message.
        /// </summary>
        private protected TTransformer Fit<TExamples>(IDataView input, MixedPrecisionOptions? mixedPrecision,
            Func<TrainingLog, FitSteps<TExamples, TTransformer>> createSteps)
            where TExamples : class, IExampleSet<TExamples>
        {
            if (input == null)
                throw new ArgumentNullException(nameof(input));
            var o = TrainerOptions;
            o.Validate(); // again: the options object may have changed since the trainer was made
            mixedPrecision?.Validate();
            using var log = new TrainingLog(Environment.Host, ComponentName);
            using var group = ProcessGroup.Open(o.DataParallel, System.Environment.GetEnvironmentVariables());
            if (!group.IsDistributed)
                return TrainAndExport(input, mixedPrecision, createSteps, log, group);
            log.Info($"Training data-parallel: this process is {group.Description} of the MPI job (DataParallel = {o.DataParallel}).");
            try
            {
                return TrainAndExport(input, mixedPrecision, createSteps, log, group);
            }
            catch (Exception e)
            {
                // The other ranks wait in a collective this one will never reach: end the job with this rank's error.
                group.Abort(e);
                throw; // not reached: Abort ends the process
            }
        }

        private TTransformer TrainAndExport<TExamples>(IDataView input, MixedPrecisionOptions? mixedPrecision,
            Func<TrainingLog, FitSteps<TExamples, TTransformer>> createSteps, TrainingLog log, ProcessGroup group)
            where TExamples : class, IExampleSet<TExamples>
        {
            var o = TrainerOptions;
            TorchRuntime.EnsureAvailable();

            var classNames = CheckColumns(input.Schema, out int classCount);
            int seed = group.Broadcast(o.Seed ?? log.NewSeed()); // data-parallel: rank 0's, so every rank splits and shuffles alike
            // Cancellation (the option's token or MLContext's own) is checked per row while reading, per batch while training
            // and validating, and between the phases here, so a fit ends within one step of it at any point.
            void ThrowIfCanceled() => log.ThrowIfCanceled(o.CancellationToken);
            ThrowIfCanceled();
            using var steps = createSteps(log);
            var (train, validation) = ReadAndSplit(steps, input, seed, classNames, log);

            ThrowIfCanceled();
            // The seed decides the fit, beside fits on other threads too: the network is built from the seed under a
            // process-wide lock, and training draws from the fit's own generator (FitGenerator).
            using var random = new FitGenerator(seed);
            using var model = random.CreateModel(() => steps.CreateModel(train, classCount));
            if (o.InitialWeightsPath != null)
                LoadInitialWeights(model, o.InitialWeightsPath, steps.ModelDescription);
            if (mixedPrecision?.Float32Layers.Count > 0)
                KeepLayersInFloat32(model, mixedPrecision.Float32Layers, steps.ModelDescription, log);
            var sync = new ReplicaSync(group);
            sync.BroadcastFromFirst(model); // data-parallel: every rank starts from rank 0's weights and buffers
            random.DrawForRank(group.Rank);
            ThrowIfCanceled();
            ExportOnnx(steps, model, classCount);
            ThrowIfCanceled();

            var device = TrainingDevice.Resolve(Environment.GpuDeviceId, Environment.FallbackToCpu, log);
            using var precision = mixedPrecision == null
                ? PrecisionResolver.Float32()
                : PrecisionResolver.Resolve(mixedPrecision, device.type, log);
            var fingerprint = o.CheckpointDirectory == null ? null : CheckpointFingerprint.Create(o, mixedPrecision, precision.Precision,
                device.ToString(), seed, train, validation, classNames.DenseValues().Select(n => n.ToString()), group.Size);
            using var checkpoints = CheckpointSession.Open(o, fingerprint, random.Generator, log, group, seed);
            TrainingSummary summary;
            using (NativeHeap.RetainFreedMemory())
            using (random.MakeCurrent())
                summary = steps.Train(new FitContext(o, precision, device, log, seed, classCount, o.Epochs ?? steps.DefaultEpochs, checkpoints, sync),
                    model, train, validation);

            ThrowIfCanceled(); // e.g. from the last epoch's metrics callback: no export, no model
            model.to(torch.CPU);
            DivergenceGuard.ThrowIfNotFinite(model, steps.ModelDescription);
            byte[] onnx = ExportOnnx(steps, model, classCount);
            ThrowIfCanceled();
            var transformer = steps.CreateTransformer(onnx, input, classNames, classCount, summary.WithSkippedRows(log.Skipped));
            ThrowIfCanceled(); // a cancel during export still means no model (the checkpoints stay for a rerun)
            log.Info($"Trained in {summary.Elapsed.TotalSeconds:F1} s ({summary.Precision}); exported the FP32 network to ONNX.");
            checkpoints?.FitSucceeded();
            return transformer;
        }

        private static void KeepLayersInFloat32(torch.nn.Module model, IList<string> names, string modelDescription, TrainingLog log)
        {
            var kept = Float32Layers.Apply(model, names, modelDescription);
            log.Info($"Kept in float32 under autocast ({kept.Count} layers with the layers inside them): {string.Join(", ", kept)}.");
        }

        /// <summary>Checks the feature and label columns of the training data and of the validation set; returns the class names.</summary>
        private VBuffer<ReadOnlyMemory<char>> CheckColumns(DataViewSchema schema, out int classCount)
        {
            var o = TrainerOptions;
            CheckFeatureColumns(schema, "training data");
            var classNames = CheckLabelColumn(schema, o.LabelColumnName, out classCount);
            if (o.ValidationSet != null)
            {
                CheckFeatureColumns(o.ValidationSet.Schema, "validation set");
                CheckValidationLabels(classNames, classCount);
            }
            return classNames;
        }

        /// <summary>
        /// Reads the training examples and the validation set, or holds out <see cref="ClassificationTrainerOptionsBase.ValidationSetFraction"/>
        /// (the trainer's default when null); refuses training data of a single class.
        /// </summary>
        private (TExamples Train, TExamples? Validation) ReadAndSplit<TExamples>(FitSteps<TExamples, TTransformer> steps, IDataView input, int seed,
            VBuffer<ReadOnlyMemory<char>> classNames, TrainingLog log)
            where TExamples : class, IExampleSet<TExamples>
        {
            var o = TrainerOptions;
            var all = steps.Read(input, "training data");
            TExamples train;
            TExamples? validation;
            double fraction = o.ValidationSetFraction ?? steps.DefaultValidationSetFraction;
            if (o.ValidationSet != null)
            {
                train = all;
                validation = steps.Read(o.ValidationSet, "validation set");
            }
            else
            {
                if (o.ValidationSetFraction is null && fraction == 0)
                    log.Info($"Validation: none ({steps.ModelDescription} trains on all {all.Count} rows and keeps its last epoch by default; " +
                             "set ValidationSetFraction or ValidationSet to hold rows out and get per-epoch validation metrics).");
                var split = ExampleOrder.HoldOut(all.Count, fraction, seed);
                (train, validation) = split is { } held ? (all.Subset(held.Train), all.Subset(held.Validation)) : (all, null);
            }
            var trainClasses = train.Labels.Distinct().ToArray();
            if (trainClasses.Length < 2)
                throw new ArgumentException($"The training data's label column '{o.LabelColumnName}' holds a single class " +
                    $"('{classNames.GetItemOrDefault((int)trainClasses[0])}') in the {train.Count} rows it trains on" +
                    (train.Count < all.Count ? $" (after holding out ValidationSetFraction {fraction})" : "") +
                    "; a classifier needs rows of at least two classes: check the filter or split that made the data.");
            return (train, validation);
        }

        private static byte[] ExportOnnx<TExamples>(FitSteps<TExamples, TTransformer> steps, torch.nn.Module<torch.Tensor, torch.Tensor> model, int classCount)
            where TExamples : class, IExampleSet<TExamples>
        {
            var graph = steps.ExportLogits(model, out string logits);
            ClassificationHead.Append(graph, logits, classCount);
            return graph.ToBytes();
        }

        /// <summary>Checks the label is a UInt32 key with at least two classes; returns the class names in key order.</summary>
        private protected static VBuffer<ReadOnlyMemory<char>> CheckLabelColumn(DataViewSchema schema, string name, out int classCount,
            string where = "training data")
        {
            const string option = nameof(ClassificationTrainerOptionsBase.LabelColumnName);
            var column = schema.GetColumnOrNull(name) ?? throw new ArgumentOutOfRangeException(option,
                $"Label column '{name}' not found in the {where}. Its columns: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => c.Name))}. " +
                $"Set {option} to the label's column.");
            if (!(column.Type is KeyDataViewType key))
                throw new ArgumentOutOfRangeException(option,
                    $"Label column '{name}' of the {where} must be a key type (use mlContext.Transforms.Conversion.MapValueToKey(\"{name}\")), but its type is {column.Type}.");
            if (key.RawType != typeof(uint))
                throw new ArgumentOutOfRangeException(option,
                    $"Label column '{name}' of the {where} is a key of {key.RawType.Name}; the trainer reads UInt32 keys, the kind " +
                    $"MapValueToKey makes: map the original label values with mlContext.Transforms.Conversion.MapValueToKey(\"{name}\").");
            if (key.Count < 2 || key.Count > int.MaxValue)
                throw new ArgumentOutOfRangeException(option,
                    $"Label column '{name}' of the {where} has {key.Count} class(es); a classifier needs at least two (rows of at least two different labels).");
            return ClassificationOutputChain.GetClassNames(column, out classCount);
        }

        /// <summary>
        /// Checks the validation set's label has the training label's classes in the same key order (the same fitted
        /// MapValueToKey): a validation set keyed on its own would score every epoch against the wrong classes.
        /// </summary>
        private protected void CheckValidationLabels(VBuffer<ReadOnlyMemory<char>> trainingClassNames, int trainingClassCount)
        {
            var o = TrainerOptions;
            const string fix = "map both with the same fitted MapValueToKey transformer (fit it once, transform both).";
            var names = CheckLabelColumn(o.ValidationSet!.Schema, o.LabelColumnName, out int validationClasses, "validation set");
            if (validationClasses != trainingClassCount)
                throw new ArgumentException(
                    $"The validation set's label column '{o.LabelColumnName}' has {validationClasses} classes but the training data has {trainingClassCount}: " + fix,
                    nameof(o.ValidationSet));
            var training = trainingClassNames.DenseValues().Select(n => n.ToString()).ToArray();
            var validation = names.DenseValues().Select(n => n.ToString()).ToArray();
            for (int k = 0; k < training.Length; k++)
            {
                if (training[k] != validation[k])
                    throw new ArgumentException(
                        $"The validation set's label column '{o.LabelColumnName}' orders its classes differently: key {k + 1} is '{validation[k]}' " +
                        $"there but '{training[k]}' in the training data; " + fix, nameof(o.ValidationSet));
            }
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
