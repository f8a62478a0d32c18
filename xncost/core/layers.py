"""The layer registry: one entry per layer xncost costs (docs/architecture.md).

An entry names the layer's step function (`xncost.core.accounting`), its speed-up equation
(`xncost.core.formulas`), its reference PyTorch module (`xncost.nn`), its shape kind and the
xnorized products it computes with packed +-1 dot products. The three callables are import
paths ("module:attribute"), resolved on use, so this module imports nothing heavy: the CLI
builds its choices and help texts from it without loading the accounting, sympy or torch.
Every list of layer names in xncost derives from `LAYERS`, read when it is needed, so a
layer registered later is seen by every command (`heads`: the classifier heads of the
models and of training).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from xncost.errors import XncostError

SHAPE_KINDS = ("caps", "fc")
FC_HEAD = "fc"  # the fully connected head: a Linear/ReLU stack, no reference module


@dataclass(frozen=True)
class LayerSpec:
    """One registered layer.

    `steps` and `speedup` are "module:function" paths: `steps(shape, convention)` returns the
    layer's `Step`s; `speedup(**symbols)` takes the paper's symbols N, M, D, E, r (those it
    names) and `word`. `module` is the reference `nn.Module` class path (None for fc: the
    measurement builds a Linear/ReLU stack); a capsule layer's module is built as
    `module(caps_in, caps_out, dim_in, dim_out, iterations)`, which makes it a capsule head.
    `xnorizes` names the XNOR steps of its packed +-1 products, each the `xnor_step` of an
    `xncost.core.accounting.PROJECTORS` entry (`xnor_affine`: LP_out, Table 2; `xnor_agreement`:
    the routing agreement, Table 3); the kernel benchmark times those products.
    """

    name: str
    label: str
    description: str
    shape_kind: str
    steps: str
    module: str | None = None
    speedup: str | None = None
    speedup_label: str | None = None
    xnorizes: tuple[str, ...] = ()

    @property
    def is_caps(self) -> bool:
        return self.shape_kind == "caps"

    def step_function(self) -> Callable[..., Any]:
        return resolve(self.steps)

    def speedup_formula(self) -> Callable[..., Any] | None:
        return None if self.speedup is None else resolve(self.speedup)

    def module_class(self) -> Any:
        """The reference module class (imports torch)."""
        if self.module is None:
            raise XncostError(f"layer {self.name!r} has no reference module class")
        return resolve(self.module)


def resolve(path: str) -> Any:
    """The object at "package.module:attribute"."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


_LAYERS: dict[str, LayerSpec] = {}
LAYERS: MappingProxyType[str, LayerSpec] = MappingProxyType(_LAYERS)


def register(spec: LayerSpec, *, override: bool = False) -> LayerSpec:
    """Add `spec` to the registry; a name registered twice raises unless `override`."""
    if spec.shape_kind not in SHAPE_KINDS:
        raise XncostError(f"shape kind must be one of {', '.join(SHAPE_KINDS)}")
    if spec.is_caps and spec.module is None:
        raise XncostError(f"capsule layer {spec.name!r} needs a reference module")
    if spec.name in _LAYERS and not override:
        raise XncostError(f"layer {spec.name!r} is already registered")
    _LAYERS[spec.name] = spec
    return spec


def unregister(name: str) -> LayerSpec:
    """Remove `name` from the registry and return its entry (unknown names raise)."""
    spec = get_layer(name)
    del _LAYERS[name]
    return spec


def layer_names(shape_kind: str | None = None) -> tuple[str, ...]:
    """Registered names in registry order, optionally of one shape kind."""
    return tuple(n for n, s in _LAYERS.items() if shape_kind in (None, s.shape_kind))


def caps_layers() -> tuple[str, ...]:
    """The capsule layers (those a sweep, the vectorised evaluator and the heads take)."""
    return layer_names("caps")


def head_names() -> tuple[str, ...]:
    """The classifier heads a model or a training run can end in: the FC head and every
    capsule layer, in registry order."""
    return tuple(n for n, s in _LAYERS.items() if s.is_caps or n == FC_HEAD)


def get_layer(name: str) -> LayerSpec:
    """The entry of `name`; unknown names raise one clear XncostError."""
    try:
        return _LAYERS[name]
    except KeyError:
        raise XncostError(f"unknown layer {name!r} (known: {', '.join(_LAYERS)})") from None


def choices_text(names: tuple[str, ...] | None = None) -> str:
    """The names as `a, b or c` for help texts."""
    names = layer_names() if names is None else names
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


register(
    LayerSpec(
        "fc",
        "FC head",
        "fully connected head (Table 10)",
        "fc",
        "xncost.core.accounting:fc_steps",
    )
)
register(
    LayerSpec(
        "dr",
        "DR",
        "dynamic routing (Sabour et al. 2017; Section 3.1)",
        "caps",
        "xncost.core.accounting:dr_steps",
        "xncost.nn.capsule:DynamicRouting",
    )
)
register(
    LayerSpec(
        "xnodr",
        "XnODR",
        "xnorized LP_out, float routing (Table 2)",
        "caps",
        "xncost.core.accounting:xnodr_steps",
        "xncost.nn.capsule:XnODR",
        "xncost.core.formulas:eq12_speedup",
        "Eq. 12",
        xnorizes=("xnor_affine",),
    )
)
register(
    LayerSpec(
        "xnidr",
        "XnIDR",
        "float LP_out, xnorized routing agreement (Table 3)",
        "caps",
        "xncost.core.accounting:xnidr_steps",
        "xncost.nn.capsule:XnIDR",
        "xncost.core.formulas:eq15_speedup",
        "Eq. 15",
        xnorizes=("xnor_agreement",),
    )
)
register(
    LayerSpec(
        "xnbdr",
        "XnBDR",
        "xnorized LP_out and routing agreement (Section 3.3.2)",
        "caps",
        "xncost.core.accounting:xnbdr_steps",
        "xncost.nn.capsule:XnBDR",
        "xncost.core.formulas:xnbdr_speedup",
        "Eqs. 12 + 15 summed",
        xnorizes=("xnor_affine", "xnor_agreement"),
    )
)
