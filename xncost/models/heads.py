"""Classification heads: the FC heads of Table 10 and the capsule heads (paper Fig. 1).

FC heads (Table 10, docs/reference.md): MobileNetV2: global average pool, then
1280-512-256-128-10; ResNet-50: the s x s x 2048 map flattened into 1024-512-10 (the
figures of Tables 5 and 9 are of a flattened map), or with ``pool="gap"`` global average
pooling first (the authors' code). ReLU between the linear layers.

Capsule heads (docs/reference.md): PrimaryCaps -> capsule layer (any capsule layer of the
layer registry, `xncost.core.layers`: DR, XnODR, XnIDR, XnBDR, ...; M = num_classes, E = 16,
r = 3) -> BatchNorm -> ReLU -> length (the L2 norm over E), giving [B, M] class scores.
The capsule layer is the attribute ``caps``. PrimaryCaps replaces the backbone's last stage
(Fig. 1: "we exchange the last convolutional layer and all FC layers"):
- MobileNetV2: depthwise 3x3 conv, BN, 1x1 conv to D*N channels, global average pool,
  reshape [N, D], squash (Eq. 4), BN, ReLU. ``variant="paper"``: on the 320-channel map of
  the backbone without its last 1x1 conv, N = 1280 / 8 = 160. ``variant="code"`` (the
  authors' code): on the full backbone's 1280 channels, 1x1 conv 1280 -> 1024, N = 128.
- ResNet-50: one identity bottleneck (512, 512, 2048) in place of the backbone's last one,
  global average pool, reshape [256, 8].
BatchNorm over capsules normalises the last axis (Keras' default axis=-1).
"""

from __future__ import annotations

import torch
from torch import nn

from xncost.core.layers import FC_HEAD, get_layer, head_names
from xncost.core.shapes import BACKBONES
from xncost.errors import XncostError
from xncost.models.resnet import OUT_CHANNELS as RESNET_CHANNELS
from xncost.models.resnet import Bottleneck
from xncost.nn.capsule import Squash

VARIANTS = ("paper", "code")
POOLS = ("gap", "flatten")

FC_HIDDEN = {"mobilenetv2": (512, 256, 128), "resnet50": (1024, 512)}
PRIMARY_DIM = 8
CAPS_DIM_OUT = 16
ITERATIONS = 3
MOBILENET_PRIMARY_CHANNELS = {"paper": 1280, "code": 1024}
RESNET_PRIMARY_WIDTH = 512


