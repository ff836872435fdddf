namespace Microsoft.ML.MixedPrecision
{
    /// <summary>The residual network layouts the image classifier can train.</summary>
    public enum ResNetArchitecture
    {
        /// <summary>
        /// <see cref="PretrainedResNet18"/> when <c>PretrainedModelPath</c> is set, or when the default weights file is found and the data is small (under 10,000 training rows)
        /// or the images are larger than 64 pixels; otherwise trained from scratch: <see cref="ResNetSmall"/> up to 64 pixels,
        /// <see cref="ResNet18"/> above. The log says which and why.
        /// </summary>
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

        /// <summary>
        /// Transfer learning from a pretrained network, with a new linear head for the label's classes: the ResNet-family ONNX
        /// file that <c>PretrainedModelPath</c> names (torchvision's ResNet-18 to -152, Wide ResNet, ResNeXt, as torch.onnx.export
        /// writes them), or by default CNTK's ImageNet-pretrained ResNet-18 (four stages of 2, 2, 2 and 3 basic blocks, 64 to 512
        /// channels, about 15.9 M parameters) from the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18. Images are RGB at
        /// 128 pixels by default. The log says which network was read.
        /// </summary>
        PretrainedResNet18 = 3,
    }
}
