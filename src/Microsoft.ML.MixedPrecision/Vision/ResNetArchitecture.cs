namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>The residual network layouts the image classifier can train.</summary>
    public enum ResNetArchitecture
    {
        /// <summary>Chosen from the image size: <see cref="ResNetSmall"/> up to 64 pixels, <see cref="ResNet18"/> above.</summary>
        Auto = -1,

        /// <summary>
        /// For small images (about 28 to 64 pixels, e.g. Fashion-MNIST, CIFAR): a 3×3 stem without max pooling and three
        /// stages of two basic blocks (32, 64, 128 channels; stride 2 at stages 2 and 3). About 0.7 M parameters.
        /// </summary>
        ResNetSmall = 0,

        /// <summary>
        /// The ImageNet ResNet-18 layout (7×7 stride-2 stem, 3×3 max pooling, four stages of two basic blocks, 64 to 512
        /// channels). Meant for images of 96 pixels and more. About 11 M parameters.
        /// </summary>
        ResNet18 = 1,

        /// <summary>
        /// <see cref="ResNetSmall"/> at half the width (16, 32, 64 channels; about 0.18 M parameters): roughly twice as fast,
        /// for quick runs on small images.
        /// </summary>
        ResNetTiny = 2,
    }
}
