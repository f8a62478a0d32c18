"""Registered binary layers: the classes every counting path treats as binary work.

One `register_binary` call makes a layer class binary for every path (docs/conventions.md,
"Counting paths"): the dispatch counters (`OpCounter`, the summary's `LayerCounter`) price
every product of two +-1 tensors run inside an instance in BOPs; the thop handlers price the
layer's product from its declared weight and `binary_inputs`; the summary stores its
`weights` at 1 bit plus `scales(module, name, param)` 32-bit scales (default: one per output
filter, Eq. 18 per filter). xncost's `XnorConv2d`, `XnorLinear` and XnODR's projector are
registered here; the capsule step classes `XnorAffine` and `XnorDotUpdate` are binary steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from xncost.errors import XncostError
from xncost.nn.capsule import XnorProjector
from xncost.nn.xnor import XnorConv2d, XnorLinear

ScaleFn = Callable[[nn.Module, str, torch.Tensor], int]
InputsFn = Callable[[nn.Module], bool]

BINARY_STEP_CLASSES = frozenset({"XnorAffine", "XnorDotUpdate"})
BINARY_STEP_NAMES = frozenset({"xnor_affine", "xnor_agreement", "xnor"})


def per_filter_scales(module: nn.Module, name: str, param: torch.Tensor) -> int:
    """One 32-bit alpha per output filter (Eq. 18 per filter): `param.shape[0]`."""
    return int(param.shape[0]) if param.dim() else 1


@dataclass(frozen=True)
class BinaryLayer:
    """A registered binary layer class: which parameters are stored at 1 bit, with how many
    32-bit scales, and whether its inputs are binarized too (XNOR) or stay real (BWN)."""

    cls: type
    weights: tuple[str, ...]
    scales: ScaleFn
    binary_inputs: InputsFn

    def weight(self, module: nn.Module) -> torch.Tensor | None:
        """The first 1-bit weight of an instance (None for binary activations only)."""
        return module.get_parameter(self.weights[0]) if self.weights else None


BINARY_LAYERS: dict[type, BinaryLayer] = {}


def register_binary(
    cls: type | None = None,
    *,
    weights: Sequence[str] = ("weight",),
    scales: ScaleFn | None = None,
    binary_inputs: bool | InputsFn = True,
    override: bool = False,
) -> Any:
    """Register a binary layer class (one call; or `@register_binary` as a decorator).

    Products of two +-1 tensors run inside an instance are counted as BOPs by the dispatch
    paths; the parameters named in `weights` (dotted names inside the layer; `()` for binary
    activations only) are stored at 1 bit plus `scales(module, name, param)` 32-bit scales
    (default: one per output filter). `binary_inputs` (a bool, or a function of the instance)
    tells the thop path, which sees only the layer's input and output, whether the product is
    1-bit (XNOR) or has a real operand (BWN). Registering a class twice raises unless
    `override=True`.
    """

    def do(c: type) -> type:
        if not isinstance(c, type) or not issubclass(c, nn.Module):
            raise XncostError(f"register_binary needs an nn.Module subclass, got {c!r}")
        if isinstance(weights, str):
            raise XncostError("weights must be a sequence of parameter names, not a string")
        if c in BINARY_LAYERS and not override:
            raise XncostError(
                f"{c.__name__} is already registered as binary (pass override=True to replace it)"
            )
        inputs = binary_inputs if callable(binary_inputs) else _const(bool(binary_inputs))
        BINARY_LAYERS[c] = BinaryLayer(c, tuple(weights), scales or per_filter_scales, inputs)
        return c

    return do if cls is None else do(cls)


def _const(value: bool) -> InputsFn:
    return lambda module: value


def _caps_weight_scales(module: nn.Module, name: str, param: torch.Tensor) -> int:
    """XnODR's W_Cap [N, M, D, E] is binarized over D: N*M*E alphas (Table 2 step 4)."""
    return param.numel() // param.shape[2]


def _xnor_mode(module: nn.Module) -> bool:
    return getattr(module, "mode", "xnor") == "xnor"


register_binary(XnorConv2d, binary_inputs=_xnor_mode)
register_binary(XnorLinear, binary_inputs=_xnor_mode)
register_binary(XnorProjector, weights=("weight.weight",), scales=_caps_weight_scales)


def is_binary_step(module: nn.Module | None, name: str) -> bool:
    """True for a leaf that computes +-1 dot products (Table 2 step 5, Table 3 step 10)."""
    if module is None:
        return False
    return type(module).__name__ in BINARY_STEP_CLASSES or name in BINARY_STEP_NAMES


def in_binary_layer(modules: Iterable[nn.Module]) -> bool:
    """True if one of the running modules is an instance of a registered binary layer."""
    return any(type(m) in BINARY_LAYERS for m in modules)
