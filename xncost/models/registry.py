"""Named reference models: the paper's ResNet-50 / MobileNetV2 models (Tables 4, 8), each with
and without upsampling (Sections 4.3.1, 4.3.2), plus NIN and AlexNet in float, BWN and XNOR
form (after XNOR-Net-PyTorch and XNOR-Net's Torch7 code).

The paper's models are every backbone with every head of the layer registry
(`xncost.core.layers.head_names`): `resnet50` and `mobilenetv2` with their FC heads, and
`resnet_LAYER`, `mobilenet_LAYER` for each capsule layer (the paper's eight models are those
of dr, xnodr and xnidr). `MODELS` is read from the layer registry on each access, so a layer
registered later has its models too.

Default inputs: 3x224x224 with upsampling (the MNIST / CIFAR-10 setting), 3x32x32 without;
NIN 3x32x32, AlexNet 3x224x224. ``variant="paper"`` builds what the paper's text and tables
describe (ResNet FC head on the flattened map; MobileNet PrimaryCaps N = 160);
``variant="code"`` what the authors' code does (global average pooling before the ResNet FC
head; MobileNet PrimaryCaps on the full 1280-channel map, its 1x1 conv 1280 -> 1024 giving
N = 128). See `xncost.models.heads`.

Published networks for ImageNet (3x224x224, 1000 classes), each a module of its own and one
`PUBLISHED_NETWORKS` row: Bi-Real Net-18 and -34, XNOR-Net ResNet-18, ReActNet-A (any side
that is a multiple of 32; `xncost.models.bireal`, `xnor_resnet`, `reactnet`;
reports/literature.md) and ViT-B/16 (multiples of 16; `xncost.models.transformers`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import torch
from torch import nn

from xncost.core.layers import FC_HEAD, LAYERS, LayerSpec, get_layer, head_names
from xncost.core.shapes import BACKBONE_LABELS, BACKBONES
from xncost.errors import XncostError
from xncost.models.alexnet import ALEXNET_INPUT_SIDE, AlexNet
from xncost.models.bireal import IMAGENET_CLASSES, IMAGENET_SIDE, BiRealNet
from xncost.models.heads import (
    FC_HIDDEN,
    VARIANTS,
    build_head,
    check_head,
)
from xncost.models.mobilenetv2 import MobileNetV2, mobilenetv2_feature_side
from xncost.models.nin import NIN, NIN_INPUT_SIDE
from xncost.models.reactnet import ReActNetA
from xncost.models.resnet import ResNet50, resnet50_feature_side
from xncost.models.resnet18 import ResNet18
from xncost.models.transformers import VIT_B16, vit_b16
from xncost.models.xnor_resnet import XnorResNet18

UP_INPUT_SIDE = 224
NOUP_INPUT_SIDE = 32


Builder = Callable[[int, int, int], nn.Module]  # (num_classes, in_channels, side) -> model


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry: a paper model (`family` a backbone, `kind` its head) or a network
    with a module of its own (`build`, which takes the classes, input channels and side;
    `side_step`: the side must divide by it, None: the network takes `input_side` only)."""

    name: str
    description: str
    family: str
    kind: str
    input_side: int
    input_side_noup: int | None = None
    num_classes: int = 10
    build: Builder | None = field(default=None, compare=False)
    side_step: int | None = None

    @property
    def has_noup(self) -> bool:
        """Whether the model has a without-upsampling variant."""
        return self.input_side_noup is not None

    @property
    def fixed_side(self) -> bool:
        """Whether the model takes its own input side only."""
        return self.build is not None and self.side_step is None

    def default_input_side(self, upsampling: bool = True) -> int:
        """Default square input side for the given upsampling setting."""
        if upsampling:
            return self.input_side
        if self.input_side_noup is None:
            raise XncostError(f"model {self.name!r} has no variant without upsampling")
        return self.input_side_noup

    def check_side(self, side: int) -> None:
        """Refuse a side the network cannot take."""
        if self.fixed_side and side != self.input_side:
            raise XncostError(
                f"model {self.name!r} takes {self.input_side}x{self.input_side} inputs only"
            )
        if self.side_step is not None and side % self.side_step:
            raise XncostError(
                f"model {self.name!r} takes square inputs whose side is a multiple of "
                f"{self.side_step}, got {side}"
            )


def _sideless(cls: Callable[..., nn.Module], *args: object) -> Builder:
    """The builder of `cls(*args, num_classes, in_channels)`, whatever the side."""

    def build(num_classes: int, in_channels: int, side: int) -> nn.Module:
        return cls(*args, num_classes, in_channels)

    return build


