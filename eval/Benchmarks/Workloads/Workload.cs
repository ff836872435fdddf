using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Training;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Workloads
{
    /// <summary>
    /// One benchmarked trainer (image or text): its real data, the network the trainer builds, the trainer's own
    /// optimizer settings, and the ML.NET pipeline a user writes.
    /// </summary>
    internal abstract class Workload : IDisposable
    {
        private readonly List<(Tensor Input, Tensor Target)> _batches = new List<(Tensor, Tensor)>();
        private Func<Module, bool, Func<int, long>> _stepMemory;

        /// <summary>Every workload's name, in the order a full run measures them.</summary>
        public static readonly string[] Names = { "image", "text", "pretrained", "minilm" };

        /// <summary>A new workload by name (no data loaded yet).</summary>
        public static Workload Create(string name) => name switch
        {
            "image" => new ImageWorkload(),
            "text" => new TextWorkload(),
            "pretrained" => new PretrainedWorkload(),
            "minilm" => new MiniLmWorkload(),
            _ => throw new ArgumentException($"Unknown workload '{name}' ({string.Join(", ", Names)}).", nameof(name)),
        };

        /// <summary>"image", "text", "pretrained" or "minilm", the key in the JSON summary.</summary>
        public abstract string Name { get; }
        public abstract int BatchSize { get; }
        public abstract double LearningRate { get; }
        public abstract double WeightDecay { get; }
        public abstract double ClipNorm { get; }

        /// <summary>Prebuilt batches (same data, order and tensors for FP32 and AMP) for the bare loop.</summary>
        public IReadOnlyList<(Tensor Input, Tensor Target)> Batches => _batches;

        /// <summary>Reads the examples the bare loop trains on and prebuilds up to <paramref name="maxBatches"/> batches.</summary>
        public abstract void LoadBareData(BenchSettings settings, int maxBatches);

        /// <summary>How many batches the bare loop prebuilds for the timed segments.</summary>
        public abstract int BareBatches(BenchSettings settings);

        /// <summary>Repetitions, each timing a bare-loop segment and an estimator fit in both precisions.</summary>
        public virtual int Repetitions(BenchSettings settings) => settings.Repetitions;

        /// <summary>Memory measurements (a child process each) per precision.</summary>
        public virtual int MemoryRepetitions(BenchSettings settings) => settings.MemoryRepetitions;

        /// <summary>Batches at the start of each estimator fit that the timing leaves out.</summary>
        public virtual int EstimatorWarmupBatches(BenchSettings settings) => settings.EstimatorWarmupBatches;

        /// <summary>Steps of one timed bare-loop segment.</summary>
        public abstract int StepsPerSegment(BenchSettings settings);

        /// <summary>The network the trainer builds for this data, initialized from <paramref name="seed"/>.</summary>
        public abstract Module CreateModel(int seed);

        /// <summary>
        /// The optimizer's parameter groups the trainer uses for this network, or null (default): one group, every
        /// parameter at <see cref="LearningRate"/> with <see cref="WeightDecay"/>.
        /// </summary>
        public virtual IReadOnlyList<ParameterGroup> ParameterGroups(Module model) => null;

        /// <summary>The bare loop over <see cref="Batches"/> with this workload's optimizer settings.</summary>
        public Measurement.BareLoop CreateBareLoop(Module model, bool amp)
            => new Measurement.BareLoop(model, amp, Batches, LearningRate, WeightDecay, ClipNorm, ParameterGroups(model));

        /// <summary>Training FLOPs (3 × forward) per example, averaged over the prebuilt batches.</summary>
        public abstract double TrainingFlopsPerExample(Module model);

        /// <summary>The network's GEMM/conv layers at their real shapes, for the per-layer FP32 vs bf16 timing.</summary>
        public abstract IEnumerable<Measurement.LayerCase> LayerCases(Module model);

        /// <summary>Trains one epoch through the ML.NET estimator and saves the model to <paramref name="modelPath"/>.</summary>
        public abstract EstimatorRun TrainWithEstimator(bool amp, BenchSettings settings, string modelPath);

        /// <summary>Scoring throughput of a saved model: Transform over many rows, then a PredictionEngine row by row.</summary>
        public abstract ScoringRun Score(string modelPath, BenchSettings settings);

        /// <summary>
        /// Full batches of <paramref name="data"/> in the first epoch's order of a trainer seeded with <paramref name="seed"/>,
        /// built as the trainer builds them (no augmentation), up to <paramref name="maxBatches"/>.
        /// </summary>
        protected void PrebuildBatches<TBatch>(ITrainingData<TBatch> data, int seed, int maxBatches) where TBatch : HostBatch
        {
            _stepMemory = (model, amp) => StepMemory(data, model, amp);
            // The training loop's first epoch (its shuffle and the data's length bucketing), so a bare segment trains on the
            // batches the estimator trains on. (Until 2026-12-03 a shuffle of its own: MiniLM's bucketed batches then
            // differed in which lengths the warm-up left out, and the bare loop timed other lengths than the estimator.)
            var order = ExampleOrder.EpochOrder(data, BatchSize, seed, epoch: 1);
            for (int start = 0; start + BatchSize <= order.Length && _batches.Count < maxBatches; start += BatchSize)
            {
                using var scope = NewDisposeScope();
                var host = data.CreateBatch(new ReadOnlySpan<int>(order, start, BatchSize), new Random(0), augment: false);
                _batches.Add((data.ToTensors(host, CPU).DetachFromDisposeScope(), tensor(host.Labels).DetachFromDisposeScope()));
            }
        }

        /// <summary>
        /// The process's peak resident memory over one training step of <paramref name="model"/> at a batch size, on the
        /// loaded data's largest examples, FP32 or bf16 autocast (the trainer's probe; after <see cref="LoadBareData"/>).
        /// </summary>
        public Func<int, long> StepMemory(Module model, bool amp) => _stepMemory(model, amp);

        private Func<int, long> StepMemory<TBatch>(ITrainingData<TBatch> data, Module model, bool amp) where TBatch : HostBatch
        {
            var precision = amp
                ? (Training.Precision.PrecisionPlugin)new Training.Precision.AutocastPrecision(DeviceType.CPU, TrainingPrecision.BFloat16, lossScaling: false, Bf16)
                : Training.Precision.PrecisionResolver.Float32();
            var groups = ParameterGroups(model) ?? new[] { new ParameterGroup(model.parameters()) };
            model.train();
            return new TrainingStepMemory<TBatch>(model, data, precision, CPU, groups, OptimizerKind.AdamW).PeakBytes;
        }

        /// <summary>
        /// Drops the first <paramref name="count"/> prebuilt batches: those the estimator's clock leaves out as warm-up, so
        /// that a bare segment of <see cref="Batches"/>.Count steps times exactly the batches the estimator times (which
        /// matters when batches differ in length, as bucketed text batches do).
        /// </summary>
        protected void DropFirstBatches(int count)
        {
            int n = Math.Min(count, Math.Max(0, _batches.Count - 1));
            foreach (var (input, target) in _batches.Take(n))
            {
                input.Dispose();
                target.Dispose();
            }
            _batches.RemoveRange(0, n);
        }

        /// <summary>Fits <paramref name="pipeline"/> (one epoch timed by <paramref name="clock"/>) and saves the model.</summary>
        protected EstimatorRun FitAndSave(MLContext mlContext, IEstimator<ITransformer> pipeline, IDataView train, int examples,
            SteadyStateClock clock, string modelPath)
        {
            var fit = Stopwatch.StartNew();
            var model = pipeline.Fit(train);
            double fitSeconds = fit.Elapsed.TotalSeconds;
            var summary = ((IEnumerable<ITransformer>)model).OfType<ClassifierTransformer>().Single().Summary;
            mlContext.Model.Save(model, train.Schema, modelPath);
            return new EstimatorRun
            {
                SamplesPerSecond = clock.SamplesPerSecond(ExampleOrder.ExamplesPerEpoch(examples, BatchSize), BatchSize),
                FitSeconds = fitSeconds,
                TrainingLoss = clock.TrainingLoss,
                Precision = summary.Precision.ToString(),
            };
        }

        /// <summary>
        /// What the bench's AMP fits ask for: bf16 autocast, which is what Auto picks on a CPU with native bf16; pinned so
        /// that <c>--force-amp</c> on a CPU without it times bf16 too instead of Auto's float32.
        /// </summary>
        private static readonly MixedPrecisionOptions Bf16 = new MixedPrecisionOptions { Precision = TrainingPrecision.BFloat16 };

        /// <summary>
        /// The Model Builder image pipeline (LoadRawImageBytes → MapValueToKey → our trainer [.WithMixedPrecision()] →
        /// MapKeyToValue) over an ImagePath column, fitted and saved as <see cref="FitAndSave"/> does.
        /// </summary>
        protected EstimatorRun FitAndSaveImagePipeline(MLContext mlContext, ImageClassificationTrainer.Options options, bool amp,
            IDataView train, int examples, SteadyStateClock clock, string modelPath)
        {
            var trainer = mlContext.MulticlassClassification.Trainers.ImageClassification(options);
            IEstimator<ITransformer> classifier = amp ? trainer.WithMixedPrecision(Bf16) : trainer;
            var pipeline = mlContext.Transforms.LoadRawImageBytes("ImageSource", imageFolder: null, inputColumnName: "ImagePath")
                .Append(mlContext.Transforms.Conversion.MapValueToKey("Label"))
                .Append(classifier)
                .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
            return FitAndSave(mlContext, pipeline, train, examples, clock, modelPath);
        }

        /// <summary>
        /// The text pipeline (MapValueToKey → our TextClassification [.WithMixedPrecision()] → MapKeyToValue) over a Text
        /// column, fitted and saved as <see cref="FitAndSave"/> does.
        /// </summary>
        protected EstimatorRun FitAndSaveTextPipeline(MLContext mlContext, TextClassificationTrainer.Options options, bool amp,
            IDataView train, int examples, SteadyStateClock clock, string modelPath)
        {
            var trainer = mlContext.MulticlassClassification.Trainers.TextClassification(options);
            IEstimator<ITransformer> classifier = amp ? trainer.WithMixedPrecision(Bf16) : trainer;
            var pipeline = mlContext.Transforms.Conversion.MapValueToKey("Label")
                .Append(classifier)
                .Append(mlContext.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
            return FitAndSave(mlContext, pipeline, train, examples, clock, modelPath);
        }

        public void Dispose()
        {
            foreach (var (input, target) in _batches)
            {
                input.Dispose();
                target.Dispose();
            }
            _batches.Clear();
        }
    }

    /// <summary>One fit through the estimator: steady-state samples/s (warm-up batches excluded) and the fit's wall clock.</summary>
    internal sealed class EstimatorRun
    {
        public double SamplesPerSecond { get; init; }
        public double FitSeconds { get; init; }
        public double TrainingLoss { get; init; }
        public string Precision { get; init; }
    }

    internal sealed class ScoringRun
    {
        public double TransformRowsPerSecond { get; init; }
        public double PredictionEngineRowsPerSecond { get; init; }
    }
}
