using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.MixedPrecision.Precision;
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

        public TrainingSummary Run<TBatch>(Module model, ITrainingData<TBatch> train, ITrainingData<TBatch> validation, int seed,
            TrainingPhase phase = null)
            where TBatch : HostBatch
        {
            phase ??= new TrainingPhase { Epochs = _options.Epochs ?? ClassificationTrainerOptionsBase.DefaultEpochs };
            var total = Stopwatch.StartNew();
            var random = new Random(seed);
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

            var epochs = new List<TrainingMetrics>();
            long optimizerSteps = 0;
            double lr = schedule.At(0);
            double bestAccuracy = double.NegativeInfinity;
            double? bestMacroAccuracy = null;
            int? bestEpoch = null;
            int epochsWithoutImprovement = 0;
            bool stoppedEarly = false;
            Dictionary<string, Tensor> bestWeights = null;
            double samplesPerSecondSum = 0;
            string observedActivation = null;
            using var counts = new ClassificationCounts(_classCount, _device);
            var divergence = new DivergenceGuard(_options, _precision.Precision.ToString());

            try
            {
                for (int epoch = phase.FirstEpoch; epoch < phase.FirstEpoch + phase.Epochs; epoch++)
                {
                    model.train();
                    counts.Reset();
                    int batchIndex = 0, micro = 0;
                    var epochClock = Stopwatch.StartNew();
                    int[] order = ExampleOrder.Shuffled(train.Count, random);
                    if (examplesPerEpoch < order.Length)
                        Array.Resize(ref order, examplesPerEpoch);
                    order = train.ArrangeBatches(order, batchSize, random);
                    optimizer.zero_grad();

                    using (var prefetcher = new BatchPrefetcher<TBatch>(train, order, batchSize, new Random(random.Next()), phase.Augment))
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
                                    observedActivation = phase.ActivationProbe?.Invoke();
                                divergence.Observe(loss, epoch, batchIndex + 1);
                                int groupSize = GradientAccumulation.GroupSize(batchIndex, prefetcher.BatchCount, accumulation);
                                _precision.Backward(groupSize > 1 ? loss / groupSize : loss);
                                counts.Add(loss, logits, target, hostBatch.Labels);
                            }
                            batchIndex++;
                            micro++;

                            if (micro == accumulation || batchIndex == prefetcher.BatchCount)
                            {
                                lr = schedule.At(optimizerSteps);
                                SetLearningRate(optimizer, groups, lr);
                                if (_options.GradientClipNorm.HasValue)
                                {
                                    _precision.UnscaleGradients(optimizer);
                                    nn.utils.clip_grad_norm_(parameters, _options.GradientClipNorm.Value);
                                }
                                if (_precision.OptimizerStep(optimizer))
                                    optimizerSteps++;
                                _precision.Update();
                                optimizer.zero_grad();
                                micro = 0;
                            }

                            if (_options.MetricsCallback != null && batchIndex % _options.MetricsEveryBatches == 0 && batchIndex < prefetcher.BatchCount)
                                _options.MetricsCallback(Report(epoch, batchIndex, batchesPerEpoch, optimizerSteps, counts,
                                    lr, epochClock, total, null, isEpochEnd: false));
                        }
                    }

                    double samplesPerSecond = counts.Seen / Math.Max(1e-9, epochClock.Elapsed.TotalSeconds);
                    samplesPerSecondSum += samplesPerSecond;
                    EvaluationResult? validationResult = validation != null && validation.Count > 0
                        ? Evaluate(model, validation)
                        : null;
                    var metrics = Report(epoch, batchIndex, batchesPerEpoch, optimizerSteps, counts, lr, epochClock, total,
                        validationResult, isEpochEnd: true, samplesPerSecond);
                    epochs.Add(metrics);
                    _log.Info(metrics.ToString());
                    _options.MetricsCallback?.Invoke(metrics);

                    if (_precision.LossScale < 1.0)
                        _log.Warning($"The loss scale fell to {_precision.LossScale:G3}: nearly every step overflows, so the model is probably diverging " +
                                     "(try a lower learning rate, or BFloat16).");

                    if (validationResult.HasValue)
                    {
                        double accuracy = validationResult.Value.Accuracy;
                        if (accuracy > bestAccuracy + _options.EarlyStoppingMinDelta || bestEpoch is null)
                        {
                            bestAccuracy = Math.Max(bestAccuracy, accuracy);
                            bestMacroAccuracy = validationResult.Value.MacroAccuracy;
                            bestEpoch = epoch;
                            epochsWithoutImprovement = 0;
                            if (_options.RestoreBestWeights)
                            {
                                DisposeAll(bestWeights);
                                bestWeights = Snapshot(model);
                            }
                        }
                        else
                        {
                            epochsWithoutImprovement++;
                            if (_options.EarlyStoppingPatience.HasValue && epochsWithoutImprovement >= _options.EarlyStoppingPatience.Value)
                            {
                                _log.Info($"Early stopping after epoch {epoch}: no validation-accuracy gain of {_options.EarlyStoppingMinDelta} " +
                                          $"for {epochsWithoutImprovement} epochs (best {bestAccuracy:P2} at epoch {bestEpoch}).");
                                stoppedEarly = true;
                                break;
                            }
                        }
                    }
                }

                if (bestWeights != null && bestEpoch != epochs[^1].Epoch)
                {
                    _log.Info($"Restoring the weights of epoch {bestEpoch} (best validation accuracy {bestAccuracy:P2}).");
                    using (no_grad())
                        model.load_state_dict(bestWeights);
                }
            }
            finally
            {
                DisposeAll(bestWeights);
            }

            model.eval();
            return new TrainingSummary
            {
                Precision = _precision.Precision,
                Device = _device.ToString(),
                EpochsRun = epochs.Count,
                StoppedEarly = stoppedEarly,
                BestEpoch = bestEpoch,
                BestValidationAccuracy = bestEpoch.HasValue ? bestAccuracy : null,
                BestValidationMacroAccuracy = bestMacroAccuracy,
                OptimizerSteps = optimizerSteps,
                SkippedSteps = _precision.SkippedSteps,
                FinalLossScale = _precision.LossScale,
                MeanSamplesPerSecond = epochs.Count == 0 ? 0 : samplesPerSecondSum / epochs.Count,
                Elapsed = total.Elapsed,
                ObservedActivationType = observedActivation,
                Epochs = epochs,
            };
        }

        /// <summary>Mean cross-entropy, accuracy and macro accuracy of <paramref name="model"/> on <paramref name="data"/>, in the training precision.</summary>
        public EvaluationResult Evaluate<TBatch>(Module model, ITrainingData<TBatch> data) where TBatch : HostBatch
        {
            bool wasTraining = model.training;
            model.eval();
            try
            {
                using var counts = new ClassificationCounts(_classCount, _device);
            var divergence = new DivergenceGuard(_options, _precision.Precision.ToString());
                using var _ = no_grad();
                int[] order = Enumerable.Range(0, data.Count).ToArray();
                using var prefetcher = new BatchPrefetcher<TBatch>(data, order, _options.BatchSize, new Random(0), augment: false);
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
                OptimizerKind.AdamW => optim.AdamW(groups.Select(g =>
                    new TorchSharp.Modules.AdamW.ParamGroup(g.Parameters, lr: lr * g.LearningRateScale, weight_decay: g.WeightDecay ? decay : 0)), lr, weight_decay: decay),
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
