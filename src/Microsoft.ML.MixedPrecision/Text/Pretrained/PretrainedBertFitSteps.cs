using System;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Training;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>
    /// The pretrained text encoder's parts of the one Fit: a BERT-family encoder (all-MiniLM-L6-v2 by default, or the one
    /// <see cref="TextClassificationTrainer.Options.PretrainedModelPath"/> names) with a new head, WordPiece ids (the same
    /// tokenization inside the exported graph), BERT's fine-tuning recipe — AdamW, linear warm-up and decay, the
    /// encoder at <see cref="TextClassificationTrainer.Options.EncoderLearningRateFactor"/> of the head's rate, no weight
    /// decay on LayerNorm and bias parameters, batches bucketed by length.
    /// </summary>
    internal sealed class PretrainedBertFitSteps : TextFitSteps
    {
        private readonly string _name;
        private readonly string[] _vocabulary;
        private PretrainedTextEncoder? _encoder; // its parsed graph (as large as the weights) is let go once they are imported
        private WordPieceTokenizer _tokenizer = null!; // set by CreateModel, which the template calls first
        private BertClassifier _model = null!;

        public PretrainedBertFitSteps(TextClassificationTrainer.Options options, MLContext builder, TrainingLog log, PretrainedTextEncoder encoder)
            : base(options, builder, log)
        {
            _encoder = encoder;
            _name = encoder.Name;
            _vocabulary = encoder.Vocabulary;
        }

        /// <summary>A fine-tune of a pretrained encoder needs few epochs (BERT's recipe: 2–4).</summary>
        public override int DefaultEpochs => 3;

        public override string ModelDescription => $"{_name} ({_model.Shape}, {_model.Shape.Classes} classes)";

        public override Module CreateModel(TextRows train, int classCount)
        {
            var o = Options;
            var encoder = _encoder ?? throw new InvalidOperationException("The pretrained encoder's weights were already imported.");
            _tokenizer = new WordPieceTokenizer(_vocabulary, o.MaxSequenceLength);
            var shape = encoder.Layout.Shape(classCount) with
            {
                HiddenDropout = o.Dropout,
                AttentionDropout = o.AttentionDropout,
                Pooling = o.Pooling,
                PadId = _tokenizer.PadId,
                SepId = _tokenizer.SepId,
            };
            _model = new BertClassifier(shape);
            BertImport.Load(_model, encoder);
            _encoder = null;
            _model.TrainWordEmbeddings(o.TrainWordEmbeddings);
            Log.Info($"Text encoder: {_name}, {shape}, a new head for {classCount} classes.");
            return _model;
        }

        public override TrainingSummary Train(FitContext fit, Module model, TextRows train, TextRows? validation)
        {
            var o = Options;
            var (trainData, validationData) = Encode(train, validation, EncodeIds, _tokenizer.MaxLength, _tokenizer.UnknownId,
                bucketByDefault: true);
            var groups = ParameterGroup.DecayMatricesOnly(_model.EncoderParameters(), o.EncoderLearningRateFactor)
                .Concat(ParameterGroup.DecayMatricesOnly(_model.HeadParameters(), 1.0))
                .ToArray();
            return fit.Train(model, trainData, validationData, new TrainingPhase
            {
                Epochs = fit.Epochs,
                DefaultSchedule = LearningRateScheduleKind.LinearWithWarmup,
                ParameterGroups = groups,
                ActivationProbe = () => _model.LastActivationDType?.ToString(),
            });
        }

        private long[] EncodeIds(string first, string? second) => _tokenizer.Encode(first, second).Ids;

        public override OnnxGraphBuilder ExportLogits(Module model, out string logitsName)
            => BertClassifierOnnx.Build(_model, _tokenizer, OnnxInput, Pairs, Description, out logitsName);

        public override TextClassificationTransformer CreateTransformer(byte[] onnxModel, IDataView input, VBuffer<ReadOnlyMemory<char>> classNames,
            int classCount, TrainingSummary summary)
            => CreateTransformer(onnxModel, input, classNames, classCount, summary, _vocabulary.Length, Description);

        private string Description => $"{_name} fine-tuned: {_model.Shape}";
    }
}
