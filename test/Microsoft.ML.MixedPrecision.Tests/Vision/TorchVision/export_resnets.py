"""Exports small torchvision ResNets with random weights to ONNX, as a user's torch.onnx.export would.

Usage: python3 export_resnets.py OUTPUT_FOLDER [NAME ...]   (no NAME: every variant of VARIANTS below)
Each variant NAME writes NAME.onnx (torchvision's model, fc head included) and NAME_features.onnx (the same weights with
fc = Identity: its output is the pooled features the tests compare against). Runs with Debian's python3-torch 1.13 and
python3-torchvision 0.14 (build/prereqs.sh --torchvision). Nothing is downloaded.
"""
import os
import sys

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet


class SmallResNet(ResNet):
    """torchvision's ResNet (its blocks, _make_layer and forward) at chosen stage widths instead of 64/128/256/512."""

    def __init__(self, block, layers, widths, num_classes=5, groups=1, width_per_group=64):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = widths[0]
        self.dilation = 1
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)


def randomize(model, seed):
    """Random weights, and BatchNorm parameters and statistics far from the identity, so that folding them matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.num_features, generator=g))
                m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            elif isinstance(m, nn.Linear):
                m.weight.copy_(0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return model.eval()


class PlainConvNet(nn.Module):
    """Not a ResNet: convolutions without residual connections."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


def without_block_relu(model):
    """A ResNet with a layer removed: the ReLUs of stage 2's first block (one module, used twice) become identities."""
    model.layer2[0].relu = nn.Identity()
    return model


# name: (model factory, torch.onnx.export keyword arguments[, those of the _features file when they differ])
VARIANTS = {
    # What most users run: model.eval(), then torch.onnx.export with its defaults (BatchNorm folded into the convolutions).
    "basic": (lambda: randomize(SmallResNet(BasicBlock, [2, 1, 1, 1], [8, 16, 32, 64]), 1), {}),
    "bottleneck": (lambda: randomize(SmallResNet(Bottleneck, [1, 2, 1, 1], [8, 16, 32, 64]), 2), {}),
    # ResNeXt-style grouped 3x3 convolutions (torchvision's groups / width_per_group).
    "bottleneck_grouped": (lambda: randomize(SmallResNet(Bottleneck, [1, 1, 1, 1], [8, 16, 32, 64], groups=2, width_per_group=32), 3), {}),
    # BatchNormalization nodes kept: TrainingMode.PRESERVE on an eval-mode model, and TrainingMode.TRAINING.
    "basic_bn": (lambda: randomize(SmallResNet(BasicBlock, [2, 1, 1, 1], [8, 16, 32, 64]), 4), {"training": torch.onnx.TrainingMode.PRESERVE}),
    "bottleneck_bn": (lambda: randomize(SmallResNet(Bottleneck, [1, 2, 1, 1], [8, 16, 32, 64]), 5), {"training": torch.onnx.TrainingMode.PRESERVE}),
    # (Its _features file is an eval-mode export of the same weights: ONNX Runtime runs a training-mode BatchNormalization
    # with the batch's statistics.)
    "bottleneck_training": (lambda: randomize(SmallResNet(Bottleneck, [1, 1, 1, 1], [8, 16, 32, 64]), 6), {"training": torch.onnx.TrainingMode.TRAINING}, {}),
    # torchvision's own initialization (BatchNorm scale 1, shift 0): equal folded biases, which torch stores once and
    # copies with Identity nodes.
    "shared_initializers": (lambda: SmallResNet(BasicBlock, [1, 1, 1, 1], [8, 16, 32, 64]).eval(), {}),
    "not_constant_folded": (lambda: randomize(SmallResNet(BasicBlock, [1, 1, 1, 1], [8, 16, 32, 64]), 7), {"do_constant_folding": False}),
    # Not ResNet-family.
    "plain_cnn": (lambda: randomize(PlainConvNet(), 8), {}),
    "missing_relu": (lambda: without_block_relu(randomize(SmallResNet(BasicBlock, [1, 1, 1, 1], [8, 16, 32, 64]), 9)), {}),
}


# Full-size torchvision networks (random weights), exported only when named: for docs/bring-your-own-network.md's parity table.
ON_REQUEST = {
    "resnet18_full": (lambda: randomize(torchvision.models.resnet18(), 10), {}),
    "resnet50_full": (lambda: randomize(torchvision.models.resnet50(), 11), {}),
}


def export(model, path, kwargs):
    # A training-mode export traces the model in training mode, which moves the BatchNorm statistics: a fixed input keeps
    # the files the same from run to run.
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    torch.onnx.export(model, x, path, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch"}}, **kwargs)


def main():
    folder = sys.argv[1]
    names = sys.argv[2:] or list(VARIANTS)
    os.makedirs(folder, exist_ok=True)
    torch.set_num_threads(1)
    for name in names:
        factory, kwargs, *features_kwargs = {**VARIANTS, **ON_REQUEST}[name]
        model = factory()
        export(model, os.path.join(folder, name + ".onnx"), kwargs)
        if hasattr(model, "fc"):
            model.fc = nn.Identity()
            export(model, os.path.join(folder, name + "_features.onnx"), features_kwargs[0] if features_kwargs else kwargs)
        print(name)


if __name__ == "__main__":
    main()
