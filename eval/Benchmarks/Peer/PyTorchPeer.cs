using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.MixedPrecision.Benchmarks.Workloads;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.ML.MixedPrecision.Text.Pretrained;
using Microsoft.ML.MixedPrecision.Vision;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Peer
{
    /// <summary>
    /// The bare loop in PyTorch (Debian 12's python3-torch, 1.13), as a child process that times segments on request, so
    /// its segments interleave with ours (<c>./build.sh bench --peer</c>). It trains the same network (Peer/*.py mirror
    /// ours layer for layer and load our initial weights by name), on the same prebuilt batches, with the same AdamW
    /// groups, clipping and autocast region; a workload folder written here hands it all over (<see cref="TensorFolder"/>).
    /// </summary>
    internal sealed class PyTorchPeer : IDisposable
    {
        public const string Python = "/usr/bin/python3";
        private readonly Process _process;
        private readonly string _folder;
        private readonly bool _keepFolder;
        private bool _disposed;

        private PyTorchPeer(Process process, string folder, bool keepFolder)
        {
            _process = process;
            _folder = folder;
            _keepFolder = keepFolder;
            Info = ReadLine("start");
        }

        /// <summary>The peer's first line: torch version, threads, mkldnn, BLAS, parameter counts.</summary>
        public JsonElement Info { get; }

        /// <summary>
        /// Writes <paramref name="model"/>'s initial state (all of state_dict), the workload's prebuilt batches and its
        /// optimizer settings to a folder (under <paramref name="keptFolder"/>, else a temporary one deleted at the end),
        /// and starts the peer on it with libtorch's thread count.
        /// </summary>
        public static PyTorchPeer Start(Workload workload, Module model, string keptFolder = null, bool amp = true)
        {
            string folder = Path.Combine(keptFolder ?? Path.Combine(Path.GetTempPath(), "mixedprecision-peer"), workload.Name);
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
            TensorFolder.Write(Path.Combine(folder, "weights"), model.state_dict().Select(kv => (kv.Key, kv.Value)));
            TensorFolder.Write(Path.Combine(folder, "batches"), workload.Batches.SelectMany((b, i) => new[] { ($"input{i}", b.Input), ($"target{i}", b.Target) }));
            var groups = workload.ParameterGroups(model);
            var spec = new Dictionary<string, object>
            {
                ["name"] = workload.Name,
                ["network"] = Network(model),
                ["batches"] = workload.Batches.Count,
                ["learning_rate"] = workload.LearningRate,
                ["weight_decay"] = workload.WeightDecay,
                ["clip_norm"] = workload.ClipNorm,
                ["precisions"] = amp ? new[] { "fp32", "amp" } : new[] { "fp32" }, // the peer builds, warms and times only these
                // Our groups are DecayMatricesOnly(body, factor) + DecayMatricesOnly(head, 1): the peer builds the same four.
                ["groups"] = groups is null ? null : new Dictionary<string, object> { ["head"] = HeadName(model), ["body_factor"] = groups[0].LearningRateScale },
            };
            File.WriteAllText(Path.Combine(folder, "workload.json"), JsonSerializer.Serialize(spec));

            string script = Path.Combine(AppContext.BaseDirectory, "Peer", "peer_bench.py");
            var start = new ProcessStartInfo(Python)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (string arg in new[] { script, folder, get_num_threads().ToString(System.Globalization.CultureInfo.InvariantCulture) })
                start.ArgumentList.Add(arg);
            start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
            var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {Python}.");
            return new PyTorchPeer(process, folder, keepFolder: keptFolder != null);
        }

        /// <summary>Per-step losses of <paramref name="steps"/> steps of fresh FP32 and AMP copies, dropout off (AMP: none when not timed).</summary>
        public (List<double> Fp32, List<double> Amp) Parity(int steps)
        {
            var answer = Ask($"parity {steps}");
            return (Losses(answer.GetProperty("fp32")), answer.TryGetProperty("amp", out var amp) ? Losses(amp) : new List<double>());
        }

        public void Warmup(int steps) => Ask($"warmup {steps}");

        /// <summary>Seconds of <paramref name="steps"/> steps of the peer's FP32 or AMP copy.</summary>
        public double Run(bool amp, int steps) => Ask($"run {(amp ? "amp" : "fp32")} {steps}").GetProperty("seconds").GetDouble();

        private JsonElement Ask(string command)
        {
            _process.StandardInput.WriteLine(command);
            _process.StandardInput.Flush();
            var answer = ReadLine(command);
            if (answer.TryGetProperty("error", out var error))
                throw new InvalidOperationException($"PyTorch peer: {error.GetString()}");
            return answer;
        }

        private JsonElement ReadLine(string command)
        {
            string line = _process.StandardOutput.ReadLine()
                ?? throw new InvalidOperationException($"The PyTorch peer ended during '{command}' (its error output is above).");
            return JsonDocument.Parse(line).RootElement.Clone();
        }

        private static List<double> Losses(JsonElement array) => array.EnumerateArray().Select(e => e.GetDouble()).ToList();

        /// <summary>Our network as the peer builds it (Peer/peer_bench.py build()).</summary>
        private static Dictionary<string, object> Network(Module model) => model switch
        {
            ResNet r => new Dictionary<string, object>
            {
                ["kind"] = "resnet",
                ["in_channels"] = r.InputChannels,
                ["classes"] = r.NumClasses,
                ["arch"] = r.Architecture switch
                {
                    ResNetArchitecture.ResNetSmall => "small",
                    ResNetArchitecture.PretrainedResNet18 => "pretrained18",
                    _ => throw new NotSupportedException($"The peer has no mirror of {r.Architecture}."),
                },
            },
            TextTransformer t => new Dictionary<string, object>
            {
                ["kind"] = "text_transformer",
                ["vocabulary"] = t.Shape.VocabularySize,
                ["max_length"] = t.Shape.MaxLength,
                ["width"] = t.Shape.Width,
                ["heads"] = t.Shape.Heads,
                ["layers"] = t.Shape.Layers,
                ["feed_forward"] = t.Shape.FeedForward,
                ["dropout"] = t.Shape.Dropout,
                ["classes"] = t.Shape.Classes,
                ["pooling"] = t.Shape.Pooling == TextPooling.Cls ? "cls" : "mean",
                ["segments"] = t.Shape.Segments,
            },
            BertClassifier b => new Dictionary<string, object>
            {
                ["kind"] = "bert",
                ["vocabulary"] = b.Shape.VocabularySize,
                ["width"] = b.Shape.Width,
                ["heads"] = b.Shape.Heads,
                ["layers"] = b.Shape.Layers,
                ["feed_forward"] = b.Shape.FeedForward,
                ["max_positions"] = b.Shape.MaxPositions,
                ["token_types"] = b.Shape.TokenTypes,
                ["layer_norm_epsilon"] = b.Shape.LayerNormEpsilon,
                ["hidden_dropout"] = b.Shape.HiddenDropout,
                ["attention_dropout"] = b.Shape.AttentionDropout,
                ["classes"] = b.Shape.Classes,
                ["pooling"] = b.Shape.Pooling == TextPooling.Cls ? "cls" : "mean",
                ["pad_id"] = b.Shape.PadId,
                ["sep_id"] = b.Shape.SepId,
                ["train_word_embeddings"] = b.WordEmbeddings.weight.requires_grad,
            },
            _ => throw new NotSupportedException($"The peer has no mirror of {model.GetType().Name}."),
        };

        /// <summary>The state_dict prefix of the new head that the workload's parameter groups train at the full rate.</summary>
        private static string HeadName(Module model) => model switch
        {
            ResNet => "fc",
            BertClassifier => "head",
            _ => throw new NotSupportedException($"No head name for {model.GetType().Name}'s parameter groups."),
        };

        public void Dispose()
        {
            if (_disposed)
                return;
            _disposed = true;
            try
            {
                if (!_process.HasExited)
                {
                    _process.StandardInput.WriteLine("quit");
                    _process.StandardInput.Flush();
                    if (!_process.WaitForExit(10_000))
                        _process.Kill();
                }
            }
            finally
            {
                _process.Dispose();
                if (!_keepFolder && Directory.Exists(_folder))
                    Directory.Delete(_folder, recursive: true);
            }
        }
    }
}
