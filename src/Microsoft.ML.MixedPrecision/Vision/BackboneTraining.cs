namespace Microsoft.ML.MixedPrecision
{
    /// <summary>How a pretrained backbone (<see cref="ResNetArchitecture.PretrainedResNet18"/>) is trained.</summary>
    public enum BackboneTraining
    {
        /// <summary>
        /// The new head first, on the frozen backbone's features (computed once; <c>HeadOnlyEpochs</c>), then the whole
        /// network (<c>Epochs</c>), the backbone at <c>BackboneLearningRateFactor</c> × the learning rate. Best accuracy.
        /// </summary>
        FineTune,

        /// <summary>
        /// Only the head trains, on the frozen backbone's features computed once (of each training image and, with
        /// AugmentationHorizontalFlip, of its mirror): about as fast as the stock DnnFeaturizeImage pipeline (ResNet18
        /// features + a linear model).
        /// </summary>
        Frozen,
    }
}
