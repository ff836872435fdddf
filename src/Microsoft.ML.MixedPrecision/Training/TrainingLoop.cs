using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Native;
using Microsoft.ML.MixedPrecision.Training.Checkpoints;
using Microsoft.ML.MixedPrecision.Training.Precision;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// The one training loop of every trainer (image and text): batches prefetched on a worker, a DisposeScope per step,
    /// forward + loss in the precision plugin's region, scaled backward, unscale → clip → step → update, the learning
    /// rate advanced only after a real optimizer step, validation and early stopping per epoch, float32 master weights.
    /// </summary>
    internal sealed partial class TrainingLoop
    {
        private readonly ClassificationTrainerOptionsBase _options;
        private readonly PrecisionPlugin _precision;
        private readonly Device _device;
        private readonly TrainingLog _log;
        private readonly int _classCount;
        private readonly ReplicaSync _sync;

        public TrainingLoop(ClassificationTrainerOptionsBase options, PrecisionPlugin precision, Device device, TrainingLog log, int classCount,
            ReplicaSync? sync = null)
        {
            _sync = sync ?? new ReplicaSync(Distributed.ProcessGroup.Alone);
            _options = options;
            _precision = precision;
            _device = device;
            _log = log;
            _classCount = classCount;
        }

        /// <summary>
        /// Trains one phase of a fit. With <paramref name="checkpoints"/>, writes checkpoints as it goes and, when the fit
        /// resumes, continues phase <paramref name="phaseIndex"/> from its checkpoint (or returns the summary of a phase
        /// the checkpoint was written after).
        /// </summary>
        public TrainingSummary Run<TBatch>(Module model, ITrainingData<TBatch> train, ITrainingData<TBatch>? validation, int seed,
            TrainingPhase phase, CheckpointSession? checkpoints = null, int phaseIndex = 0)
            where TBatch : HostBatch
        {
            if (checkpoints?.CompletedPhase(phaseIndex) is { } finished)
            {
                _log.Info($"Training {phase.Name}: finished before the checkpoint resumed from; not trained again.");
                return finished;
            }
            TrainingSummary summary;
            var plan = PlanBatches(model, train, validation, phase, checkpoints?.ResumeProgress(phaseIndex));
            _sync.ResetStatistics();
            using (var run = new PhaseRun<TBatch>(this, model, train, validation, seed, phase, checkpoints, phaseIndex, plan))
            {
                run.Resume();
                for (int epoch = run.Progress.Epoch; epoch <= run.LastEpoch && !run.Progress.StoppedEarly; epoch++)
                {
                    try
                    {
                        run.TrainEpoch(epoch);
                    }
                    catch (Exception e) when (AllocationFailure.Is(e, out long bytes))
                    {
                        throw StepOutOfMemory(e, bytes, plan);
                    }
                }
                run.RestoreBestWeights();
                model.eval();
                summary = run.Summary();
                if (_sync.Group.IsDistributed)
                    _log.Info($"Trained {phase.Name} data-parallel ({_sync.Group.Description}); {_sync.Describe(summary.Elapsed)}.");
            }
            checkpoints?.PhaseFinished(summary);
            return summary;
        }

        /// <summary>
        /// Mean cross-entropy, accuracy and macro accuracy of <paramref name="model"/> on <paramref name="data"/>, in the
        /// training precision. Data-parallel, each rank evaluates its consecutive share of the rows and the counts are summed,
        /// so every rank gets the same result.
        /// </summary>
        public EvaluationResult Evaluate<TBatch>(Module model, ITrainingData<TBatch> data, int batchSize) where TBatch : HostBatch
        {
            bool wasTraining = model.training;
            model.eval();
            try
            {
                using var counts = new ClassificationCounts(_classCount, _device);
                using var _ = no_grad();
                var group = _sync.Group;
                int first = (int)((long)data.Count * group.Rank / group.Size), end = (int)((long)data.Count * (group.Rank + 1) / group.Size);
                int[] order = Enumerable.Range(first, end - first).ToArray();
                using var prefetcher = new BatchPrefetcher<TBatch>(data, order, batchSize, batchRandom: null, augment: false);
                foreach (var hostBatch in prefetcher.Batches())
                {
                    ThrowIfCanceled();
                    using (NewDisposeScope())
                    {
                        var input = data.ToTensors(hostBatch, _device);
                        var target = tensor(hostBatch.Labels, device: _device);
                        using (_precision.ForwardContext())
                        {
                            var logits = model.forward(input);
                            counts.Add(nn.functional.cross_entropy(logits, target), logits, target, hostBatch.Labels);
                        }
                    }
                }
                _sync.SumInPlace(counts);
                return new EvaluationResult(counts.Loss, counts.Accuracy, counts.MacroAccuracy);
            }
            finally
            {
                if (wasTraining)
                    model.train();
            }
        }

        /// <summary>Loss weights N / (classes × n_c) when <see cref="ClassWeighting.Balanced"/> is asked for, else null.</summary>
        private Tensor? ClassWeights(long[] labels)
        {
            if (_options.ClassWeighting != ClassWeighting.Balanced)
                return null;
            var counts = new long[_classCount];
            foreach (long label in labels)
                counts[label]++;
            var weights = counts.Select(n => n == 0 ? 0f : (float)((double)labels.Length / (_classCount * n))).ToArray();
            return tensor(weights, device: _device).DetachFromDisposeScope();
        }

        private TrainingMetrics Report(int epoch, int batchIndex, int batchesPerEpoch, long steps, ClassificationCounts counts,
            double lr, Stopwatch epochClock, Stopwatch total, EvaluationResult? validation, bool isEpochEnd,
            double? samplesPerSecond = null)
        {
            return new TrainingMetrics
            {
                Epoch = epoch,
                BatchesProcessed = batchIndex,
                BatchesPerEpoch = batchesPerEpoch,
                OptimizerSteps = steps,
                TrainingLoss = counts.Loss,
                TrainingAccuracy = counts.Accuracy,
                TrainingMacroAccuracy = counts.MacroAccuracy,
                ValidationLoss = validation?.Loss,
                ValidationAccuracy = validation?.Accuracy,
                ValidationMacroAccuracy = validation?.MacroAccuracy,
                LearningRate = lr,
                LossScale = _precision.LossScale,
                SkippedSteps = _precision.SkippedSteps,
                SamplesPerSecond = samplesPerSecond ?? counts.Seen / Math.Max(1e-9, epochClock.Elapsed.TotalSeconds),
                Precision = _precision.Precision,
                IsEpochEnd = isEpochEnd,
                Elapsed = total.Elapsed,
            };
        }

        private optim.Optimizer CreateOptimizer(IReadOnlyList<ParameterGroup> groups)
        {
            double lr = _options.LearningRate, decay = _options.WeightDecay;
            return _options.Optimizer switch
            {
                OptimizerKind.AdamW => FusedAdamW.Create(groups, lr, decay),
                OptimizerKind.SgdMomentum => optim.SGD(groups.Select(g =>
                    new TorchSharp.Modules.SGD.ParamGroup(g.Parameters, lr: lr * g.LearningRateScale, momentum: _options.Momentum,
                        weight_decay: g.WeightDecay ? decay : 0, nesterov: _options.Momentum > 0)),
                    lr, momentum: _options.Momentum, weight_decay: decay, nesterov: _options.Momentum > 0),
                _ => throw new ArgumentOutOfRangeException(nameof(_options.Optimizer), _options.Optimizer, "Unknown optimizer."),
            };
        }

        private static void SetLearningRate(optim.Optimizer optimizer, IReadOnlyList<ParameterGroup> groups, double lr)
        {
            int i = 0;
            foreach (var group in optimizer.ParamGroups)
                group.LearningRate = lr * groups[i++].LearningRateScale;
        }

        private void ThrowIfCanceled() => _log.ThrowIfCanceled(_options.CancellationToken);

        private static Dictionary<string, Tensor> Snapshot(Module model)
        {
            using var _ = no_grad();
            return model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
        }

        private static void DisposeAll(Dictionary<string, Tensor>? weights)
        {
            if (weights == null)
                return;
            foreach (var t in weights.Values)
                t.Dispose();
            weights.Clear();
        }
    }

    /// <summary>Loss and accuracies of one pass over a data set.</summary>
    internal readonly record struct EvaluationResult(double Loss, double Accuracy, double MacroAccuracy);
}
