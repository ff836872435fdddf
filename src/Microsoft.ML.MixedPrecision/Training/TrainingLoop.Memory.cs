using System;
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
        /// The batches a phase trains with: those a resumed checkpoint recorded; with MemoryBudgetMegabytes, those
        /// <see cref="BatchSizeFinder"/> picks from measured steps (data-parallel: each rank measures its own process, and
        /// all train with the smallest batch any rank picked and the most accumulation steps); else the options'.
        /// </summary>
        private BatchPlan PlanBatches<TBatch>(Module model, ITrainingData<TBatch> train, ITrainingData<TBatch>? validation, TrainingPhase phase,
            TrainingProgress? resumed) where TBatch : HostBatch
        {
            var asked = BatchPlan.Of(_options);
            if (resumed is { BatchSize: > 0 } p)
                return new BatchPlan(p.BatchSize, p.AccumulationSteps);
            if (_options.MemoryBudgetMegabytes is not int budget)
                return asked;
            if (_device.type != DeviceType.CPU || !PeakResidentMemory.IsAvailable)
                throw new NotSupportedException($"Option MemoryBudgetMegabytes bounds the process's resident memory, which only a CPU fit on Linux " +
                                                $"measures (this fit trains on {_device}); set it to null and choose BatchSize yourself.");
            // A batch never holds more than the data: probe at most that.
            var probed = new BatchPlan(Math.Min(asked.BatchSize, Math.Max(1, train.Count)), asked.AccumulationSteps);
            var finder = CreateFinder(model, train, validation, phase, probed, budget);
            var plan = finder.Find();
            if (NativeHeap.ResidentBytes() > finder.BudgetBytes)
                NativeHeap.GiveBackFreeMemory(); // a step that did not fit grew the heap: give it back before training
            _log.Info(DescribePlan(finder, phase, asked, plan == probed ? asked : plan));
            return AgreeOverRanks(plan == probed ? asked : plan);
        }

        /// <summary>The plan every rank trains with: the smallest batch and the most accumulation steps over the ranks' plans.</summary>
        private BatchPlan AgreeOverRanks(BatchPlan plan)
        {
            var group = _sync.Group;
            if (!group.IsDistributed)
                return plan;
            var agreed = new BatchPlan(group.Reduce(plan.BatchSize, largest: false), group.Reduce(plan.AccumulationSteps, largest: true));
            if (agreed != plan)
                _log.Info($"Data-parallel ({group.Description}): another process's memory budget allows less, so every process trains with batches " +
                          $"of {agreed.BatchSize} and GradientAccumulationSteps {agreed.AccumulationSteps} (this one picked {plan.BatchSize} and {plan.AccumulationSteps}).");
            return agreed;
        }

        private BatchSizeFinder CreateFinder<TBatch>(Module model, ITrainingData<TBatch> train, ITrainingData<TBatch>? validation,
            TrainingPhase phase, BatchPlan probed, int budgetMegabytes) where TBatch : HostBatch
        {
            model.to(_device);
            model.train();
            var groups = phase.ParameterGroups ?? new[] { new ParameterGroup(model.parameters()) };
            var step = new TrainingStepMemory<TBatch>(model, train, _precision, _device, groups, _options.Optimizer);
            // The best epoch's weights are copied after the first validated epoch, whatever the batch.
            long reserve = validation is { Count: > 0 } && _options.RestoreBestWeights
                ? model.state_dict().Values.Sum(t => t.numel() * t.element_size())
                : 0;
            return new BatchSizeFinder(probed, (long)budgetMegabytes << 20, reserve, batchSize =>
            {
                ThrowIfCanceled();
                try
                {
                    return step.PeakBytes(batchSize);
                }
                catch (Exception e) when (AllocationFailure.Is(e, out _))
                {
                    return long.MaxValue; // a step that cannot even allocate does not fit
                }
            });
        }

        private static string DescribePlan(BatchSizeFinder finder, TrainingPhase phase, BatchPlan asked, BatchPlan plan)
        {
            string reserve = finder.ReserveBytes > 0 ? $", {BatchSizeFinder.Mib(finder.ReserveBytes)} MiB set aside for the best epoch's weights" : "";
            string head = $"Memory budget {BatchSizeFinder.Mib(finder.BudgetBytes)} MiB (MemoryBudgetMegabytes), training {phase.Name}: " +
                          $"peak resident memory of one training step at batch {finder.DescribeMeasurements()} (a step may take {BatchSizeFinder.Mib(finder.TargetBytes)} MiB, " +
                          $"{BatchSizeFinder.TargetFraction:P0} of the budget{reserve}); ";
            if (plan == asked)
                return head + $"batches of {asked.BatchSize} fit: training as asked.";
            long predicted = finder.Measured.TryGetValue(plan.BatchSize, out long measured) ? measured : finder.Predict(plan.BatchSize);
            return head + $"batches of {asked.BatchSize} would need about {BatchSizeFinder.Mib(finder.Predict(asked.BatchSize))} MiB; training with batches of " +
                   $"{plan.BatchSize} (~{BatchSizeFinder.Mib(predicted)} MiB) and GradientAccumulationSteps {plan.AccumulationSteps}: an optimizer step every " +
                   $"{plan.AccumulationSteps} batches, {plan.EffectiveBatchSize} examples (asked {asked.EffectiveBatchSize}).";
        }

        /// <summary>What a step's failed allocation becomes: the batch size, the bytes asked for and what to set.</summary>
        private TrainingMemoryException StepOutOfMemory(Exception e, long requestedBytes, BatchPlan plan)
        {
            long resident = NativeHeap.ResidentBytes();
            int smaller = Math.Max(1, plan.BatchSize / 2);
            int accumulation = plan.AccumulationSteps * ((plan.BatchSize + smaller - 1) / smaller);
            string budget = _options.MemoryBudgetMegabytes is int mib
                ? $"; this fit's MemoryBudgetMegabytes is {mib}: set it below the memory the process can really get"
                : "; or set MemoryBudgetMegabytes to the memory the process can use and the trainer picks a batch that fits";
            string message = $"A training step at a batch of {plan.BatchSize} examples ran out of memory: libtorch could not allocate " +
                             $"{(requestedBytes >= 0 ? $"{requestedBytes} bytes ({requestedBytes / (1024.0 * 1024.0):F0} MiB)" : "a tensor")}" +
                             $"{(resident >= 0 ? $" with the process at {BatchSizeFinder.Mib(resident)} MiB resident" : "")}. " +
                             $"Set BatchSize to {smaller} and GradientAccumulationSteps to {accumulation} (about the same {plan.EffectiveBatchSize} examples per optimizer step){budget}.";
            return new TrainingMemoryException(message, plan.BatchSize, requestedBytes, resident, e);
        }
    }
}
