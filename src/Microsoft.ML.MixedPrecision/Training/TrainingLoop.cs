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
    internal sealed class TrainingLoop
    {
        private readonly ClassificationTrainerOptionsBase _options;
        private readonly PrecisionPlugin _precision;
        private readonly Device _device;
        private readonly TrainingLog _log;
        private readonly int _classCount;

        public TrainingLoop(ClassificationTrainerOptionsBase options, PrecisionPlugin precision, Device device, TrainingLog log, int classCount)
        {
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
        public TrainingSummary Run<TBatch>(Module model, ITrainingData<TBatch> train, ITrainingData<TBatch> validation, int seed,
            TrainingPhase phase = null, CheckpointSession checkpoints = null, int phaseIndex = 0)
            where TBatch : HostBatch
        {
            phase ??= new TrainingPhase { Epochs = _options.Epochs ?? ClassificationTrainerOptionsBase.DefaultEpochs };
            if (checkpoints?.CompletedPhase(phaseIndex) is { } finished)
            {
                _log.Info($"Training {phase.Name}: finished before the checkpoint resumed from; not trained again.");
                return finished;
            }
            var total = Stopwatch.StartNew();
            model.to(_device);
            model.train();
            var groups = phase.ParameterGroups ?? new[] { new ParameterGroup(model.parameters()) };
            var parameters = groups.SelectMany(g => g.Parameters).ToArray();
            using var optimizer = CreateOptimizer(groups);
            using var classWeights = ClassWeights(train.Labels);

            int batchSize = _options.BatchSize;
            int examplesPerEpoch = ExampleOrder.ExamplesPerEpoch(train.Count, batchSize);
            int batchesPerEpoch = (examplesPerEpoch + batchSize - 1) / batchSize;
            int accumulation = _options.GradientAccumulationSteps;
            long stepsPerEpoch = (batchesPerEpoch + accumulation - 1) / accumulation;
            var schedule = new LearningRateScheduler(_options.LearningRateSchedule ?? phase.DefaultSchedule, _options.LearningRate,
                stepsPerEpoch * phase.Epochs, _options.WarmupFraction);

            _log.Info($"Training {phase.Name} on {_device} in {_precision.Precision}: {train.Count} examples, {validation?.Count ?? 0} for validation, " +
                      $"{phase.Epochs} epochs of {batchesPerEpoch} batches of {batchSize}" +
                      (classWeights is null ? "." : ", class-balanced loss weights."));

            using var counts = new ClassificationCounts(_classCount, _device);
            var divergence = new DivergenceGuard(_options, _precision.Precision.ToString());
            var progress = new TrainingProgress { Epoch = phase.FirstEpoch, LearningRate = schedule.At(0) };
            Dictionary<string, Tensor> bestWeights = null;
            int lastEpoch = phase.FirstEpoch + phase.Epochs - 1;

            try
            {
                using (var resume = checkpoints?.TakeResumePoint(phaseIndex))
                {
                    if (resume != null)
                    {
                        bestWeights = CheckpointSession.Restore(resume, model, optimizer, _precision, _device);
                        progress = resume.Progress;
                        divergence.NonFiniteInARow = progress.NonFiniteLossesInARow;
                    }
                }

                for (int epoch = progress.Epoch; epoch <= lastEpoch && !progress.StoppedEarly; epoch++)
                {
                    model.train();
                    counts.Reset();
                    int batchIndex = 0, micro = 0;
                    var epochClock = Stopwatch.StartNew();
                    int[] order;
                    if (progress.EpochOrder != null)
                    {
                        // Resumed mid-epoch: the interrupted epoch's order and running counts, from its next batch on.
                        order = progress.EpochOrder;
                        batchIndex = progress.Batch;
                        counts.LoadState(progress.EpochCounts);
                    }
                    else
                    {
                        order = ExampleOrder.EpochOrder(train, batchSize, seed, epoch);
                    }
                    optimizer.zero_grad();

                    int epochNumber = epoch;
                    using (var prefetcher = new BatchPrefetcher<TBatch>(train, order, batchSize,
                               batch => new Random(ExampleOrder.SeedFor(seed, epochNumber, batch)), phase.Augment, firstBatch: batchIndex))
                    {
                        foreach (var hostBatch in prefetcher.Batches())
                        {
                            ThrowIfCanceled();
                            using (NewDisposeScope())
                            {
                                var input = train.ToTensors(hostBatch, _device);
                                var target = tensor(hostBatch.Labels, device: _device);
                                Tensor logits, loss;
                                using (_precision.ForwardContext())
                                {
                                    logits = model.forward(input);
                                    loss = nn.functional.cross_entropy(logits, target, weight: classWeights);
                                }
                                if (batchIndex == 0)
                                    progress.ObservedActivation = phase.ActivationProbe?.Invoke();
                                divergence.Observe(loss, epoch, batchIndex + 1);
                                int groupSize = GradientAccumulation.GroupSize(batchIndex, prefetcher.BatchCount, accumulation);
                                _precision.Backward(groupSize > 1 ? loss / groupSize : loss);
                                counts.Add(loss, logits, target, hostBatch.Labels);
                            }
                            batchIndex++;
                            micro++;

                            if (micro == accumulation || batchIndex == prefetcher.BatchCount)
                            {
                                progress.LearningRate = schedule.At(progress.OptimizerSteps);
                                SetLearningRate(optimizer, groups, progress.LearningRate);
                                bool stepped;
                                // Its own scope: the clipping norm and the scaler's found-inf flags are freed here instead of
                                // being left to the finalizer.
                                using (NewDisposeScope())
                                {
                                    if (_options.GradientClipNorm.HasValue)
                                    {
                                        _precision.UnscaleGradients(optimizer);
                                        nn.utils.clip_grad_norm_(parameters, _options.GradientClipNorm.Value);
                                    }
                                    stepped = _precision.OptimizerStep(optimizer);
                                    _precision.Update();
                                    optimizer.zero_grad();
                                }
                                if (stepped)
                                    progress.OptimizerSteps++;
                                micro = 0;

                                if (stepped && checkpoints?.EveryOptimizerSteps is int every && progress.OptimizerSteps % every == 0 &&
                                    batchIndex < prefetcher.BatchCount)
                                {
                                    progress.Epoch = epoch;
                                    progress.Batch = batchIndex;
                                    progress.EpochOrder = order;
                                    progress.EpochCounts = counts.GetState();
                                    progress.NonFiniteLossesInARow = divergence.NonFiniteInARow;
                                    checkpoints.Save(phaseIndex, progress, model, optimizer, _precision, bestWeights);
                                }
                            }

                            NativeHeap.TrimIfGrown();

                            if (_options.MetricsCallback != null && batchIndex % _options.MetricsEveryBatches == 0 && batchIndex < prefetcher.BatchCount)
                                _options.MetricsCallback(Report(epoch, batchIndex, batchesPerEpoch, progress.OptimizerSteps, counts,
                                    progress.LearningRate, epochClock, total, null, isEpochEnd: false));
                        }
                    }

                    double samplesPerSecond = counts.Seen / Math.Max(1e-9, epochClock.Elapsed.TotalSeconds);
                    progress.SamplesPerSecondSum += samplesPerSecond;
                    EvaluationResult? validationResult = validation != null && validation.Count > 0
                        ? Evaluate(model, validation)
                        : null;
                    var metrics = Report(epoch, batchIndex, batchesPerEpoch, progress.OptimizerSteps, counts, progress.LearningRate, epochClock, total,
                        validationResult, isEpochEnd: true, samplesPerSecond);
                    progress.Epochs.Add(metrics);
                    _log.Info(metrics.ToString());
                    _options.MetricsCallback?.Invoke(metrics);

                    if (_precision.LossScale < 1.0)
                        _log.Warning($"The loss scale fell to {_precision.LossScale:G3}: nearly every step overflows, so the model is probably diverging " +
                                     "(try a lower learning rate, or BFloat16).");

                    if (validationResult.HasValue)
                        TrackBest(progress, validationResult.Value, epoch, model, ref bestWeights);

                    progress.Epoch = epoch + 1;
                    progress.Batch = 0;
                    progress.EpochOrder = null;
                    progress.EpochCounts = null;
                    progress.NonFiniteLossesInARow = divergence.NonFiniteInARow;
                    checkpoints?.Save(phaseIndex, progress, model, optimizer, _precision, bestWeights);
                }

                if (bestWeights != null && progress.BestEpoch != progress.Epochs[^1].Epoch)
                {
                    _log.Info($"Restoring the weights of epoch {progress.BestEpoch} (best validation accuracy {progress.BestAccuracy:P2}).");
                    using (no_grad())
                        model.load_state_dict(bestWeights);
                }
            }
            finally
            {
                DisposeAll(bestWeights);
            }

            model.eval();
            var epochs = progress.Epochs;
            var summary = new TrainingSummary
            {
                Precision = _precision.Precision,
                Device = _device.ToString(),
                EpochsRun = epochs.Count,
                StoppedEarly = progress.StoppedEarly,
                BestEpoch = progress.BestEpoch,
                BestValidationAccuracy = progress.BestEpoch.HasValue ? progress.BestAccuracy : null,
                BestValidationMacroAccuracy = progress.BestMacroAccuracy,
                OptimizerSteps = progress.OptimizerSteps,
                SkippedSteps = _precision.SkippedSteps,
                FinalLossScale = _precision.LossScale,
                MeanSamplesPerSecond = epochs.Count == 0 ? 0 : progress.SamplesPerSecondSum / epochs.Count,
                Elapsed = total.Elapsed,
                ObservedActivationType = progress.ObservedActivation,
                Epochs = epochs,
            };
            checkpoints?.PhaseFinished(summary);
            return summary;
        }

        /// <summary>Early stopping and best weights: records an epoch's validation result, stopping after the patience.</summary>
        private void TrackBest(TrainingProgress progress, EvaluationResult validation, int epoch, Module model, ref Dictionary<string, Tensor> bestWeights)
        {
            double accuracy = validation.Accuracy;
            if (accuracy > progress.BestAccuracy + _options.EarlyStoppingMinDelta || progress.BestEpoch is null)
            {
                progress.BestAccuracy = Math.Max(progress.BestAccuracy, accuracy);
                progress.BestMacroAccuracy = validation.MacroAccuracy;
                progress.BestEpoch = epoch;
                progress.EpochsWithoutImprovement = 0;
                if (_options.RestoreBestWeights)
                {
                    DisposeAll(bestWeights);
                    bestWeights = Snapshot(model);
                }
            }
            else
            {
                progress.EpochsWithoutImprovement++;
                if (_options.EarlyStoppingPatience.HasValue && progress.EpochsWithoutImprovement >= _options.EarlyStoppingPatience.Value)
                {
                    _log.Info($"Early stopping after epoch {epoch}: no validation-accuracy gain of {_options.EarlyStoppingMinDelta} " +
                              $"for {progress.EpochsWithoutImprovement} epochs (best {progress.BestAccuracy:P2} at epoch {progress.BestEpoch}).");
                    progress.StoppedEarly = true;
                }
            }
        }

        /// <summary>Mean cross-entropy, accuracy and macro accuracy of <paramref name="model"/> on <paramref name="data"/>, in the training precision.</summary>
        public EvaluationResult Evaluate<TBatch>(Module model, ITrainingData<TBatch> data) where TBatch : HostBatch
        {
            bool wasTraining = model.training;
            model.eval();
            try
            {
                using var counts = new ClassificationCounts(_classCount, _device);
                using var _ = no_grad();
                int[] order = Enumerable.Range(0, data.Count).ToArray();
                using var prefetcher = new BatchPrefetcher<TBatch>(data, order, _options.BatchSize, batchRandom: null, augment: false);
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
                return new EvaluationResult(counts.Loss, counts.Accuracy, counts.MacroAccuracy);
            }
            finally
            {
                if (wasTraining)
                    model.train();
            }
        }

        /// <summary>Loss weights N / (classes × n_c) when <see cref="ClassWeighting.Balanced"/> is asked for, else null.</summary>
        private Tensor ClassWeights(long[] labels)
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

        private static void DisposeAll(Dictionary<string, Tensor> weights)
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
