"""Network-in-Network for CIFAR-10 (after github.com/jiecaoyu/XNOR-Net-PyTorch).

cfg = [192, 160, 96, 192, 192, 192, 192, 192], input 3x32x32, the layout of pytorch-xnornet:

    conv 5x5 3->192, BN, ReLU
    [192->160 1x1], [160->96 1x1], max-pool 3/2
    [96->192 5x5], [192->192 1x1], [192->192 1x1], avg-pool 3/2
    [192->192 3x3], [192->192 1x1]
    conv 1x1 192->10, BN, ReLU, avg-pool 8

A bracket is conv, BN, ReLU in the float model (``mode="float"``), and BN (on its input),
XnorConv2d, ReLU in the binary models (``mode="bwn"`` / ``"xnor"``), whose first and last
convolutions stay float. Every variant has 969,822 parameters (ptflops prints 969.82 k in the
output the XNOR-Net README of github.com/onion-rain/MCTS quotes; docs/attributions.md): the
binary blocks keep a real weight and bias per filter and one BN of the same width.
"""

from __future__ import annotations

import torch
from torch import nn

from xncost.errors import XncostError
from xncost.nn.xnor import XnorConv2d

NIN_CFG = (192, 160, 96, 192, 192, 192, 192, 192)
NIN_MODES = ("float", "bwn", "xnor")
NIN_INPUT_SIDE = 32
# (kernel, padding) of the eight cfg convolutions; a pool follows the 3rd and the 6th.
_CONVS = ((5, 2), (1, 0), (1, 0), (5, 2), (1, 0), (1, 0), (3, 1), (1, 0))


class ConvBNReLU(nn.Sequential):
    """Float conv -> BN -> ReLU (pytorch-xnornet ``conv_bn_relu``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, padding: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, 1, padding),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class BinaryConvBlock(nn.Sequential):
    """BN -> XnorConv2d (binarizes its input in xnor mode) -> ReLU (``Binary_conv_bn_relu``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, padding: int, mode: str) -> None:
        super().__init__(
            nn.BatchNorm2d(c_in),
            XnorConv2d(c_in, c_out, kernel, 1, padding, mode=mode),
            nn.ReLU(inplace=True),
        )


class NIN(nn.Module):
    """[B, in_channels, 32, 32] -> [B, num_classes]."""

    def __init__(self, mode: str = "float", num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if mode not in NIN_MODES:
            raise XncostError(f"unknown NIN mode {mode!r}; expected one of {', '.join(NIN_MODES)}")
        self.mode = mode
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        c = in_channels
        for i, (c_out, (k, p)) in enumerate(zip(NIN_CFG, _CONVS, strict=True)):
            if i == 0 or mode == "float":
                layers.append(ConvBNReLU(c, c_out, k, p))
            else:
                layers.append(BinaryConvBlock(c, c_out, k, p, mode))
            if i == 2:
                layers.append(nn.MaxPool2d(3, 2, 1))
            elif i == 5:
                layers.append(nn.AvgPool2d(3, 2, 1))
            c = c_out
        layers += [ConvBNReLU(c, num_classes, 1, 0), nn.AvgPool2d(8, 1, 0)]
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).reshape(x.shape[0], self.num_classes)
