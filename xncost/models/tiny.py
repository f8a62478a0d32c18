"""A small conv backbone with an FC or capsule head, for fast validation training on CPU.

The capsule heads follow the paper's design (Section 3, Fig. 1): a PrimaryCaps-like layer
(conv to N·D channels, reshape to [B, N, D], squash, Eq. 4) feeds a capsule layer of the
layer registry (`xncost.core.layers`; M = num_classes, E = 16, r = 3) and the class scores are
the output capsule lengths. The capsule layer is the attribute `caps` of the model. The FC
head is one linear classifier over the flattened feature map.
"""

from __future__ import annotations

import torch
from torch import nn

from xncost.core.layers import FC_HEAD
from xncost.errors import XncostError
from xncost.models.heads import capsule_layer, check_head
from xncost.nn.capsule import squash

WIDTHS = (32, 64)
PRIMARY_TYPES = 8
DIM_IN = 8
DIM_OUT = 16
ITERATIONS = 3
MAX_FEATURE_SIDE = 5


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class TinyBackbone(nn.Module):
    """Conv-BN-ReLU blocks: two at full resolution, then stride-2 blocks until side <= 5."""

    def __init__(self, in_channels: int, image_side: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for w in WIDTHS:
            layers.append(_conv_bn_relu(c, w, 1))
            c = w
        side = image_side
        while side > MAX_FEATURE_SIDE:
            layers.append(_conv_bn_relu(c, c, 2))
            side = (side + 1) // 2
        self.features = nn.Sequential(*layers)
        self.out_channels = c
        self.out_side = side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class PrimaryCaps(nn.Module):
    """Conv to T·D channels, reshape to N = T·h·w capsules of dimension D, squash (Eq. 4)."""

    def __init__(self, in_channels: int, types: int, dim: int) -> None:
        super().__init__()
        self.types, self.dim = types, dim
        self.conv = nn.Conv2d(in_channels, types * dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        b, _, h, w = y.shape
        y = y.view(b, self.types, self.dim, h, w).permute(0, 1, 3, 4, 2)
        return squash(y.reshape(b, self.types * h * w, self.dim))


class TinyCapsNet(nn.Module):
    """TinyBackbone -> PrimaryCaps -> capsule layer (`caps`) -> capsule lengths as class scores."""

    def __init__(self, head: str, in_channels: int, image_side: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = TinyBackbone(in_channels, image_side)
        self.primary = PrimaryCaps(self.backbone.out_channels, PRIMARY_TYPES, DIM_IN)
        caps_in = PRIMARY_TYPES * self.backbone.out_side**2
        self.caps = capsule_layer(head, caps_in, num_classes, DIM_IN, DIM_OUT, ITERATIONS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.caps(self.primary(self.backbone(x)))
        return torch.linalg.vector_norm(v, dim=-1)


class TinyFCNet(nn.Module):
    """TinyBackbone -> flatten -> one linear classifier (`fc`) giving logits."""

    def __init__(self, in_channels: int, image_side: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = TinyBackbone(in_channels, image_side)
        features = self.backbone.out_channels * self.backbone.out_side**2
        self.fc = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.backbone(x), 1))


def build_tiny_model(
    head: str, *, in_channels: int, image_side: int, num_classes: int
) -> nn.Module:
    """The tiny validation model with head `fc` or a capsule layer of `xncost.core.layers`."""
    check_head(head)
    for name, value in (
        ("in_channels", in_channels),
        ("image_side", image_side),
        ("num_classes", num_classes),
    ):
        if not isinstance(value, int) or value < 1:
            raise XncostError(f"{name} must be a positive integer, got {value!r}")
    if head == FC_HEAD:
        return TinyFCNet(in_channels, image_side, num_classes)
    return TinyCapsNet(head, in_channels, image_side, num_classes)
