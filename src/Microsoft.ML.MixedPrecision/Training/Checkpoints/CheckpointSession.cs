using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.MixedPrecision.Distributed;
using Microsoft.ML.MixedPrecision.Training.Precision;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Training.Checkpoints
{
    /// <summary>
    /// One fit's checkpoints (<see cref="ClassificationTrainerOptionsBase.CheckpointDirectory"/>): at the start, the
    /// newest whole checkpoint of the folder, refused when its fingerprint is another fit's; during training, a write
    /// every <see cref="EveryOptimizerSteps"/> optimizer steps and at each epoch's end; after a successful fit, the
    /// folder's checkpoints are deleted (the fitted model is the result; a rerun trains again from the start). In a
    /// data-parallel fit every rank reads the checkpoint it resumes from and only rank 0 writes and deletes them (the folder
    /// must be the same for every rank: on several machines, a shared file system).
    /// </summary>
    internal sealed class CheckpointSession : IDisposable
    {
        private readonly CheckpointStore _store;
        private readonly CheckpointFingerprint _fingerprint;
        private readonly TrainingLog _log;
        private readonly torch.Generator _generator;
        private readonly ProcessGroup _group;
        private readonly int _seed;
        private readonly List<TrainingSummary> _completedPhases = new List<TrainingSummary>();
        private TrainingCheckpoint? _resume;
        private long _sequence;

        private CheckpointSession(CheckpointStore store, CheckpointFingerprint fingerprint, int? everySteps, torch.Generator generator, TrainingLog log,
            ProcessGroup group, int seed)
        {
            (_group, _seed) = (group, seed);
            _store = store;
            _fingerprint = fingerprint;
            EveryOptimizerSteps = everySteps;
            _generator = generator;
            _log = log;
        }

        /// <summary>Optimizer steps between two checkpoints within an epoch; null: at epoch ends only.</summary>
        public int? EveryOptimizerSteps { get; }

        /// <summary>
        /// The session of a fit with these options, or null when <see cref="ClassificationTrainerOptionsBase.CheckpointDirectory"/>
        /// is null; <paramref name="generator"/> is the fit's own (<see cref="FitGenerator"/>), whose state every checkpoint
        /// saves and a resume restores. Reads the newest whole checkpoint of the folder and logs that the fit resumes from it; throws
        /// <see cref="InvalidOperationException"/>, saying what differs, when it was written by a fit with other options,
        /// data or classes.
        /// </summary>
        public static CheckpointSession? Open(ClassificationTrainerOptionsBase options, CheckpointFingerprint? fingerprint, torch.Generator generator,
            TrainingLog log, ProcessGroup? group = null, int seed = 0)
        {
            if (options.CheckpointDirectory == null)
                return null;
            var store = new CheckpointStore(options.CheckpointDirectory, options.CheckpointsToKeep, log);
            var session = new CheckpointSession(store, fingerprint ?? throw new ArgumentNullException(nameof(fingerprint)), options.CheckpointEverySteps,
                generator, log, group ?? ProcessGroup.Alone, seed);
            var latest = store.ReadLatest();
            if (latest is not { } found)
            {
                log.Info($"Checkpoints: every {(options.CheckpointEverySteps is int n ? $"{n} optimizer steps and every " : "")}epoch's end " +
                         $"into '{store.Directory}', the newest {store.Keep} kept.");
                return session;
            }

            TrainingCheckpoint checkpoint;
            try
            {
                checkpoint = TrainingCheckpoint.FromJson(found.Json, found.Tensors);
            }
            catch (Exception e) when (e is System.Text.Json.JsonException || e is InvalidDataException || e is NotSupportedException)
            {
                CheckpointFile.Dispose(found.Tensors);
                throw new InvalidOperationException(
                    $"The checkpoint '{found.Path}' cannot be read ({e.Message}). Delete the checkpoint files in '{store.Directory}' to train " +
                    "from the start, or set CheckpointDirectory to another folder.", e);
            }
            string? mismatch = fingerprint.Mismatch(checkpoint.Fingerprint);
            if (mismatch != null)
            {
                checkpoint.Dispose();
                throw new InvalidOperationException(
                    $"The checkpoint '{found.Path}' was written by a fit with {mismatch}, so this fit cannot resume from it. " +
                    $"Fit with the options and data that wrote it, or delete the checkpoint files in '{store.Directory}' " +
                    "(to train from the start), or set CheckpointDirectory to another folder.");
            }
            session._resume = checkpoint;
            session._sequence = found.Sequence;
            session._completedPhases.AddRange(checkpoint.CompletedPhases);
            var p = checkpoint.Progress;
            long steps = checkpoint.CompletedPhases.Sum(s => s.OptimizerSteps) + p.OptimizerSteps;
            log.Info($"Resuming from checkpoint '{found.Path}' (epoch {p.Epoch}, batch {p.Batch}, step {steps}).");
            return session;
        }

        /// <summary>The summary of phase <paramref name="phase"/> when the checkpoint resumed from was written after it.</summary>
        public TrainingSummary? CompletedPhase(int phase) => phase < _completedPhases.Count ? _completedPhases[phase] : null;

        /// <summary>Where the checkpoint to resume phase <paramref name="phase"/> from stands (not taken), or null.</summary>
        public TrainingProgress? ResumeProgress(int phase) => _resume?.Phase == phase ? _resume.Progress : null;

        /// <summary>The checkpoint to resume phase <paramref name="phase"/> from (once), or null to start it afresh.</summary>
        public TrainingCheckpoint? TakeResumePoint(int phase)
        {
            if (_resume?.Phase != phase)
                return null;
            var resume = _resume;
            _resume = null;
            return resume;
        }

        /// <summary>
        /// Restores a checkpoint's state into the phase's model, optimizer, precision plugin and the fit's generator;
        /// returns copies of its best weights on <paramref name="device"/> (null when none were kept).
        /// </summary>
        public Dictionary<string, Tensor>? Restore(TrainingCheckpoint checkpoint, Module model, optim.Optimizer optimizer,
            PrecisionPlugin precision, Device device)
        {
            using (no_grad())
            {
                var state = checkpoint.Model.ToDictionary(kv => kv.Key, kv => kv.Value);
                var (missing, unexpected) = model.load_state_dict(state, strict: false);
                if (missing.Count > 0 || unexpected.Count > 0)
                    throw new InvalidOperationException(
                        $"The checkpoint's model state does not fit this network (missing: {string.Join(", ", missing.Take(5))}; " +
                        $"unexpected: {string.Join(", ", unexpected.Take(5))}). Delete the checkpoint files or set CheckpointDirectory to another folder.");
            }
            OptimizerCheckpoint.Load(optimizer, checkpoint.OptimizerState, device);
            precision.LoadState(checkpoint.Scaler);
            _generator.set_state(checkpoint.RandomState ?? throw new InvalidDataException("The checkpoint has no random state."));
            if (_group.Rank > 0) // the checkpoint holds rank 0's generator: the other ranks draw their own dropout masks again
                _generator.manual_seed(ExampleOrder.SeedFor(_seed, -_group.Rank, (int)Math.Min(int.MaxValue - 1, checkpoint.Progress.OptimizerSteps)));
            return checkpoint.BestWeights?.ToDictionary(kv => kv.Key, kv => kv.Value.to(device).clone().DetachFromDisposeScope());
        }

        /// <summary>Writes a checkpoint of phase <paramref name="phase"/> as it stands (at an optimizer-step boundary).</summary>
        public void Save(int phase, TrainingProgress progress, Module model, optim.Optimizer optimizer, PrecisionPlugin precision,
            Dictionary<string, Tensor>? bestWeights)
        {
            if (!_group.IsWriter)
                return;
            using var scope = NewDisposeScope();
            Tensor randomState = _generator.get_state();
            var checkpoint = new TrainingCheckpoint
            {
                Fingerprint = _fingerprint,
                Phase = phase,
                Progress = progress,
                Scaler = precision.GetState(),
                CompletedPhases = _completedPhases.ToList(),
            };
            var tensors = TrainingCheckpoint.TensorsOf(model.state_dict(), bestWeights, OptimizerCheckpoint.Tensors(optimizer), randomState);
            _store.Write(++_sequence, checkpoint.ToJson(), tensors);
        }

        /// <summary>Records a finished phase, so checkpoints of later phases can skip it on resume.</summary>
        public void PhaseFinished(TrainingSummary summary) => _completedPhases.Add(summary);

        /// <summary>Deletes the folder's checkpoints once the fit has succeeded.</summary>
        public void FitSucceeded()
        {
            if (!_group.IsWriter)
                return;
            int deleted = _store.DeleteAll();
            if (deleted > 0)
                _log.Info($"The fit finished: deleted its {deleted} checkpoint file(s) from '{_store.Directory}'.");
        }

        public void Dispose()
        {
            _resume?.Dispose();
            _resume = null;
        }
    }
}
