using System;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Kernels;
using Microsoft.ML.MixedPrecision.Text.Pretrained;
using Microsoft.ML.MixedPrecision.Training;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision
{
    public sealed partial class TextClassificationTrainer
    {
        /// <summary>Epochs of a MiniLM fine-tune when <see cref="ClassificationTrainerOptionsBase.Epochs"/> is null.</summary>
        internal const int PretrainedEpochs = 3;

        /// <summary>
        /// The pretrained text encoder's parts of the one Fit: all-MiniLM-L6-v2 with a new head, WordPiece ids (the same
        /// tokenization inside the exported graph), BERT's fine-tuning recipe — AdamW, linear warm-up and decay, the
        /// encoder at <see cref="Options.EncoderLearningRateFactor"/> of the head's rate, no weight decay on LayerNorm and
        /// bias parameters, batches bucketed by length.
        /// </summary>
        private sealed class MiniLmFitSteps : FitSteps<TextRows, TextClassificationTransformer>
        {
            private readonly TextClassificationTrainer _trainer;
            private readonly TrainingLog _log;
            private readonly MiniLmPackage _package;
            private WordPieceTokenizer _tokenizer;
            private BertClassifier _model;

            public MiniLmFitSteps(TextClassificationTrainer trainer, TrainingLog log, MiniLmPackage package)
            {
                _trainer = trainer;
                _log = log;
                _package = package;
            }

            public override string ModelDescription => $"all-MiniLM-L6-v2 ({_model.Shape}, {_model.Shape.Classes} classes)";

            public override TextRows Read(IDataView data, string what) => _trainer.ReadRows(data, what, _log);

            public override Module CreateModel(TextRows train, int classCount)
            {
                var o = _trainer.TrainerOptions;
                _tokenizer = new WordPieceTokenizer(_package.Vocabulary, o.MaxSequenceLength);
                var shape = BertShape.MiniLmL6(classCount) with
                {
                    HiddenDropout = o.Dropout,
                    AttentionDropout = o.AttentionDropout,
                    Pooling = o.Pooling,
                };
                _model = new BertClassifier(shape);
                MiniLmImport.Load(_model, _package);
                _model.TrainWordEmbeddings(o.TrainWordEmbeddings);
                _log.Info($"Text encoder: all-MiniLM-L6-v2, {shape}, a new head for {classCount} classes.");
                return _model;
            }

            public override TrainingSummary Train(FitContext fit, Module model, TextRows train, TextRows validation)
            {
                var o = _trainer.TrainerOptions;
                long unknown = _tokenizer.UnknownId;
                var trainData = _trainer.Encode(train, Encode, _tokenizer.MaxLength, unknown, "training data", _log, bucket: o.BucketByLength ?? true);
                var validationData = validation == null ? null
                    : _trainer.Encode(validation, Encode, _tokenizer.MaxLength, unknown, "validation set", _log, bucket: false);
                var groups = ParameterGroup.DecayMatricesOnly(_model.EncoderParameters(), o.EncoderLearningRateFactor)
                    .Concat(ParameterGroup.DecayMatricesOnly(_model.HeadParameters(), 1.0))
                    .ToArray();
                return fit.Train(model, trainData, validationData, new TrainingPhase
                {
                    Epochs = o.Epochs ?? PretrainedEpochs,
                    DefaultSchedule = LearningRateScheduleKind.LinearWithWarmup,
                    ParameterGroups = groups,
                    ActivationProbe = () => _model.LastActivationDType?.ToString(),
                });
            }

            private long[] Encode(string first, string second) => _tokenizer.Encode(first, second).Ids;

            public override OnnxGraphBuilder ExportLogits(Module model, out string logitsName)
                => MiniLmClassifierOnnx.Build(_model, _tokenizer, _trainer.OnnxInput, _trainer.Pairs, out logitsName);

            public override TextClassificationTransformer CreateTransformer(byte[] onnxModel, IDataView input, VBuffer<ReadOnlyMemory<char>> classNames,
                int classCount, TrainingSummary summary)
                => _trainer.CreateTransformer(onnxModel, input, classNames, classCount, summary, _package.Vocabulary.Length,
                    "all-MiniLM-L6-v2 fine-tuned: " + _model.Shape);
        }
    }
}
