using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.MixedPrecision.Amp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Training.Checkpoints
{
    /// <summary>
    /// Everything a fit needs to continue where it stopped: which phase, the loop's progress (epoch, batch, the epoch's
    /// example order, optimizer steps, early-stopping record, metrics so far), the grad scaler's state, the summaries of
    /// phases already finished, and the tensors — the phase's model state (float32 master weights, BatchNorm buffers),
    /// the best weights kept for <see cref="ClassificationTrainerOptionsBase.RestoreBestWeights"/>, the optimizer's state
    /// and libtorch's CPU random-number state (dropout). The managed shuffle and augmentation randomness needs no state:
    /// it is drawn per epoch and per batch from the seed (<see cref="ExampleOrder.SeedFor"/>).
    /// </summary>
    internal sealed class TrainingCheckpoint : IDisposable
    {
        private const string ModelPrefix = "model/";
        private const string BestPrefix = "best/";
        private const string RandomKey = "rng/cpu";

        private static readonly JsonSerializerOptions Json = new JsonSerializerOptions
        {
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        };

        public CheckpointFingerprint Fingerprint { get; set; } = new();

        /// <summary>The 0-based index of the training phase within the fit (a fine-tune has two: head only, then all layers).</summary>
        public int Phase { get; set; }

        public TrainingProgress Progress { get; set; } = new();

        public GradScalerState Scaler { get; set; } = GradScalerState.Empty;

        /// <summary>The summaries of the phases before <see cref="Phase"/>.</summary>
        public List<TrainingSummary> CompletedPhases { get; set; } = new List<TrainingSummary>();

        /// <summary>Named tensors (on the CPU when read from a file). Not in the JSON.</summary>
        [JsonIgnore]
        public Dictionary<string, Tensor> Tensors { get; private set; } = new Dictionary<string, Tensor>();

        [JsonIgnore]
        public IReadOnlyDictionary<string, Tensor> Model => Section(ModelPrefix);

        /// <summary>The best epoch's weights, or null when none are kept.</summary>
        [JsonIgnore]
        public Dictionary<string, Tensor>? BestWeights => Tensors.Keys.Any(k => k.StartsWith(BestPrefix, StringComparison.Ordinal)) ? Section(BestPrefix) : null;

        /// <summary>The optimizer's state tensors (<see cref="OptimizerCheckpoint"/>).</summary>
        [JsonIgnore]
        public IReadOnlyDictionary<string, Tensor> OptimizerState => Tensors
            .Where(kv => OptimizerCheckpoint.IsOptimizerTensor(kv.Key))
            .ToDictionary(kv => kv.Key, kv => kv.Value);

        [JsonIgnore]
        public Tensor? RandomState => Tensors.TryGetValue(RandomKey, out var t) ? t : null;

        public string ToJson() => JsonSerializer.Serialize(this, Json);

        public static TrainingCheckpoint FromJson(string json, Dictionary<string, Tensor> tensors)
        {
            var checkpoint = JsonSerializer.Deserialize<TrainingCheckpoint>(json, Json)
                ?? throw new System.IO.InvalidDataException("its JSON is empty");
            if (checkpoint.Fingerprint?.Options == null || checkpoint.Progress == null || checkpoint.Scaler == null)
                throw new System.IO.InvalidDataException("its JSON lacks the fingerprint, the progress or the scaler state");
            checkpoint.Tensors = tensors;
            return checkpoint;
        }

        /// <summary>The tensors to write, in a fixed order: model, best weights, optimizer, random state.</summary>
        public static List<KeyValuePair<string, Tensor>> TensorsOf(IEnumerable<KeyValuePair<string, Tensor>> model,
            IEnumerable<KeyValuePair<string, Tensor>>? bestWeights, IEnumerable<KeyValuePair<string, Tensor>> optimizerState, Tensor randomState)
        {
            var list = model.Select(kv => KeyValuePair.Create(ModelPrefix + kv.Key, kv.Value)).ToList();
            if (bestWeights != null)
                list.AddRange(bestWeights.Select(kv => KeyValuePair.Create(BestPrefix + kv.Key, kv.Value)));
            list.AddRange(optimizerState);
            list.Add(KeyValuePair.Create(RandomKey, randomState));
            return list;
        }

        private Dictionary<string, Tensor> Section(string prefix) => Tensors
            .Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key.Substring(prefix.Length), kv => kv.Value);

        public void Dispose() => CheckpointFile.Dispose(Tensors);
    }
}
