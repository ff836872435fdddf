using System;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Export;
using Module = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// The parts of a fit that differ between trainers. <see cref="ClassificationTrainerBase{TOptions, TTransformer}"/>
    /// runs them in one fixed order (check, read, split, seed, build, export once, train, export, chain), so every trainer
    /// validates, splits, seeds and exports the same way.
    /// </summary>
    internal abstract class FitSteps<TExamples, TTransformer> : IDisposable
        where TExamples : class, IExampleSet<TExamples>
    {
        /// <summary>Reads the labelled examples of <paramref name="data"/> (<paramref name="what"/> names it in messages).</summary>
        public abstract TExamples Read(IDataView data, string what);

        /// <summary>Builds the network for these training examples (before initial weights are loaded into it).</summary>
        public abstract Module CreateModel(TExamples train, int classCount);

        /// <summary>Names the network in messages, e.g. when initial weights do not fit it.</summary>
        public abstract string ModelDescription { get; }

        /// <summary>The fraction held out when neither ValidationSet nor ValidationSetFraction is set.</summary>
        public virtual double DefaultValidationSetFraction => ClassificationTrainerOptionsBase.DefaultValidationSetFraction;

        /// <summary>The epochs when <see cref="ClassificationTrainerOptionsBase.Epochs"/> is null (the template resolves it once, <see cref="FitContext.Epochs"/>).</summary>
        public virtual int DefaultEpochs => ClassificationTrainerOptionsBase.DefaultEpochs;

        /// <summary>Trains <paramref name="model"/>: one or more phases of the shared loop.</summary>
        public abstract TrainingSummary Train(FitContext fit, Module model, TExamples train, TExamples? validation);

        /// <summary>The FP32 network as an ONNX graph up to its logits (the template appends the classification head).</summary>
        public abstract OnnxGraphBuilder ExportLogits(Module model, out string logitsName);

        /// <summary>The fitted model: the stock scoring chain around <paramref name="onnxModel"/>.</summary>
        public abstract TTransformer CreateTransformer(byte[] onnxModel, IDataView input, VBuffer<ReadOnlyMemory<char>> classNames,
            int classCount, TrainingSummary summary);

        public virtual void Dispose()
        {
        }
    }
}
