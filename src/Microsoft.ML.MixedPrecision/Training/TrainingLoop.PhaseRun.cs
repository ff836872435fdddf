using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Native;
using Microsoft.ML.MixedPrecision.Training.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Training
{
    internal sealed partial class TrainingLoop
    {
        /// <summary>
        /// One phase of training, read top to bottom as the algorithm: set up the optimizer, schedule and counters;
        /// resume from a checkpoint; per epoch, batches → <see cref="TrainBatch"/> (forward and loss in the precision's
        /// region, scaled backward) → <see cref="StepOptimizer"/> (unscale → clip → step → update) → <see cref="EndEpoch"/>
        /// (validate, report, keep the best weights, stop early, checkpoint); restore the best weights; summarize.
        /// </summary>
        private sealed class PhaseRun<TBatch> : IDisposable
            where TBatch : HostBatch
        {
            private readonly TrainingLoop _loop;
            private readonly Module _model;
            private readonly ITrainingData<TBatch> _train;
            private readonly ITrainingData<TBatch>? _validation;
            private readonly int _seed, _phaseIndex;
            private readonly TrainingPhase _phase;
            private readonly CheckpointSession? _checkpoints;
            private readonly IReadOnlyList<ParameterGroup> _groups;
            private readonly TorchSharp.Modules.Parameter[] _parameters;
            private readonly optim.Optimizer _optimizer;
            private readonly Tensor? _classWeights;
            private readonly int _batchSize, _batchesPerEpoch, _accumulation;
            private readonly LearningRateScheduler _schedule;
            private readonly ClassificationCounts _counts;
            private readonly DivergenceGuard _divergence;
            private readonly Stopwatch _total = Stopwatch.StartNew();
            private Dictionary<string, Tensor>? _bestWeights;

            public PhaseRun(TrainingLoop loop, Module model, ITrainingData<TBatch> train, ITrainingData<TBatch>? validation, int seed,
                TrainingPhase phase, CheckpointSession? checkpoints, int phaseIndex, BatchPlan plan)
            {
                (_loop, _model, _train, _validation, _seed, _phase, _checkpoints, _phaseIndex) =
                    (loop, model, train, validation, seed, phase, checkpoints, phaseIndex);
                var options = loop._options;
                model.to(loop._device);
                model.train();
                _groups = phase.ParameterGroups ?? new[] { new ParameterGroup(model.parameters()) };
                _parameters = _groups.SelectMany(g => g.Parameters).ToArray();
                _optimizer = loop.CreateOptimizer(_groups);
                _classWeights = loop.ClassWeights(train.Labels);

                _batchSize = plan.BatchSize;
                var group = loop._sync.Group;
                int examplesPerEpoch = ExampleOrder.ExamplesPerEpoch(train.Count, _batchSize, group.Size) / group.Size;
                _batchesPerEpoch = (examplesPerEpoch + _batchSize - 1) / _batchSize;
                _accumulation = plan.AccumulationSteps;
                long stepsPerEpoch = (_batchesPerEpoch + _accumulation - 1) / _accumulation;
                _schedule = new LearningRateScheduler(options.LearningRateSchedule ?? phase.DefaultSchedule, options.LearningRate,
                    stepsPerEpoch * phase.Epochs, options.WarmupFraction);

                loop._log.Info($"Training {phase.Name} on {loop._device} in {loop._precision.Precision}: {train.Count} examples, " +
                               $"{validation?.Count ?? 0} for validation, {phase.Epochs} epochs of {_batchesPerEpoch} batches of {_batchSize}" +
                               (_classWeights is null ? "." : ", class-balanced loss weights.") +
                               (group.IsDistributed ? $" Data-parallel, {group.Description}: these batches are this process's share; an optimizer step " +
                                                      $"sees {_batchSize} × {_accumulation} × {group.Size} = {_batchSize * _accumulation * group.Size} examples." : ""));

                _counts = new ClassificationCounts(loop._classCount, loop._device);
                _divergence = new DivergenceGuard(options, loop._precision.Precision.ToString());
                Progress = new TrainingProgress
                {
                    Epoch = phase.FirstEpoch, LearningRate = _schedule.At(0), BatchSize = plan.BatchSize, AccumulationSteps = plan.AccumulationSteps,
                };
                LastEpoch = phase.FirstEpoch + phase.Epochs - 1;
            }

            /// <summary>Where the phase stands: epoch, steps, best validation result, per-epoch metrics (what a checkpoint saves).</summary>
            public TrainingProgress Progress { get; private set; }

            /// <summary>The 1-based number of the phase's last epoch.</summary>
            public int LastEpoch { get; }

            /// <summary>Continues from the checkpoint of this phase when the fit resumes: weights, optimizer, scaler, progress.</summary>
            public void Resume()
            {
                using var resume = _checkpoints?.TakeResumePoint(_phaseIndex);
                if (resume == null)
                    return;
                _bestWeights = _checkpoints!.Restore(resume, _model, _optimizer, _loop._precision, _loop._device);
                Progress = resume.Progress;
                _divergence.NonFiniteInARow = Progress.NonFiniteLossesInARow;
            }

            /// <summary>One epoch: its batches in the epoch's order (from where a resumed epoch stopped), then <see cref="EndEpoch"/>.</summary>
            public void TrainEpoch(int epoch)
            {
                _model.train();
                _counts.Reset();
                int micro = 0;
                var epochClock = Stopwatch.StartNew();
                var (order, batchIndex) = EpochStart(epoch);
                _optimizer.zero_grad();

                var group = _loop._sync.Group;
                // Each rank's batch draws its own augmentation: batch b of rank r is the (b × N + r)th draw of the epoch.
                using (var prefetcher = new BatchPrefetcher<TBatch>(_train, order, _batchSize,
                           batch => new Random(ExampleOrder.SeedFor(_seed, epoch, batch * group.Size + group.Rank)), _phase.Augment, firstBatch: batchIndex))
                {
                    foreach (var hostBatch in prefetcher.Batches())
                    {
                        _loop.ThrowIfCanceled();
                        TrainBatch(hostBatch, epoch, batchIndex, prefetcher.BatchCount);
                        batchIndex++;
                        micro++;
                        if (micro == _accumulation || batchIndex == prefetcher.BatchCount)
                        {
                            StepOptimizer(epoch, batchIndex, prefetcher.BatchCount, order);
                            micro = 0;
                        }
                        NativeHeap.TrimIfGrown();
                        var options = _loop._options;
                        if (options.MetricsCallback != null && batchIndex % options.MetricsEveryBatches == 0 && batchIndex < prefetcher.BatchCount)
                            options.MetricsCallback(_loop.Report(epoch, batchIndex, _batchesPerEpoch, Progress.OptimizerSteps, _counts,
                                Progress.LearningRate, epochClock, _total, null, isEpochEnd: false));
                    }
                }
                EndEpoch(epoch, batchIndex, epochClock);
            }

            /// <summary>
            /// The epoch's example order and first batch: when resumed mid-epoch, the interrupted epoch's order and running
            /// counts, from its next batch on; else the epoch's own order from the seed. Data-parallel, the checkpoint holds
            /// rank 0's order and the ranks' summed counts: each rank recomputes its own share from the seed, and rank 0 alone
            /// carries the counts on (they are summed over the ranks at the epoch's end).
            /// </summary>
            private (int[] Order, int FirstBatch) EpochStart(int epoch)
            {
                var group = _loop._sync.Group;
                if (Progress.EpochOrder == null)
                    return (ExampleOrder.EpochOrder(_train, _batchSize, _seed, epoch, group.Size, group.Rank), 0);
                if (group.IsWriter)
                    _counts.LoadState(Progress.EpochCounts!); // saved with the epoch order mid-epoch
                var order = group.IsDistributed ? ExampleOrder.EpochOrder(_train, _batchSize, _seed, epoch, group.Size, group.Rank) : Progress.EpochOrder;
                return (order, Progress.Batch);
            }

            /// <summary>Forward and loss in the precision's region, scaled backward (a share of the accumulation group), counted.</summary>
            private void TrainBatch(TBatch hostBatch, int epoch, int batchIndex, int batchCount)
            {
                using var scope = NewDisposeScope();
                var input = _train.ToTensors(hostBatch, _loop._device);
                var target = tensor(hostBatch.Labels, device: _loop._device);
                Tensor logits, loss;
                using (_loop._precision.ForwardContext())
                {
                    logits = _model.forward(input);
                    loss = nn.functional.cross_entropy(logits, target, weight: _classWeights);
                }
                if (batchIndex == 0)
                    Progress.ObservedActivation = _phase.ActivationProbe?.Invoke();
                _divergence.Observe(loss, epoch, batchIndex + 1);
                int groupSize = GradientAccumulation.GroupSize(batchIndex, batchCount, _accumulation);
                _loop._precision.Backward(groupSize > 1 ? loss / groupSize : loss);
                _counts.Add(loss, logits, target, hostBatch.Labels);
            }

            /// <summary>
            /// The learning rate for this step, the gradients averaged over the ranks (data-parallel only), unscale → clip →
            /// step → update, zero the gradients; the schedule advances only after a real step (a float16 overflow skips it, on
            /// every rank alike: they unscale the same averaged gradients). Checkpoints every N steps within the epoch.
            /// </summary>
            private void StepOptimizer(int epoch, int batchIndex, int batchCount, int[] order)
            {
                var options = _loop._options;
                var precision = _loop._precision;
                Progress.LearningRate = _schedule.At(Progress.OptimizerSteps);
                SetLearningRate(_optimizer, _groups, Progress.LearningRate);
                bool stepped;
                // Its own scope: the clipping norm and the scaler's found-inf flags are freed here instead of being left
                // to the finalizer.
                using (NewDisposeScope())
                {
                    _loop._sync.AverageGradients(_parameters);
                    if (options.GradientClipNorm.HasValue)
                    {
                        precision.UnscaleGradients(_optimizer);
                        nn.utils.clip_grad_norm_(_parameters, options.GradientClipNorm.Value);
                    }
                    stepped = precision.OptimizerStep(_optimizer);
                    precision.Update();
                    _optimizer.zero_grad();
                }
                if (!stepped)
                    return;
                Progress.OptimizerSteps++;
                if (_checkpoints?.EveryOptimizerSteps is int every && Progress.OptimizerSteps % every == 0 && batchIndex < batchCount)
                    SaveCheckpoint(epoch, batchIndex, order, _loop._sync.Sum(_counts.GetState()));
            }

            /// <summary>Validates, reports, keeps the best weights, decides early stopping and checkpoints the finished epoch.</summary>
            private void EndEpoch(int epoch, int batchIndex, Stopwatch epochClock)
            {
                // Data-parallel: the same BatchNorm statistics, weights and the whole epoch's counts on every rank from here on.
                _loop._sync.AverageBuffers(_model);
                _loop._sync.BroadcastFromFirst(_model);
                _loop._sync.SumInPlace(_counts);
                double samplesPerSecond = _counts.Seen / Math.Max(1e-9, epochClock.Elapsed.TotalSeconds);
                Progress.SamplesPerSecondSum += samplesPerSecond;
                EvaluationResult? validation = _validation != null && _validation.Count > 0
                    ? _loop.Evaluate(_model, _validation, _batchSize)
                    : null;
                var metrics = _loop.Report(epoch, batchIndex, _batchesPerEpoch, Progress.OptimizerSteps, _counts, Progress.LearningRate,
                    epochClock, _total, validation, isEpochEnd: true, samplesPerSecond);
                Progress.Epochs.Add(metrics);
                _loop._log.Info(metrics.ToString());
                _loop._options.MetricsCallback?.Invoke(metrics);

                if (_loop._precision.LossScale < 1.0)
                    _loop._log.Warning($"The loss scale fell to {_loop._precision.LossScale:G3}: nearly every step overflows, so the model is " +
                                       "probably diverging (try a lower learning rate, or BFloat16).");
                if (validation.HasValue)
                    TrackBest(validation.Value, epoch);
                SaveCheckpoint(epoch + 1, 0, order: null, epochCounts: null);
            }

            /// <summary>Records, and with checkpoints on writes, where the phase resumes: batch <paramref name="batch"/> of epoch <paramref name="epoch"/>.</summary>
            private void SaveCheckpoint(int epoch, int batch, int[]? order, ClassificationCountsState? epochCounts)
            {
                Progress.Epoch = epoch;
                Progress.Batch = batch;
                Progress.EpochOrder = order;
                Progress.EpochCounts = epochCounts;
                Progress.NonFiniteLossesInARow = _divergence.NonFiniteInARow;
                _checkpoints?.Save(_phaseIndex, Progress, _model, _optimizer, _loop._precision, _bestWeights);
            }

            /// <summary>Early stopping and best weights: records an epoch's validation result, stopping after the patience.</summary>
            private void TrackBest(EvaluationResult validation, int epoch)
            {
                var options = _loop._options;
                if (validation.Accuracy > Progress.BestAccuracy + options.EarlyStoppingMinDelta || Progress.BestEpoch is null)
                {
                    Progress.BestAccuracy = Math.Max(Progress.BestAccuracy, validation.Accuracy);
                    Progress.BestMacroAccuracy = validation.MacroAccuracy;
                    Progress.BestEpoch = epoch;
                    Progress.EpochsWithoutImprovement = 0;
                    if (options.RestoreBestWeights)
                    {
                        DisposeAll(_bestWeights);
                        _bestWeights = Snapshot(_model);
                    }
                    return;
                }
                Progress.EpochsWithoutImprovement++;
                if (options.EarlyStoppingPatience.HasValue && Progress.EpochsWithoutImprovement >= options.EarlyStoppingPatience.Value)
                {
                    _loop._log.Info($"Early stopping after epoch {epoch}: no validation-accuracy gain of {options.EarlyStoppingMinDelta} " +
                                    $"for {Progress.EpochsWithoutImprovement} epochs (best {Progress.BestAccuracy:P2} at epoch {Progress.BestEpoch}).");
                    Progress.StoppedEarly = true;
                }
            }

            /// <summary>Puts the best epoch's weights back when a later epoch was worse (RestoreBestWeights).</summary>
            public void RestoreBestWeights()
            {
                if (_bestWeights == null || Progress.BestEpoch == Progress.Epochs[^1].Epoch)
                    return;
                _loop._log.Info($"Restoring the weights of epoch {Progress.BestEpoch} (best validation accuracy {Progress.BestAccuracy:P2}).");
                using (no_grad())
                    _model.load_state_dict(_bestWeights);
            }

            public TrainingSummary Summary()
            {
                var epochs = Progress.Epochs;
                var precision = _loop._precision;
                return new TrainingSummary
                {
                    Precision = precision.Precision,
                    Device = _loop._device.ToString(),
                    EpochsRun = epochs.Count,
                    WorldSize = _loop._sync.Group.Size,
                    Rank = _loop._sync.Group.Rank,
                    StoppedEarly = Progress.StoppedEarly,
                    BestEpoch = Progress.BestEpoch,
                    BestValidationAccuracy = Progress.BestEpoch.HasValue ? Progress.BestAccuracy : null,
                    BestValidationMacroAccuracy = Progress.BestMacroAccuracy,
                    BatchSize = _batchSize,
                    GradientAccumulationSteps = _accumulation,
                    OptimizerSteps = Progress.OptimizerSteps,
                    SkippedSteps = precision.SkippedSteps,
                    FinalLossScale = precision.LossScale,
                    MeanSamplesPerSecond = epochs.Count == 0 ? 0 : Progress.SamplesPerSecondSum / epochs.Count,
                    Elapsed = _total.Elapsed,
                    ObservedActivationType = Progress.ObservedActivation,
                    Epochs = epochs,
                };
            }

            public void Dispose()
            {
                DisposeAll(_bestWeights);
                _counts.Dispose();
                _classWeights?.Dispose();
                _optimizer.Dispose();
            }
        }
    }
}
