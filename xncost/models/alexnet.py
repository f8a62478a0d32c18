"""AlexNet of the XNOR-Net Torch code (models/alexnet.lua, models/alexnetxnor.lua).

Input 3x224x224; the two FC layers of 4096 are 6x6 and 1x1 convolutions, as in the original.

- ``mode="float"`` and ``"bwn"`` (alexnet.lua, trained with -binaryWeight for BWN): each
  layer is conv, BN (eps 1e-3), ReLU; max-pool 3/2 after layers 1, 2 and 5; spatial dropout
  before the two FC layers (p = 0.1, the BWN training command of that code); last a 1x1
  conv to the classes.
  In BWN the convolutions 2-7 are binary-weight XnorConv2d; the first and last stay float.
- ``mode="xnor"`` (alexnetxnor.lua): float conv 1, BN (no affine), ReLU, max-pool; then
  blocks BN (eps 1e-4, no affine) -> XnorConv2d (binary input and weights), max-pool after
  blocks 2 and 5; then BN (no affine), ReLU and a float 1x1 conv to the classes.
"""

from __future__ import annotations

import torch
from torch import nn

from xncost.errors import XncostError
from xncost.nn.xnor import XnorConv2d

ALEXNET_MODES = ("float", "bwn", "xnor")
ALEXNET_INPUT_SIDE = 224
# (out channels, kernel, stride, padding, max-pool after) of conv layers 1-7; layer 8 is 1x1.
_LAYERS = (
    (96, 11, 4, 2, True),
    (256, 5, 1, 2, True),
    (384, 3, 1, 1, False),
    (384, 3, 1, 1, False),
    (256, 3, 1, 1, True),
    (4096, 6, 1, 0, False),
    (4096, 1, 1, 0, False),
)


def _conv(c_in: int, c_out: int, k: int, s: int, p: int, mode: str) -> nn.Module:
    if mode == "float":
        return nn.Conv2d(c_in, c_out, k, s, p)
    return XnorConv2d(c_in, c_out, k, s, p, mode=mode)


class AlexNet(nn.Module):
    """[B, in_channels, 224, 224] -> [B, num_classes]."""

    def __init__(
        self,
        mode: str = "float",
        num_classes: int = 10,
        in_channels: int = 3,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if mode not in ALEXNET_MODES:
            raise XncostError(
                f"unknown AlexNet mode {mode!r}; expected one of {', '.join(ALEXNET_MODES)}"
            )
        self.mode = mode
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        c = in_channels
        for i, (c_out, k, s, p, pool) in enumerate(_LAYERS):
            if i == 0:
                bn_eps, affine = (1e-3, True) if mode != "xnor" else (1e-5, False)
                layers += [
                    nn.Conv2d(c, c_out, k, s, p),
                    nn.BatchNorm2d(c_out, eps=bn_eps, affine=affine),
                    nn.ReLU(inplace=True),
                ]
            elif mode == "xnor":
                layers += [
                    nn.BatchNorm2d(c, eps=1e-4, affine=False),
                    XnorConv2d(c, c_out, k, s, p, mode="xnor"),
                ]
            else:
                if i >= 5:
                    layers.append(nn.Dropout2d(dropout))
                layers += [
                    _conv(c, c_out, k, s, p, mode),
                    nn.BatchNorm2d(c_out, eps=1e-3),
                    nn.ReLU(inplace=True),
                ]
            if pool:
                layers.append(nn.MaxPool2d(3, 2))
            c = c_out
        if mode == "xnor":
            layers += [nn.BatchNorm2d(c, eps=1e-3, affine=False), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(c, num_classes, 1))
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).reshape(x.shape[0], self.num_classes)
