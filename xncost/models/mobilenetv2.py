"""MobileNetV2 backbone (Sandler et al. 2018), width 1.0, as used in paper Section 4.3.

The standard inverted-residual configuration, 1280 output channels, ReLU6, convolutions
without bias (as in Keras applications, the authors' framework). ``upsampling=False`` is the
paper's low-resolution variant (Section 4.3.2, docs/reference.md): the first convolution's
stride 2 becomes 1. ``include_last_conv=False`` drops the final 1x1 conv 320 -> 1280, which
the capsule models replace by their PrimaryCaps layer (paper Fig. 1).
"""

from __future__ import annotations

import torch
from torch import nn

from xncost.errors import XncostError

# (expansion t, output channels c, repeats n, first stride s) per stage.
MOBILENETV2_CFG: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


def conv_out_side(side: int, kernel: int, stride: int, padding: int) -> int:
    """Output side of a convolution or pooling window: floor((s + 2p - k) / stride) + 1."""
    return (side + 2 * padding - kernel) // stride + 1


class ConvBNReLU6(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> ReLU6."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """1x1 expand (if t > 1) -> 3x3 depthwise -> 1x1 linear projection, residual if shapes agree."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBNReLU6(c_in, hidden, 1))
        layers += [
            ConvBNReLU6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.use_residual else y


class MobileNetV2(nn.Module):
    """Feature extractor: [B, in_channels, H, W] -> [B, out_channels, s, s]."""

    def __init__(
        self, *, upsampling: bool = True, in_channels: int = 3, include_last_conv: bool = True
    ) -> None:
        super().__init__()
        self.upsampling = upsampling
        self.stem = ConvBNReLU6(in_channels, STEM_CHANNELS, 3, stride=2 if upsampling else 1)
        blocks: list[nn.Module] = []
        c = STEM_CHANNELS
        for t, c_out, n, s in MOBILENETV2_CFG:
            for i in range(n):
                blocks.append(InvertedResidual(c, c_out, s if i == 0 else 1, t))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.last_conv = ConvBNReLU6(c, LAST_CHANNELS, 1) if include_last_conv else None
        self.out_channels = LAST_CHANNELS if include_last_conv else c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.last_conv(x) if self.last_conv is not None else x


def mobilenetv2_feature_side(upsampling: bool, input_side: int) -> int:
    """Side of the final feature map: the stem and each stage's first 3x3 depthwise conv."""
    side = conv_out_side(input_side, 3, 2 if upsampling else 1, 1)
    for _t, _c, _n, s in MOBILENETV2_CFG:
        side = conv_out_side(side, 3, s, 1)
    if side < 1:
        raise XncostError(f"input side {input_side} is too small for MobileNetV2")
    return side
