"""ResNet-18 (He et al., "Deep Residual Learning", CVPR 2016), all real-valued: the float
counterpart the BNN literature compares Bi-Real Net-18 and XNOR-Net ResNet-18 with
(reports/literature.md). torchvision's `resnet18` layout, input 3x224x224:

    conv 7x7/2 3->64 (no bias), BN, ReLU, max-pool 3/2
    4 stages of 2 basic blocks (two 3x3 convs, BN, ReLU; identity shortcut, or 1x1/2 conv +
    BN where the stage opens), widths 64, 128, 256, 512
    global average pool, FC 512 -> 1000 (with bias)
"""

from __future__ import annotations

import torch
from torch import nn

from xncost.models.bireal import BIREAL_WIDTHS, IMAGENET_CLASSES, stage_plan
from xncost.models.bnn_layers import float_conv


class BasicBlock(nn.Module):
    """Two real-valued 3x3 convolutions and the block's shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = float_conv(c_in, c_out, 3, stride)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = float_conv(c_out, c_out, 3, 1)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                float_conv(c_in, c_out, 1, stride), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + shortcut)


class ResNet18(nn.Module):
    """[B, in_channels, H, W] -> [B, num_classes]."""

    def __init__(self, num_classes: int = IMAGENET_CLASSES, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = float_conv(in_channels, 64, 7, 2)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layers = nn.Sequential(*(BasicBlock(*step) for step in stage_plan((2, 2, 2, 2))))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(BIREAL_WIDTHS[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layers(x))
        return self.fc(torch.flatten(x, 1))
