using System.Collections.Generic;

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>
    /// A fitted image classifier: stock pre-processing (decode, resize, extract pixels) → ApplyOnnxModel (the FP32 ResNet)
    /// → Score (class probabilities, slots named by class) and PredictedLabel (key with the label's key values).
    /// </summary>
    public sealed class ImageClassificationTransformer : ClassifierTransformer
    {
        internal ImageClassificationTransformer(ITransformer scoringChain, IReadOnlyList<string> classNames, TrainingSummary summary,
            ResNetArchitecture architecture, int channels, int height, int width)
            : base(scoringChain, classNames, summary)
        {
            Architecture = architecture;
            Channels = channels;
            ImageHeight = height;
            ImageWidth = width;
        }

        /// <summary>The network trained (<see cref="ResNetArchitecture.Auto"/> resolved).</summary>
        public ResNetArchitecture Architecture { get; }
        /// <summary>Color channels the network reads: 3, or 1 for gray images.</summary>
        public int Channels { get; }
        /// <summary>Height in pixels the images are resized to before scoring.</summary>
        public int ImageHeight { get; }
        /// <summary>Width in pixels the images are resized to before scoring.</summary>
        public int ImageWidth { get; }
    }
}