MODEL_PREFIXES = {"resnet50": "resnet", "mobilenetv2": "mobilenet"}  # resnet_xnodr, ...
PAPER_CLASSES = 10


# The published networks, each a module of its own (reports/literature.md): name, family,
# kind, description, builder, side step (five stride-2 stages: 32; ViT's patch: 16)
PUBLISHED_NETWORKS = (
    (
        "birealnet18",
        "bireal",
        "18",
        "Bi-Real Net-18 (Liu et al. 2018)",
        _sideless(BiRealNet, 18),
        32,
    ),
    (
        "birealnet34",
        "bireal",
        "34",
        "Bi-Real Net-34 (Liu et al. 2018)",
        _sideless(BiRealNet, 34),
        32,
    ),
    (
        "xnor-resnet18",
        "xnor-resnet",
        "18",
        "XNOR-Net ResNet-18 (Rastegari et al. 2016)",
        _sideless(XnorResNet18),
        32,
    ),
    ("reactnet-a", "reactnet", "a", "ReActNet-A (Liu et al. 2020)", _sideless(ReActNetA), 32),
    ("resnet18", "resnet18", "float", "ResNet-18 (He et al. 2016)", _sideless(ResNet18), 32),
    (
        "vit-b16",
        "vit",
        "b16",
        "ViT-B/16 (Dosovitskiy et al. 2021), torchvision's vit_b_16 layout",
        vit_b16,
        VIT_B16["patch_size"],
    ),
)


def model_name(backbone: str, head: str) -> str:
    """The registered model of the paper's ``backbone`` ending in ``head``: the backbone's
    own name for the FC head, else PREFIX_HEAD (resnet50, xnbdr -> resnet_xnbdr)."""
    _check_backbone(backbone)
    check_head(head)
    return backbone if head == FC_HEAD else f"{MODEL_PREFIXES[backbone]}_{head}"


def _paper_spec(family: str, head: str) -> ModelSpec:
    label = BACKBONE_LABELS[family]
    if head == FC_HEAD:
        dims = "-".join(map(str, (*FC_HIDDEN[family], PAPER_CLASSES)))
        description = f"{label} with its FC head {dims} (Table 10)"
    else:
        layer = get_layer(head).label
        description = f"{label} with PrimaryCaps and a {layer} capsule head (Fig. 1)"
    name = model_name(family, head)
    return ModelSpec(name, description, family, head, UP_INPUT_SIDE, NOUP_INPUT_SIDE)


@lru_cache(maxsize=1)
def _specs(layers: tuple[LayerSpec, ...]) -> dict[str, ModelSpec]:
    """Every model, for the registered `layers` (the argument keys the cache)."""
    specs = {
        spec.name: spec
        for spec in (_paper_spec(family, head) for family in BACKBONES for head in head_names())
    }
    for family, cls, label, source, side in (
        (
            "nin",
            NIN,
            "Network-in-Network for CIFAR-10",
            "jiecaoyu/XNOR-Net-PyTorch",
            NIN_INPUT_SIDE,
        ),
        ("alexnet", AlexNet, "AlexNet of XNOR-Net", "XNOR-Net's Torch7 code", ALEXNET_INPUT_SIDE),
    ):
        for mode, mode_label in (
            ("float", "float"),
            ("bwn", "binary weights (BWN)"),
            ("xnor", "XNOR"),
        ):
            name = family if mode == "float" else f"{family}-{mode}"
            specs[name] = ModelSpec(
                name,
                f"{label}, {mode_label} (after {source})",
                family,
                mode,
                side,
                build=_sideless(cls, mode),
            )
    for name, family, kind, label, build, step in PUBLISHED_NETWORKS:
        specs[name] = ModelSpec(
            name,
            f"{label} (ImageNet, {IMAGENET_CLASSES} classes)",
            family,
            kind,
            IMAGENET_SIDE,
            num_classes=IMAGENET_CLASSES,
            build=build,
            side_step=step,
        )
    return specs


class _Models(Mapping[str, ModelSpec]):
    """The model registry, read-only, derived from the layer registry on each access."""

    def _current(self) -> dict[str, ModelSpec]:
        return _specs(tuple(LAYERS.values()))

    def __getitem__(self, name: str) -> ModelSpec:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


MODELS: Mapping[str, ModelSpec] = _Models()


def list_models() -> list[str]:
    """Registered model names, in registry order."""
    return list(MODELS)


def get_spec(name: str) -> ModelSpec:
    """The registry entry of ``name``; unknown names raise XncostError."""
    try:
        return MODELS[name]
    except KeyError:
        raise XncostError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}") from None


