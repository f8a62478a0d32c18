"""ResNet-50 backbone (He et al. 2016), bottlenecks [3, 4, 6, 3], 2048 output channels.

Follows Keras applications' ResNet50, the authors' framework (paper Section 4.3): every
convolution has a bias and a stage's stride sits on the first 1x1 convolution of its first
block and on the projection shortcut (ResNet v1). With these, the backbone has 23,534,592
trainable parameters, Keras' figure. ``upsampling=False`` is the paper's low-resolution
variant (Section 4.3.2, docs/reference.md): the 7x7/2 stem conv becomes 3x3/1 and the first
max-pool kernel 1, stride 1. ``include_last_block=False`` drops the last identity bottleneck,
which the capsule models replace by their PrimaryCaps block (paper Fig. 1).
"""

from __future__ import annotations

import torch
from torch import nn

from xncost.errors import XncostError
from xncost.models.mobilenetv2 import conv_out_side

RESNET50_BLOCKS = (3, 4, 6, 3)
RESNET50_WIDTHS = (64, 128, 256, 512)
EXPANSION = 4
OUT_CHANNELS = RESNET50_WIDTHS[-1] * EXPANSION


class Bottleneck(nn.Module):
    """1x1 (stride) -> 3x3 -> 1x1 with BatchNorm and ReLU; identity or projection shortcut."""

    def __init__(self, c_in: int, width: int, stride: int = 1, conv_bias: bool = True) -> None:
        super().__init__()
        c_out = width * EXPANSION
        self.conv1 = nn.Conv2d(c_in, width, 1, stride, bias=conv_bias)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=conv_bias)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=conv_bias)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=conv_bias), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.relu(y + identity)


def _stem_geometry(upsampling: bool) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """((kernel, stride, padding) of the stem conv, same of the first max-pool)."""
    if upsampling:
        return (7, 2, 3), (3, 2, 1)
    return (3, 1, 1), (1, 1, 0)


class ResNet50(nn.Module):
    """Feature extractor: [B, in_channels, H, W] -> [B, 2048, s, s]."""

    def __init__(
        self,
        *,
        upsampling: bool = True,
        in_channels: int = 3,
        conv_bias: bool = True,
        include_last_block: bool = True,
    ) -> None:
        super().__init__()
        self.upsampling = upsampling
        (k, s, p), (pk, ps, pp) = _stem_geometry(upsampling)
        self.conv1 = nn.Conv2d(in_channels, RESNET50_WIDTHS[0], k, s, p, bias=conv_bias)
        self.bn1 = nn.BatchNorm2d(RESNET50_WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(pk, ps, pp)
        c = RESNET50_WIDTHS[0]
        stages: list[nn.Module] = []
        for i, (n, width) in enumerate(zip(RESNET50_BLOCKS, RESNET50_WIDTHS, strict=True)):
            last_stage = i == len(RESNET50_BLOCKS) - 1
            if last_stage and not include_last_block:
                n -= 1
            blocks = []
            for j in range(n):
                blocks.append(Bottleneck(c, width, 2 if (j == 0 and i > 0) else 1, conv_bias))
                c = width * EXPANSION
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def resnet50_feature_side(upsampling: bool, input_side: int) -> int:
    """Side of the final feature map: stem conv, max-pool, and the 1x1 stride-2 convolutions."""
    (k, s, p), (pk, ps, pp) = _stem_geometry(upsampling)
    side = conv_out_side(conv_out_side(input_side, k, s, p), pk, ps, pp)
    for _stage in RESNET50_BLOCKS[1:]:
        side = conv_out_side(side, 1, 2, 0)
    if side < 1:
        raise XncostError(f"input side {input_side} is too small for ResNet-50")
    return side
