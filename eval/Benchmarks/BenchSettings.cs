using System;
using System.Globalization;
using System.IO;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;

namespace Microsoft.ML.MixedPrecision.Benchmarks
{
    /// <summary>Sizes of one benchmark run. <c>--quick</c> is a smoke check (under a minute); the default is the full run.</summary>
    internal sealed class BenchSettings
    {
        public bool Quick { get; private set; }
        public string OutputFolder { get; private set; } = Path.Combine("artifacts", "bench");
        public int Seed { get; private set; } = 1;

        // Each repetition times a bare-loop segment and an estimator fit in both precisions.
        public int Repetitions { get; private set; } = 4;

        // Bare TorchSharp loop: warm-up steps once per model, then one timed segment per precision and repetition.
        public int BareWarmupSteps { get; private set; } = 3;
        public int ImageStepsPerSegment { get; private set; } = 16;
        // The pretrained ResNet18 at 128 px costs 4.0 GFLOP per training example, ~8× the image workload's ResNetSmall:
        // fewer steps, fits of fewer batches, two repetitions (still one FP32-first, one AMP-first) and one memory child
        // per precision keep its run to ~3 min on 2 idle cores.
        public int PretrainedRepetitions { get; private set; } = 2;
        public int PretrainedStepsPerSegment { get; private set; } = 4;

        // ML.NET estimator: one epoch per fit, the first batches of each fit are warm-up.
        public int EstimatorWarmupBatches { get; private set; } = 5;
        public int PretrainedEstimatorWarmupBatches { get; private set; } = 2; // of 64 images, each ~1-3 s
        public int ImageTrainingImages { get; private set; } = 6400;
        public int TextQuotesPerLanguage { get; private set; } = 1250;
        public int PretrainedTrainingImages { get; private set; } = 512; // 8 batches, 6 timed
        // The MiniLM fine-tune: 25 bucketed batches of 32 quotes per epoch, the whole epoch in the bare loop as in "text".
        public int MiniLmQuotesPerLanguage { get; private set; } = 200;

        // Memory: a fresh process per measurement, so peak RSS belongs to one precision only.
        public int MemoryRepetitions { get; private set; } = 2;
        public int PretrainedMemoryRepetitions { get; private set; } = 1; // each child loads the weights and runs ~2-3 s steps
        public int MemorySteps { get; private set; } = 4;

        // Scoring the saved model.
        public int ScoringTransformRows { get; private set; } = 2000;
        public int ScoringEngineRows { get; private set; } = 500;
        public int PretrainedScoringRows { get; private set; } = 256; // Transform and PredictionEngine

        public int GemmSize { get; private set; } = 2048;

        /// <summary><c>--soak [steps]</c>: only the leak soak (Measurement/Soak.cs): AMP steps, then Fit/Save/Load/Transform cycles.</summary>
        public bool SoakOnly { get; private set; }
        public int SoakSteps { get; private set; } = 2000;
        /// <summary><c>--soak-cycles N</c>: Fit/Save/Load/Transform cycles per trainer after the steps (0: the steps only).</summary>
        public int SoakCycles { get; private set; } = 12;

        /// <summary>
        /// <c>--peer</c>: also time the PyTorch peer (Debian's python3-torch, Peer/peer_bench.py) on the same batches,
        /// interleaved with our bare loop, after checking it mirrors ours over <see cref="PeerParitySteps"/> steps.
        /// </summary>
        public bool Peer { get; private set; }
        public int PeerParitySteps { get; private set; } = 3;

        /// <summary><c>--peer-folder DIR</c>: where the peer's weights and batches go, kept after the run (default: a temporary folder, deleted).</summary>
        public string PeerFolder { get; private set; }

        /// <summary>
        /// Whether AMP (bf16 autocast) is timed. By default only on a CPU with native bf16 (AVX512-BF16 or AMX): elsewhere
        /// libtorch runs bf16 on reference kernels (PyTorch measured 4 GFLOP/s against fp32's 137 on a Zen 3 EPYC), the
        /// trainers' Auto trains in float32, and a full run would take hours; the run then times FP32 only (the AMP
        /// figures are empty). <c>--force-amp</c> times bf16 anyway.
        /// </summary>
        public bool Amp { get; private set; } = AmpCapabilities.CpuHasFastBFloat16;

        /// <summary>The precisions of one repetition in their interleaved order (false = FP32, true = AMP).</summary>
        public bool[] Precisions(int repetition) => Amp ? Stats.InterleavedOrder(repetition) : new[] { false };

        /// <summary>Only this workload ("image", "text", "pretrained" or "minilm"); null runs all. A partial run's JSON holds only what ran.</summary>
        public string Only { get; private set; }

        /// <summary>
        /// <c>--max-batch-only</c>: only the largest batch within the memory budget per precision (Measurement/MaxBatch.cs),
        /// with <c>--only</c> for one workload. A full run measures it after each workload's memory; <c>--quick</c> leaves it out.
        /// </summary>
        public bool MaxBatchOnly { get; private set; }

        public static BenchSettings Parse(string[] args)
        {
            var s = new BenchSettings();
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--quick":
                        s.Quick = true;
                        s.BareWarmupSteps = 2;
                        s.Repetitions = 1;
                        s.ImageStepsPerSegment = 3;
                        s.PretrainedRepetitions = 1;
                        s.PretrainedStepsPerSegment = 2;
                        s.EstimatorWarmupBatches = 2;
                        s.ImageTrainingImages = 896;
                        s.TextQuotesPerLanguage = 120;
                        s.PretrainedTrainingImages = 256;
                        s.MiniLmQuotesPerLanguage = 40;
                        s.MemoryRepetitions = 1;
                        s.MemorySteps = 2;
                        s.ScoringTransformRows = 256;
                        s.ScoringEngineRows = 64;
                        s.PretrainedScoringRows = 64;
                        break;
                    case "--soak":
                        s.SoakOnly = true;
                        if (i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out int steps))
                        {
                            if (steps < 1)
                                throw new ArgumentException("--soak needs at least 1 step.");
                            s.SoakSteps = steps;
                            i++;
                        }
                        s.TextQuotesPerLanguage = 120; // small fits: the cycles, not the fit, are the point
                        s.ImageTrainingImages = 896;
                        break;

                    case "--soak-cycles":
                        s.SoakCycles = int.Parse(Next(), NumberStyles.None, CultureInfo.InvariantCulture);
                        break;
                    case "--peer": s.Peer = true; break;
                    case "--max-batch-only": s.MaxBatchOnly = true; break;
                    case "--force-amp": s.Amp = true; break;
                    case "--peer-folder": s.PeerFolder = Next(); break;
                    case "--out": s.OutputFolder = Next(); break;
                    case "--only": s.Only = Next(); break;
                    case "--seed": s.Seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--repetitions": s.Repetitions = s.PretrainedRepetitions = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    default: throw new ArgumentException($"unknown option '{args[i]}' (--quick, --peer, --peer-folder DIR, --force-amp, --out DIR, --seed N, --repetitions N, --only image|text|pretrained|minilm, --max-batch-only, --soak [steps], --soak-cycles N)");
                }
            }
            return s;
        }
    }
}
