using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;
using Microsoft.ML.MixedPrecision.Text;
using TextClassification;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Workloads
{
    /// <summary>
    /// The text sample's trainer: the default Transformer encoder (2 layers, width 128, FFN 512), at most 64 tokens,
    /// the trainer's default batch and optimizer, on Debian's fortune quotes in four languages.
    /// </summary>
    internal sealed class TextWorkload : Workload
    {
        private const int MaxLength = 64;
        private static readonly TextClassificationTrainer.Options Defaults = new TextClassificationTrainer.Options { MaxSequenceLength = MaxLength };
        private List<FortuneQuotes.Quote> _quotes;
        private TextTokenizer _tokenizer;

        public override string Name => "text";
        public override int BatchSize => Defaults.BatchSize;
        public override double LearningRate => Defaults.LearningRate;
        public override double WeightDecay => Defaults.WeightDecay;
        public override double ClipNorm => Defaults.GradientClipNorm ?? double.PositiveInfinity;

        private List<FortuneQuotes.Quote> Quotes(BenchSettings settings)
            => _quotes ??= FortuneQuotes.Load(settings.TextQuotesPerLanguage, settings.Seed);

        private static long LabelIndex(string language) => Array.FindIndex(FortuneQuotes.Packages, p => p.Language == language);

        // The whole epoch (the estimator's data) but its warm-up batches, padded to their longest text as the trainer pads them.
        public override int BareBatches(BenchSettings settings) => settings.Quick ? 8 : int.MaxValue;

        // A whole pass over the prebuilt batches: every segment then holds the same padded lengths, so segments compare.
        public override int StepsPerSegment(BenchSettings settings) => Batches.Count;

        public override void LoadBareData(BenchSettings settings, int maxBatches)
        {
            var quotes = Quotes(settings);
            // The trainer's own tokenizer, learned from the training texts with the trainer's defaults.
            var vocabulary = TextVocabulary.Learn(quotes.Select(q => q.Text), Defaults.MinTokenCount, Defaults.MaxVocabularySize);
            _tokenizer = new TextTokenizer(vocabulary, MaxLength, pairs: false);
            var data = new TextTrainingData(quotes.Select(q => _tokenizer.Encode(q.Text)).ToArray(), quotes.Select(q => LabelIndex(q.Label)).ToArray());
            PrebuildBatches(data, settings.Seed, maxBatches);
            if (!settings.Quick)
                DropFirstBatches(EstimatorWarmupBatches(settings)); // the batches the estimator's clock times (the quick run keeps its 8)
        }

        public override Module CreateModel(int seed)
        {
            manual_seed(seed);
            return new TextTransformer(new TextTransformerShape
            {
                VocabularySize = _tokenizer.IdCount,
                MaxLength = MaxLength,
                Width = Defaults.EmbeddingSize,
                Heads = Defaults.NumberOfHeads,
                Layers = Defaults.NumberOfLayers,
                FeedForward = Defaults.FeedForwardSize,
                Dropout = Defaults.Dropout,
                Classes = FortuneQuotes.Packages.Length,
                Pooling = Defaults.Pooling,
            });
        }

        public override double TrainingFlopsPerExample(Module model)
        {
            var text = (TextTransformer)model;
            double flops = Batches.Sum(b => FlopCounter.TextForward(text, b.Input.shape[0], b.Input.shape[1]));
            long examples = Batches.Sum(b => b.Input.shape[0]);
            return FlopCounter.TrainingToForward * flops / examples;
        }

        public override IEnumerable<LayerCase> LayerCases(Module model)
        {
            var text = (TextTransformer)model;
            long batch = BatchSize, length = (long)Math.Round(Batches.Average(b => (double)b.Input.shape[1]));
            long width = text.Shape.Width, heads = text.Shape.Heads, layers = text.Shape.Layers;
            // The embedding output and the two residual branches of each block are dropped out; attention weights too.
            return TransformerLayerCases.Build(text.modules().OfType<TransformerBlock>().SelectMany(b => b.modules().OfType<Linear>()),
                batch, length, width, heads, (int)layers, text.Shape.Dropout, text.Shape.Dropout, 1 + 2 * (int)layers);
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
                Encoder = TextEncoderKind.FromScratch, // this workload is the encoder from scratch (minilm: the pretrained one)
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
            var rows = Enumerable.Range(0, settings.ScoringTransformRows).Select(i => quotes[i % quotes.Count]).ToList();
            return ScoringTimer.Measure(modelPath, rows, settings);
        }
    }
}
