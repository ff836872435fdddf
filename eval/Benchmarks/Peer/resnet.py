"""Mirror of src/.../Vision/ResNet.cs, BasicBlock.cs and InputNormalization.cs, layer for layer; attribute names are
the C# field names, so the state_dict keys are TorchSharp's and the exported weights load with strict=True."""
import torch
from torch import nn
from torch.nn import functional as F


class InputNormalization(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.register_buffer("mean", torch.full((1, channels, 1, 1), 0.5))
        self.register_buffer("std", torch.full((1, channels, 1, 1), 0.5))

    def forward(self, x):
        return (x - self.mean) / self.std


class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(y + shortcut)


class ResNet(nn.Module):
    """arch "small": 3x3 stem, stages 32/64/128 of 2 blocks; "pretrained18": CNTK's ResNet18 (7x7/2 stem, max pool,
    stages 64..512 of 2, 2, 2, 3 blocks)."""

    def __init__(self, in_channels, classes, arch):
        super().__init__()
        self.normalize = InputNormalization(in_channels)
        if arch == "small":
            widths, depths = [32, 64, 128], [2, 2, 2]
            self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
            self.maxpool = None
        elif arch == "pretrained18":
            widths, depths = [64, 128, 256, 512], [2, 2, 2, 3]
            self.conv1 = nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            raise ValueError(f"unknown ResNet arch {arch!r}")
        self.bn1 = nn.BatchNorm2d(widths[0])
        blocks, width = [], widths[0]
        for stage, (out, depth) in enumerate(zip(widths, depths)):
            for b in range(depth):
                blocks.append(BasicBlock(width, out, 2 if stage > 0 and b == 0 else 1))
                width = out
        self.blocks = nn.ModuleList(blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(self.normalize(x))))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for block in self.blocks:
            x = block(x)
        return self.fc(self.avgpool(x).flatten(1))