def _check_positive(label: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise XncostError(f"{label} must be a positive integer, got {value!r}")
    return value


def _check_backbone(backbone: str) -> None:
    if backbone not in BACKBONES:
        raise XncostError(f"unknown backbone {backbone!r}; expected one of {', '.join(BACKBONES)}")


def feature_map_side(backbone: str, upsampling: bool, input_side: int) -> int:
    """Side s of the backbone's final s x s feature map for a square input of ``input_side``.

    ResNet-50: 224 -> 7, 108 -> 4; without upsampling 32 -> 4, 36 -> 5. MobileNetV2:
    224 -> 7, 108 -> 4; without upsampling 32 -> 2, 36 -> 3. Dropping the last stage for a
    capsule head does not change s (those layers have stride 1).
    """
    _check_backbone(backbone)
    _check_positive("input_side", input_side)
    if backbone == "resnet50":
        return resnet50_feature_side(upsampling, input_side)
    return mobilenetv2_feature_side(upsampling, input_side)


def build_backbone(
    name: str,
    *,
    upsampling: bool,
    in_channels: int = 3,
    head: str = "fc",
    variant: str = "paper",
) -> nn.Module:
    """The MobileNetV2 or ResNet-50 feature extractor; its ``out_channels`` attribute is set.

    With a capsule ``head`` the last stage is left out, as the PrimaryCaps layer replaces it
    (Fig. 1): ResNet-50 ends after its 15th bottleneck (2048 channels), MobileNetV2 (variant
    "paper") before its last 1x1 conv (320 channels). MobileNetV2 variant "code" keeps it.
    """
    _check_backbone(name)
    _check_positive("in_channels", in_channels)
    check_head(head)
    if variant not in VARIANTS:
        raise XncostError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    caps = head != FC_HEAD
    if name == "resnet50":
        return ResNet50(upsampling=upsampling, in_channels=in_channels, include_last_block=not caps)
    return MobileNetV2(
        upsampling=upsampling,
        in_channels=in_channels,
        include_last_conv=not (caps and variant == "paper"),
    )


class BackboneHeadModel(nn.Module):
    """backbone -> head, [B, C, H, W] -> [B, num_classes]; the head's capsule layer, if any,
    is ``head.caps``."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def build_model(
    name: str,
    *,
    upsampling: bool = True,
    num_classes: int | None = None,
    in_channels: int = 3,
    input_side: int | None = None,
    variant: str = "paper",
) -> nn.Module:
    """Build the registered model ``name``; unknown names and bad arguments raise XncostError.

    ``num_classes`` defaults to the spec's (10; 1000 for the published ImageNet networks).

    ``input_side`` (default: the spec's) only changes the ResNet FC head, whose first layer
    takes the flattened s x s x 2048 map. NIN and AlexNet accept only their own input side
    and have no variant without upsampling. The model gets attributes ``spec``,
    ``upsampling``, ``variant`` and ``input_shape`` (C, H, W).
    """
    spec = get_spec(name)
    num_classes = spec.num_classes if num_classes is None else num_classes
    _check_positive("num_classes", num_classes)
    _check_positive("in_channels", in_channels)
    if variant not in VARIANTS:
        raise XncostError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    if variant != "paper" and spec.family not in BACKBONES:
        raise XncostError(f"model {name!r} has no {variant!r} variant (only the paper's models do)")
    default_side = spec.default_input_side(upsampling)
    side = default_side if input_side is None else _check_positive("input_side", input_side)
    model: nn.Module
    if spec.build is not None:
        spec.check_side(side)
        model = spec.build(num_classes, in_channels, side)
    else:
        backbone = build_backbone(
            spec.family,
            upsampling=upsampling,
            in_channels=in_channels,
            head=spec.kind,
            variant=variant,
        )
        head = build_head(
            spec.family,
            spec.kind,
            feature_channels=backbone.out_channels,
            feature_map_side=feature_map_side(spec.family, upsampling, side),
            num_classes=num_classes,
            variant=variant,
        )
        model = BackboneHeadModel(backbone, head)
    model.spec = spec
    model.upsampling = upsampling
    model.variant = variant
    model.input_shape = (in_channels, side, side)
    return model


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (the paper's PARA column counts Keras' trainable parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameter_count(name: str, **kwargs: object) -> int:
    """Parameters of ``build_model(name, **kwargs)``, built on the meta device (no memory)."""
    with torch.device("meta"):
        model = build_model(name, **kwargs)  # type: ignore[arg-type]
    return count_parameters(model)
