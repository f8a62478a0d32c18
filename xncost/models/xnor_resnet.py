"""XNOR-Net ResNet-18 (Rastegari et al. 2016, Table 1 "ResNet-18"), in the form the Bi-Real Net
and ReActNet papers tabulate it as their XNOR-Net baseline.

ResNet-18's basic blocks (two 3x3 convolutions, the shortcut around both) with each 3x3
convolution an XNOR-Net block, BN -> `XnorConv2d` (binary input and weights, scales K and
alpha_W, Eq. 20), as XNOR-Net's Fig. 3 orders it. Real-valued, as XNOR-Net keeps them: the
first convolution (7x7/2 with BN, ReLU and max-pool 3/2), the FC 512 -> 1000 and, as in
Bi-Real Net's comparison, the downsampling 1x1 shortcut convolutions (with BN).
"""

from __future__ import annotations

import torch
from torch import nn

from xncost.models.bireal import BIREAL_WIDTHS, IMAGENET_CLASSES, stage_plan
from xncost.models.bnn_layers import float_conv
from xncost.nn.xnor import XnorConv2d

XNOR_RESNET18_BLOCKS = (2, 2, 2, 2)  # two-convolution basic blocks per stage


class XnorBasicBlock(nn.Module):
    """BN -> XnorConv2d 3x3 (stride) -> BN -> XnorConv2d 3x3, plus the shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = XnorConv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = XnorConv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                float_conv(c_in, c_out, 1, stride), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.bn2(self.conv1(self.bn1(x))))
        return y + (x if self.downsample is None else self.downsample(x))


class XnorResNet18(nn.Module):
    """[B, in_channels, H, W] -> [B, num_classes]."""

    def __init__(self, num_classes: int = IMAGENET_CLASSES, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            float_conv(in_channels, 64, 7, 2),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        plan = stage_plan(XNOR_RESNET18_BLOCKS)
        self.blocks = nn.Sequential(*(XnorBasicBlock(*step) for step in plan))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(BIREAL_WIDTHS[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(x, 1))
