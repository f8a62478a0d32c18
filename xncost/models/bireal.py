"""Bi-Real Net-18 / -34 (Liu et al., "Bi-Real Net", ECCV 2018), as the authors' PyTorch code
builds it (liuzechun/Bi-Real-net, pytorch_implementation/BiReal18_34/birealnet.py).

ImageNet layout, input 3x224x224:

    conv 7x7/2 3->64 (real-valued, no bias), BN, max-pool 3/2
    4 stages of 1-layer-per-block units (4, 4, 4, 4 for 18 layers; 6, 8, 12, 6 for 34):
        y = BN(SignConv2d 3x3(x)) + shortcut(x)
      the shortcut is the identity, or at a stage's first block (stride 2, width doubled)
      avg-pool 2x2/2 -> real-valued conv 1x1 -> BN
    global average pool, real-valued FC 512 -> 1000 (with bias)

Real-valued: the first convolution, the three downsampling 1x1 convolutions and the FC.
Binary: the 3x3 convolutions (sign of the input and of the weights, alpha per filter).
"""

from __future__ import annotations

import torch
from torch import nn

from xncost.errors import XncostError
from xncost.models.bnn_layers import SignConv2d, avg_pool_shortcut, float_conv

BIREAL_BLOCKS = {18: (4, 4, 4, 4), 34: (6, 8, 12, 6)}
BIREAL_WIDTHS = (64, 128, 256, 512)
IMAGENET_SIDE = 224
IMAGENET_CLASSES = 1000


def stage_plan(blocks: tuple[int, ...], first: int = 64) -> list[tuple[int, int, int]]:
    """(in channels, out channels, stride) of every block of ResNet-18/34-style stages of
    widths 64, 128, 256, 512: stride 2 opens each stage after the first."""
    plan, c = [], first
    for stage, (n, width) in enumerate(zip(blocks, BIREAL_WIDTHS, strict=True)):
        for i in range(n):
            plan.append((c, width, 2 if stage > 0 and i == 0 else 1))
            c = width
    return plan


class BiRealBlock(nn.Module):
    """One binary 3x3 convolution with its real-valued shortcut (Fig. 1 of the paper)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.binary_conv = SignConv2d(c_in, c_out, 3, stride, 1)
        self.bn = nn.BatchNorm2d(c_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                avg_pool_shortcut(stride), float_conv(c_in, c_out, 1), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.bn(self.binary_conv(x)) + shortcut


class BiRealNet(nn.Module):
    """[B, in_channels, H, W] -> [B, num_classes]; ``depth`` 18 or 34."""

    def __init__(
        self, depth: int = 18, num_classes: int = IMAGENET_CLASSES, in_channels: int = 3
    ) -> None:
        super().__init__()
        if depth not in BIREAL_BLOCKS:
            raise XncostError(f"Bi-Real Net depth must be 18 or 34, got {depth!r}")
        self.conv1 = float_conv(in_channels, 64, 7, 2)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        plan = stage_plan(BIREAL_BLOCKS[depth])
        self.blocks = nn.Sequential(*(BiRealBlock(*step) for step in plan))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(BIREAL_WIDTHS[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.bn1(self.conv1(x)))
        x = self.avgpool(self.blocks(x))
        return self.fc(torch.flatten(x, 1))
