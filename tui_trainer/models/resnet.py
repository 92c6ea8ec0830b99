"""Residual nets for 32x32 inputs: the CIFAR ResNet-18 and David Page's ResNet-9 (DAWNBench).

`zero_gamma` zeroes the scale of the last BatchNorm in each residual branch, so every block starts
as its shortcut and the net begins shallow (Goyal et al., 2017).
"""
from __future__ import annotations

import torch
from torch import nn

RESNET18_WIDTHS = [64, 128, 256, 512]
RESNET9_WIDTHS = [64, 128, 256, 512]


def kaiming_init(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, num_classes: int = 10, widths: list[int] = RESNET18_WIDTHS, zero_gamma: bool = False):
        super().__init__()
        # 3x3 stem and no max-pool: a 32x32 image has no pixels to spare
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        blocks, in_channels = [], widths[0]
        for width, stride in zip(widths, (1, 2, 2, 2)):
            blocks += [BasicBlock(in_channels, width, stride), BasicBlock(width, width, 1)]
            in_channels = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(widths[-1], num_classes)
        kaiming_init(self)
        if zero_gamma:
            for block in self.blocks:
                nn.init.zeros_(block.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.blocks(self.stem(x))).flatten(1))


def conv_bn(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU())


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.branch = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class ResNet9(nn.Module):
    def __init__(self, num_classes: int = 10, widths: list[int] = RESNET9_WIDTHS, zero_gamma: bool = False):
        super().__init__()
        prep, w1, w2, w3 = widths
        self.layers = nn.Sequential(
            conv_bn(3, prep),
            conv_bn(prep, w1), nn.MaxPool2d(2), Residual(w1),
            conv_bn(w1, w2), nn.MaxPool2d(2),
            conv_bn(w2, w3), nn.MaxPool2d(2), Residual(w3),
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(w3, num_classes, bias=False)
        kaiming_init(self)
        if zero_gamma:
            for m in self.modules():
                if isinstance(m, Residual):
                    nn.init.zeros_(m.branch[-1][1].weight)  # BN of the branch's last conv_bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Page's 0.125 keeps the initial logits small without a bias or a separate init
        return self.head(self.pool(self.layers(x)).flatten(1)) * 0.125


def build_resnet18(num_classes: int, widths: list[int], zero_gamma: bool = False) -> ResNet18:
    widths = list(widths) or RESNET18_WIDTHS
    if len(widths) != 4:
        raise ValueError(f"resnet18 takes 4 widths (one per stage), got {len(widths)}: {widths}")
    return ResNet18(num_classes, widths, zero_gamma)


def build_resnet9(num_classes: int, widths: list[int], zero_gamma: bool = False) -> ResNet9:
    widths = list(widths) or RESNET9_WIDTHS
    if len(widths) != 4:
        raise ValueError(f"resnet9 takes 4 widths (prep, layer1, layer2, layer3), got {len(widths)}: {widths}")
    return ResNet9(num_classes, widths, zero_gamma)