class FCHead(nn.Module):
    """Pool or flatten, then Linear-ReLU-...-Linear; ``dims`` = (in, hidden..., classes)."""

    def __init__(
        self,
        in_channels: int,
        hidden: tuple[int, ...],
        num_classes: int,
        *,
        pool: str = "gap",
        feature_map_side: int = 1,
    ) -> None:
        super().__init__()
        if pool not in POOLS:
            raise XncostError(f"unknown pool {pool!r}; expected one of {', '.join(POOLS)}")
        self.pool_mode = pool
        in_features = in_channels if pool == "gap" else in_channels * feature_map_side**2
        self.dims = (in_features, *hidden, num_classes)
        self.pool = nn.AdaptiveAvgPool2d(1) if pool == "gap" else None
        self.flatten = nn.Flatten()
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(self.dims[:-1], self.dims[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(self.dims) - 2:
                layers.append(nn.ReLU(inplace=True))
        self.fc = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = self.pool(x)
        return self.fc(self.flatten(x))

    def extra_repr(self) -> str:
        return f"pool={self.pool_mode!r}, dims={self.dims}"


class LastAxisBatchNorm(nn.Module):
    """BatchNorm over the last axis of [B, N, D] (Keras BatchNormalization, axis=-1)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x.transpose(1, 2)).transpose(1, 2)


class Length(nn.Module):
    """Capsule length: L2 norm over the last axis, [B, M, E] -> [B, M]."""

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(v, dim=-1)


class ToCapsules(nn.Module):
    """Reshape [B, N*D, 1, 1] (after global pooling) to capsules [B, N, D]."""

    def __init__(self, caps: int, dim: int) -> None:
        super().__init__()
        self.caps, self.dim = caps, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.caps, self.dim)

    def extra_repr(self) -> str:
        return f"caps={self.caps}, dim={self.dim}"


class MobileNetPrimaryCaps(nn.Module):
    """Depthwise 3x3, BN, 1x1 conv to N*D, GAP, reshape [N, D], squash, BN, ReLU."""

    def __init__(self, in_channels: int, caps: int, dim: int = PRIMARY_DIM) -> None:
        super().__init__()
        self.caps, self.dim = caps, dim
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels)
        self.bn = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, caps * dim, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.to_capsules = ToCapsules(caps, dim)
        self.squash = Squash()
        self.caps_bn = LastAxisBatchNorm(dim)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.pointwise(self.bn(self.depthwise(x))))
        return self.relu(self.caps_bn(self.squash(self.to_capsules(x))))


class ResNetPrimaryCaps(nn.Module):
    """Identity bottleneck (512, 512, 2048), GAP, reshape [2048 / D, D]."""

    def __init__(
        self, in_channels: int = RESNET_CHANNELS, dim: int = PRIMARY_DIM, conv_bias: bool = True
    ) -> None:
        super().__init__()
        if in_channels != RESNET_CHANNELS:
            raise XncostError(
                f"the ResNet PrimaryCaps block needs {RESNET_CHANNELS} input channels, "
                f"got {in_channels}"
            )
        self.caps, self.dim = in_channels // dim, dim
        self.block = Bottleneck(in_channels, RESNET_PRIMARY_WIDTH, 1, conv_bias)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.to_capsules = ToCapsules(self.caps, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_capsules(self.pool(self.block(x)))


def capsule_layer(
    head: str, caps_in: int, caps_out: int, dim_in: int, dim_out: int, iterations: int
) -> nn.Module:
    """The registered capsule layer ``head`` (`xncost.core.layers`) at the given shape."""
    check_head(head)
    spec = get_layer(head)
    if not spec.is_caps:
        raise XncostError(f"{head!r} is not a capsule layer")
    return spec.module_class()(caps_in, caps_out, dim_in, dim_out, iterations)


def check_head(head: str) -> None:
    """XncostError unless ``head`` is a registered head (`xncost.core.layers.head_names`)."""
    _check_choice("head", head, head_names())


class CapsuleHead(nn.Module):
    """PrimaryCaps -> ``caps`` (a registered capsule layer) -> BN -> ReLU -> length: [B, M]."""

    def __init__(self, primary: nn.Module, caps: nn.Module, dim_out: int = CAPS_DIM_OUT) -> None:
        super().__init__()
        self.primary = primary
        self.caps = caps
        self.bn = LastAxisBatchNorm(dim_out)
        self.relu = nn.ReLU()
        self.length = Length()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.length(self.relu(self.bn(self.caps(self.primary(x)))))


def _check_choice(kind: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise XncostError(f"unknown {kind} {value!r}; expected one of {', '.join(allowed)}")


def build_head(
    backbone: str,
    head: str,
    *,
    feature_channels: int,
    feature_map_side: int,
    num_classes: int = 10,
    variant: str = "paper",
    pool: str | None = None,
) -> nn.Module:
    """The head ``head`` of the paper's ``backbone`` model, for a given backbone output map.

    For capsule heads pass the output of the backbone built with ``head=...`` (without its
    last stage, see `xncost.models.registry.build_backbone`). ``pool`` overrides the ResNet FC
    head's default ("flatten" for variant "paper", "gap" for "code").
    """
    _check_choice("backbone", backbone, BACKBONES)
    check_head(head)
    _check_choice("variant", variant, VARIANTS)
    for label, v in (
        ("feature_channels", feature_channels),
        ("feature_map_side", feature_map_side),
        ("num_classes", num_classes),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise XncostError(f"{label} must be a positive integer, got {v!r}")
    if head == FC_HEAD:
        if pool is None:
            pool = "flatten" if backbone == "resnet50" and variant == "paper" else "gap"
        _check_choice("pool", pool, POOLS)
        return FCHead(
            feature_channels,
            FC_HIDDEN[backbone],
            num_classes,
            pool=pool,
            feature_map_side=feature_map_side,
        )
    primary: nn.Module
    if backbone == "mobilenetv2":
        caps_in = MOBILENET_PRIMARY_CHANNELS[variant] // PRIMARY_DIM
        primary = MobileNetPrimaryCaps(feature_channels, caps_in, PRIMARY_DIM)
    else:
        primary = ResNetPrimaryCaps(feature_channels, PRIMARY_DIM)
    caps = capsule_layer(head, primary.caps, num_classes, PRIMARY_DIM, CAPS_DIM_OUT, ITERATIONS)
    return CapsuleHead(primary, caps, CAPS_DIM_OUT)
