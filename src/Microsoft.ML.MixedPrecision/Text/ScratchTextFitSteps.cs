using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Training;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Text
{
    /// <summary>A Transformer encoder from random weights: a vocabulary learned from the training data (or read from VocabularyPath), exported with its tokenizer.</summary>
    internal sealed class ScratchTextFitSteps : TextFitSteps
    {
        private TextTokenizer _tokenizer = null!; // set by CreateModel, which the template calls first
        private TextTransformer _model = null!;

        public ScratchTextFitSteps(TextClassificationTrainer.Options options, MLContext builder, TrainingLog log)
            : base(options, builder, log)
        {
        }

        public override string ModelDescription => $"a text encoder ({_model.Shape}, {_model.Shape.Classes} classes)";

        public override Module CreateModel(TextRows train, int classCount)
        {
            var o = Options;
            _tokenizer = CreateTokenizer(train);
            var shape = new TextTransformerShape
            {
                VocabularySize = _tokenizer.IdCount,
                MaxLength = o.MaxSequenceLength,
                Width = o.EmbeddingSize,
                Heads = o.NumberOfHeads,
                Layers = o.NumberOfLayers,
                FeedForward = o.FeedForwardSize,
                Dropout = o.Dropout,
                Classes = classCount,
                Pooling = o.Pooling,
                Segments = _tokenizer.Pairs,
            };
            _model = new TextTransformer(shape);
            Log.Info($"Text encoder: {shape}.");
            return _model;
        }

        public override TrainingSummary Train(FitContext fit, Module model, TextRows train, TextRows? validation)
        {
            var (trainData, validationData) = Encode(train, validation, _tokenizer.Encode, _tokenizer.MaxLength, TextTokenizer.UnknownId,
                bucketByDefault: false);
            return fit.Train(model, trainData, validationData, new TrainingPhase
            {
                Epochs = fit.Epochs,
                ActivationProbe = () => _model.LastActivationDType?.ToString(),
            });
        }

        public override OnnxGraphBuilder ExportLogits(Module model, out string logitsName)
            => TextClassifierOnnx.Build(_model, _tokenizer, OnnxInput, out logitsName);

        public override TextClassificationTransformer CreateTransformer(byte[] onnxModel, IDataView input, VBuffer<ReadOnlyMemory<char>> classNames,
            int classCount, TrainingSummary summary)
            => CreateTransformer(onnxModel, input, classNames, classCount, summary, _tokenizer.IdCount, _model.Shape.ToString());

        private TextTokenizer CreateTokenizer(TextRows train)
        {
            var o = Options;
            List<string> vocabulary;
            if (o.VocabularyPath != null)
            {
                vocabulary = TextVocabulary.Read(o.VocabularyPath, out int skipped);
                if (skipped > 0)
                    Log.Warning($"Vocabulary file '{o.VocabularyPath}': skipped {skipped} lines (blank, duplicates, or not a single lowercased token).");
                if (vocabulary.Count == 0)
                    throw new ArgumentException($"Option VocabularyPath: '{o.VocabularyPath}' holds no usable token (one lowercased word or punctuation mark per line).", nameof(TextClassificationTrainer.Options.VocabularyPath));
            }
            else
            {
                vocabulary = TextVocabulary.Learn(train.First.Concat(train.Second), o.MinTokenCount, o.MaxVocabularySize);
                if (vocabulary.Count == 0)
                    throw new ArgumentException($"No token of the training data's text column(s) occurs {o.MinTokenCount} times (option MinTokenCount): the vocabulary would be empty.");
            }
            Log.Info($"Vocabulary: {vocabulary.Count} tokens + 4 special ({(o.VocabularyPath != null ? "from " + o.VocabularyPath : "learned from the training data")}).");
            return new TextTokenizer(vocabulary, o.MaxSequenceLength, o.Sentence2ColumnName != null);
        }
    }
}
