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

        public TrainingLoop(ClassificationTrainerOptionsBase options, PrecisionPlugin precision, Device device, TrainingLog log)
        {
            _options = options;
            _precision = precision;
            _device = device;
            _log = log;
        }

        public TrainingSummary Run(Module model, ITrainingData train, ITrainingData validation, int seed, Func<string> activationProbe = null)
        {
            var total = Stopwatch.StartNew();
            var random = new Random(seed);
            model.to(_device);
            model.train();
            var parameters = model.parameters().ToArray();
            using var optimizer = CreateOptimizer(parameters);

            int batchSize = _options.BatchSize;
            int examplesPerEpoch = ExampleOrder.ExamplesPerEpoch(train.Count, batchSize);
            int batchesPerEpoch = (examplesPerEpoch + batchSize - 1) / batchSize;
            int accumulation = _options.GradientAccumulationSteps;
            long stepsPerEpoch = (batchesPerEpoch + accumulation - 1) / accumulation;
            var schedule = new LearningRateScheduler(_options.LearningRateSchedule, _options.LearningRate,
                stepsPerEpoch * _options.Epochs, _options.WarmupFraction);

            _log.Info($"Training on {_device} in {_precision.Precision}: {train.Count} examples, {validation?.Count ?? 0} for validation, " +
                      $"{_options.Epochs} epochs of {batchesPerEpoch} batches of {batchSize}.");

            var epochs = new List<TrainingMetrics>();
            long optimizerSteps = 0;
            double lr = schedule.At(0);
            double bestAccuracy = double.NegativeInfinity;
            int? bestEpoch = null;
            int epochsWithoutImprovement = 0;
            bool stoppedEarly = false;
            Dictionary<string, Tensor> bestWeights = null;
            double samplesPerSecondSum = 0;
            string observedActivation = null;

            // Running sums stay on the device: reading them is a host sync, done only when reporting.
            using var lossSum = zeros(1, ScalarType.Float64, device: _device).DetachFromDisposeScope();
            using var correctSum = zeros(1, ScalarType.Int64, device: _device).DetachFromDisposeScope();

            try
            {
                for (int epoch = 1; epoch <= _options.Epochs; epoch++)
                {
                    model.train();
                    lossSum.zero_();
                    correctSum.zero_();
                    int seen = 0, batchIndex = 0, micro = 0;
                    var epochClock = Stopwatch.StartNew();
                    int[] order = ExampleOrder.Shuffled(train.Count, random);
                    if (examplesPerEpoch < order.Length)
                        Array.Resize(ref order, examplesPerEpoch);
                    optimizer.zero_grad();

                    using (var prefetcher = new BatchPrefetcher(train, order, batchSize, new Random(random.Next()), augment: true))
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
                                    loss = nn.functional.cross_entropy(logits, target);
                                }
                                if (batchIndex == 0)
                                    observedActivation = activationProbe?.Invoke();
                                _precision.Backward(accumulation > 1 ? loss / accumulation : loss);

                                using (no_grad())
                                {
                                    lossSum.add_(loss.detach().to(ScalarType.Float64) * hostBatch.Count);
                                    correctSum.add_(logits.argmax(1).eq(target).sum());
                                }
                            }
                            seen += hostBatch.Count;
                            batchIndex++;
                            micro++;

                            if (micro == accumulation || batchIndex == prefetcher.BatchCount)
                            {
                                lr = schedule.At(optimizerSteps);
                                SetLearningRate(optimizer, lr);
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
                                _options.MetricsCallback(Report(epoch, batchIndex, batchesPerEpoch, optimizerSteps, lossSum, correctSum, seen,
                                    lr, epochClock, total, null, null, isEpochEnd: false));
                        }
                    }

                    double samplesPerSecond = seen / Math.Max(1e-9, epochClock.Elapsed.TotalSeconds);
                    samplesPerSecondSum += samplesPerSecond;
                    (double loss, double accuracy)? validationResult = validation != null && validation.Count > 0
                        ? Evaluate(model, validation)
                        : null;
                    var metrics = Report(epoch, batchIndex, batchesPerEpoch, optimizerSteps, lossSum, correctSum, seen, lr, epochClock, total,
                        validationResult?.loss, validationResult?.accuracy, isEpochEnd: true, samplesPerSecond);
                    epochs.Add(metrics);
                    _log.Info(metrics.ToString());
                    _options.MetricsCallback?.Invoke(metrics);

                    if (_precision.LossScale < 1.0)
                        _log.Warning($"The loss scale fell to {_precision.LossScale:G3}: nearly every step overflows, so the model is probably diverging " +
                                     "(try a lower learning rate, or BFloat16).");

                    if (validationResult.HasValue)
                    {
                        double accuracy = validationResult.Value.accuracy;
                        if (accuracy > bestAccuracy + _options.EarlyStoppingMinDelta || bestEpoch is null)
                        {
                            bestAccuracy = Math.Max(bestAccuracy, accuracy);
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

                if (bestWeights != null && bestEpoch != epochs.Count)
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
                OptimizerSteps = optimizerSteps,
                SkippedSteps = _precision.SkippedSteps,
                FinalLossScale = _precision.LossScale,
                MeanSamplesPerSecond = epochs.Count == 0 ? 0 : samplesPerSecondSum / epochs.Count,
                Elapsed = total.Elapsed,
                ObservedActivationType = observedActivation,
                Epochs = epochs,
            };
        }

        /// <summary>Mean cross-entropy and accuracy of <paramref name="model"/> on <paramref name="data"/>, in the training precision.</summary>
        public (double Loss, double Accuracy) Evaluate(Module model, ITrainingData data)
        {
            bool wasTraining = model.training;
            model.eval();
            try
            {
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var lossSum = zeros(1, ScalarType.Float64, device: _device);
                var correct = zeros(1, ScalarType.Int64, device: _device);
                int[] order = Enumerable.Range(0, data.Count).ToArray();
                using var prefetcher = new BatchPrefetcher(data, order, _options.BatchSize, new Random(0), augment: false);
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
                            var loss = nn.functional.cross_entropy(logits, target, reduction: nn.Reduction.Sum);
                            lossSum.add_(loss.to(ScalarType.Float64));
                            correct.add_(logits.argmax(1).eq(target).sum());
                        }
                    }
                }
                return (lossSum.item<double>() / data.Count, (double)correct.item<long>() / data.Count);
            }
            finally
            {
                if (wasTraining)
                    model.train();
            }
        }

        private TrainingMetrics Report(int epoch, int batchIndex, int batchesPerEpoch, long steps, Tensor lossSum, Tensor correctSum, int seen,
            double lr, Stopwatch epochClock, Stopwatch total, double? validationLoss, double? validationAccuracy, bool isEpochEnd,
            double? samplesPerSecond = null)
        {
            return new TrainingMetrics
            {
                Epoch = epoch,
                BatchesProcessed = batchIndex,
                BatchesPerEpoch = batchesPerEpoch,
                OptimizerSteps = steps,
                TrainingLoss = seen == 0 ? double.NaN : lossSum.item<double>() / seen,
                TrainingAccuracy = seen == 0 ? double.NaN : (double)correctSum.item<long>() / seen,
                ValidationLoss = validationLoss,
                ValidationAccuracy = validationAccuracy,
                LearningRate = lr,
                LossScale = _precision.LossScale,
                SkippedSteps = _precision.SkippedSteps,
                SamplesPerSecond = samplesPerSecond ?? seen / Math.Max(1e-9, epochClock.Elapsed.TotalSeconds),
                Precision = _precision.Precision,
                IsEpochEnd = isEpochEnd,
                Elapsed = total.Elapsed,
            };
        }

        private optim.Optimizer CreateOptimizer(IEnumerable<TorchSharp.Modules.Parameter> parameters)
        {
            return _options.Optimizer switch
            {
                OptimizerKind.AdamW => optim.AdamW(parameters, _options.LearningRate, weight_decay: _options.WeightDecay),
                OptimizerKind.SgdMomentum => optim.SGD(parameters, _options.LearningRate, momentum: _options.Momentum,
                    weight_decay: _options.WeightDecay, nesterov: _options.Momentum > 0),
                _ => throw new ArgumentOutOfRangeException(nameof(_options.Optimizer), _options.Optimizer, "Unknown optimizer."),
            };
        }

        private static void SetLearningRate(optim.Optimizer optimizer, double lr)
        {
            foreach (var group in optimizer.ParamGroups)
                group.LearningRate = lr;
        }

        private void ThrowIfCanceled()
        {
            _options.CancellationToken.ThrowIfCancellationRequested();
            if (_log.IsCanceled)
                throw new OperationCanceledException("Training was canceled through MLContext.");
        }


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
}
