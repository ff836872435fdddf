using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.ML.MixedPrecision.Text.Pretrained;
using TextClassification;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Workloads
{
    /// <summary>
    /// What the text trainer does by default: the fine-tune of the pretrained all-MiniLM-L6-v2 (6 layers of width 384,
    /// FFN 1536) with a new head, WordPiece ids up to 64 tokens, length-bucketed batches of the trainer's default size,
    /// the encoder at <see cref="TextClassificationTrainer.Options.EncoderLearningRateFactor"/> × the head's rate and no
    /// weight decay on LayerNorm and bias parameters. Data: the fortune quotes of the text workload.
    /// </summary>
    internal sealed class MiniLmWorkload : Workload
    {
        private const int MaxLength = 64;
        private static readonly TextClassificationTrainer.Options Defaults = new TextClassificationTrainer.Options();
        private List<FortuneQuotes.Quote> _quotes;
        private MiniLmPackage _package;

        public override string Name => "minilm";
        public override int BatchSize => Defaults.BatchSize;
        public override double LearningRate => Defaults.LearningRate;
        public override double WeightDecay => Defaults.WeightDecay;
        public override double ClipNorm => Defaults.GradientClipNorm ?? double.PositiveInfinity;

        private MiniLmPackage Package => _package ??= MiniLmPackage.Read(MiniLmPackage.Find()
            ?? throw new System.IO.FileNotFoundException($"The pretrained MiniLM was not found ({string.Join(", ", MiniLmPackage.Candidates())}). {MiniLmPackage.Fix}"));

        private List<FortuneQuotes.Quote> Quotes(BenchSettings settings)
            => _quotes ??= FortuneQuotes.Load(settings.MiniLmQuotesPerLanguage, settings.Seed);

        // The whole (bucketed) epoch but the estimator's warm-up batches (LoadBareData drops them): a segment of
        // Batches.Count steps then times exactly the batches, and so the padded lengths, that the estimator times.
        public override int BareBatches(BenchSettings settings) => int.MaxValue;

        public override int StepsPerSegment(BenchSettings settings) => Batches.Count;

        public override void LoadBareData(BenchSettings settings, int maxBatches)
        {
            var quotes = Quotes(settings);
            var tokenizer = new WordPieceTokenizer(Package.Vocabulary, MaxLength);
            var labels = quotes.Select(q => (long)Array.FindIndex(FortuneQuotes.Packages, p => p.Language == q.Label)).ToArray();
            var data = new TextTrainingData(quotes.Select(q => tokenizer.Encode(q.Text).Ids).ToArray(), labels, bucketByLength: true);
            PrebuildBatches(data, settings.Seed, maxBatches);
            DropFirstBatches(EstimatorWarmupBatches(settings));
        }

        public override Module CreateModel(int seed)
        {
            manual_seed(seed); // the new head's initial weights
            var model = new BertClassifier(BertShape.MiniLmL6(FortuneQuotes.Packages.Length) with
            {
                HiddenDropout = Defaults.Dropout,
                AttentionDropout = Defaults.AttentionDropout,
                Pooling = Defaults.Pooling,
            });
            BertImport.Load(model, PretrainedTextEncoder.Read(Package.Path, vocabularyPath: null));
            model.TrainWordEmbeddings(Defaults.TrainWordEmbeddings);
            return model;
        }

        /// <summary>The trainer's groups (MiniLmFitSteps): encoder at the lower rate, head at the full rate, each split by weight decay.</summary>
        public override IReadOnlyList<ParameterGroup> ParameterGroups(Module model)
        {
            var bert = (BertClassifier)model;
            return ParameterGroup.DecayMatricesOnly(bert.EncoderParameters(), Defaults.EncoderLearningRateFactor)
                .Concat(ParameterGroup.DecayMatricesOnly(bert.HeadParameters(), 1.0)).ToArray();
        }

        public override double TrainingFlopsPerExample(Module model)
        {
            var bert = (BertClassifier)model;
            double flops = Batches.Sum(b => FlopCounter.BertForward(bert, b.Input.shape[0], b.Input.shape[1]));
            long examples = Batches.Sum(b => b.Input.shape[0]);
            return FlopCounter.TrainingToForward * flops / examples;
        }

        public override IEnumerable<LayerCase> LayerCases(Module model)
        {
            var bert = (BertClassifier)model;
            long length = (long)Math.Round(Batches.Average(b => (double)b.Input.shape[1]));
            // Hidden dropout on the embeddings' output and on each layer's two residual branches.
            return TransformerLayerCases.Build(bert.Layers.SelectMany(l => l.modules().OfType<Linear>()), BatchSize, length,
                bert.Shape.Width, bert.Shape.Heads, bert.Shape.Layers, bert.Shape.AttentionDropout, bert.Shape.HiddenDropout, 1 + 2 * bert.Shape.Layers);
        }

        public override EstimatorRun TrainWithEstimator(bool amp, BenchSettings settings, string modelPath)
        {
            var quotes = Quotes(settings);
            var mlContext = new MLContext(seed: settings.Seed);
            var train = mlContext.Data.LoadFromEnumerable(quotes);
            var clock = new SteadyStateClock(EstimatorWarmupBatches(settings));
            var options = new TextClassificationTrainer.Options
            {
                LabelColumnName = "Label",
                Sentence1ColumnName = "Text",
                MaxSequenceLength = MaxLength,
                Encoder = TextEncoderKind.MiniLmL6, // what Auto picks, pinned
                Epochs = 1,
                ValidationSetFraction = 0, // time training only
                Seed = settings.Seed,
                MetricsEveryBatches = clock.ReportEvery,
                MetricsCallback = clock.OnMetrics,
            };
            return FitAndSaveTextPipeline(mlContext, options, amp, train, quotes.Count, clock, modelPath);
        }

        public override ScoringRun Score(string modelPath, BenchSettings settings)
        {
            var quotes = Quotes(settings);
            var rows = Enumerable.Range(0, Math.Min(settings.ScoringTransformRows, 500)).Select(i => quotes[i % quotes.Count]).ToList();
            return ScoringTimer.Measure(modelPath, rows, settings);
        }
    }
}
