"""Validated layer shapes and the paper's presets (docs/reference.md, Table 10, Table 5 settings).

Symbols: N = caps_in, M = caps_out, D = dim_in, E = dim_out, r = iterations, B = batch.
A shape holds plain positive ints; `CapsShape.symbols()` returns the same dataclass holding
sympy symbols, so the formula functions in `xncost.core.accounting` evaluate exactly on ints and
symbolically on symbols.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields
from typing import Any

from xncost.errors import XncostError
from xncost.exact import check_digits, parse_int


def positive_int(value: Any, name: str) -> int:
    """Return `value` as an int if it is a positive integer (bools and 2.5 are rejected)."""
    if isinstance(value, bool):
        raise XncostError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer() and value > 0:
            return int(value)
        raise XncostError(f"{name} must be a positive integer, got {value!r}")
    if value <= 0:
        raise XncostError(f"{name} must be a positive integer, got {value}")
    return check_digits(int(value), name)


def _is_symbolic(value: Any) -> bool:
    return type(value).__module__.startswith("sympy")


@dataclass(frozen=True)
class CapsShape:
    """A capsule fully connected layer: N input capsules of D dims to M capsules of E dims."""

    caps_in: Any
    caps_out: Any
    dim_in: Any
    dim_out: Any
    iterations: Any = 3
    batch: Any = 1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not _is_symbolic(value):
                object.__setattr__(self, f.name, positive_int(value, f.name))

    @classmethod
    def symbols(cls) -> CapsShape:
        """The shape as positive integer sympy symbols N, M, D, E, r, B."""
        import sympy as sp

        n, m, d, e, r, b = sp.symbols("N M D E r B", positive=True, integer=True)
        return cls(n, m, d, e, r, b)

    @property
    def N(self) -> Any:  # noqa: N802 - the paper's symbol
        return self.caps_in

    @property
    def M(self) -> Any:  # noqa: N802
        return self.caps_out

    @property
    def D(self) -> Any:  # noqa: N802
        return self.dim_in

    @property
    def E(self) -> Any:  # noqa: N802
        return self.dim_out

    @property
    def r(self) -> Any:
        return self.iterations

    @property
    def B(self) -> Any:  # noqa: N802
        return self.batch

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def replace(self, **changes: Any) -> CapsShape:
        return CapsShape(**{**self.as_dict(), **changes})


@dataclass(frozen=True)
class FCShape:
    """A stack of fully connected layers dims[0] -> dims[1] -> ... (Table 10)."""

    dims: tuple[Any, ...]
    batch: Any = 1

    def __post_init__(self) -> None:
        dims = tuple(self.dims)
        if len(dims) < 2:
            raise XncostError(f"an FC head needs at least two sizes, got {len(dims)}")
        object.__setattr__(
            self,
            "dims",
            tuple(
                d if _is_symbolic(d) else positive_int(d, f"dims[{i}]") for i, d in enumerate(dims)
            ),
        )
        if not _is_symbolic(self.batch):
            object.__setattr__(self, "batch", positive_int(self.batch, "batch"))

    @property
    def B(self) -> Any:  # noqa: N802
        return self.batch

    def as_dict(self) -> dict[str, Any]:
        return {"dims": list(self.dims), "batch": self.batch}


def parse_dims(text: str) -> tuple[int, ...]:
    """Parse '1280,512,256,128,10' into a tuple of positive ints."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) < 2 or any(p == "" for p in parts):
        raise XncostError(
            f"--dims must be a comma-separated list of at least two sizes, got {text!r}"
        )
    out = []
    for i, p in enumerate(parts):
        out.append(parse_int(p, f"--dims entry {i}"))
    return FCShape(tuple(out)).dims


# Paper heads (docs/reference.md): 1280 channels / 8 = 160 capsules, 2048 / 8 = 256;
# authors' code: 128.
CAPS_OUT, DIM_IN, DIM_OUT, ITERATIONS = 10, 8, 16, 3
CAPS_PRESETS: dict[str, CapsShape] = {
    "mobilenet": CapsShape(160, CAPS_OUT, DIM_IN, DIM_OUT, ITERATIONS, 1),
    "resnet": CapsShape(256, CAPS_OUT, DIM_IN, DIM_OUT, ITERATIONS, 1),
    "mobilenet-code": CapsShape(128, CAPS_OUT, DIM_IN, DIM_OUT, ITERATIONS, 1),
}

# Table 10 FC heads. MobileNetV2 pools to 1280 features; ResNet-50's printed figures are of a
# flattened side x side x 2048 map (docs/paper.md).
# the paper's backbones, Table 4's order; training also runs on xncost's small `tiny`
BACKBONE_LABELS = {"resnet50": "ResNet-50", "mobilenetv2": "MobileNetV2"}
BACKBONES = tuple(BACKBONE_LABELS)
TRAIN_BACKBONES = ("tiny", *BACKBONES)
MOBILENET_FC_DIMS = (1280, 512, 256, 128, 10)
RESNET_FC_HIDDEN = (1024, 512, 10)
RESNET_CHANNELS = 2048


def resnet_fc_dims(map_side: int) -> tuple[int, ...]:
    """ResNet-50 FC head on a flattened map_side x map_side x 2048 feature map."""
    return (map_side * map_side * RESNET_CHANNELS, *RESNET_FC_HIDDEN)


def _conv_out(side: int, kernel: int, stride: int, padding: int) -> int:
    return (side + 2 * padding - kernel) // stride + 1


def resnet50_map_side(input_side: int, upsampling: bool) -> int:
    """Side of ResNet-50's last feature map (stem, max-pool, three stride-2 stages;
    docs/reference.md).

    Without upsampling the paper changes the stem to a 3x3/1 conv and the max-pool to size 1.
    """
    side = positive_int(input_side, "input_side")
    if upsampling:
        side = _conv_out(side, 7, 2, 3)
        side = _conv_out(side, 3, 2, 1)
    for _ in range(3):
        side = _conv_out(side, 3, 2, 1)
    return side


@dataclass(frozen=True)
class Setting:
    """One column group of Tables 5/7/9: data set(s), upsampling, input side, map sides."""

    key: str
    label: str
    upsampling: bool
    input_side: int
    paper_map_side: int  # the side the printed ResNet FC figure implies (docs/paper.md)

    @property
    def real_map_side(self) -> int:
        """What ResNet-50 really produces at this input (docs/paper.md)."""
        return resnet50_map_side(self.input_side, self.upsampling)


SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in (
        Setting("up-mnist-cifar10", "MNIST and CIFAR-10 (with upsampling)", True, 224, 4),
        Setting("up-multimnist", "MultiMNIST (with upsampling)", True, 108, 2),
        Setting("noup-mnist-cifar10", "MNIST and CIFAR-10 (without upsampling)", False, 32, 2),
        Setting("noup-multimnist", "MultiMNIST (without upsampling)", False, 36, 3),
    )
}
