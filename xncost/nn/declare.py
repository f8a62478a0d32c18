"""How a layer declares itself binary, as larq's quantized layers declare their quantizers.

A layer class carries `xncost_binary = BinaryDeclaration(...)`; the profiler reads it
(`xncost.profile.binary.declaration`), so the layer decides, not the profiler, and nothing
here imports the profiler. xncost's `XnorConv2d`, `XnorLinear`, XnODR's `XnorProjector` and
the published networks' `SignConv2d` declare their 1-bit weights; the capsule steps
`XnorAffine` and `XnorDotUpdate` declare themselves binary steps. Classes you cannot edit are
declared with `xncost.profile.binary.register_binary`, which takes the same fields.

What a declaration changes (docs/conventions.md, "Binary work"): the declared weights are
stored at 1 bit plus `scales` 32-bit scales; products inside the layer may be found binary
from their operand values alone (no sign seen); the layer is one row of a summary; and a
binary step's element-wise product of two binary operands is a dot product of length 1 (what
einsum runs when the contracted axis has size 1). Whether a product is 1-bit is still decided
from what runs (docs/conventions.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ScaleFn = Callable[[Any, str, Any], int]


@dataclass(frozen=True)
class BinaryDeclaration:
    """`weights`: parameters stored at 1 bit (dotted names inside the layer; `()` for a layer
    with binary activations only). `scales(module, name, param)`: 32-bit scales stored with
    each (None: one per output channel of the weight as its product uses it). `inputs`: whether
    the layer's inputs are binarized (XNOR) or stay real (BWN), a bool or a function of the
    instance; the thop path reads it when it runs without the engine's pre-pass. `step`: a
    binary dot-product step."""

    weights: tuple[str, ...] = ("weight",)
    scales: ScaleFn | None = None
    inputs: bool | Callable[[Any], bool] = True
    step: bool = False

    def binary_inputs(self, module: Any) -> bool:
        return bool(self.inputs(module) if callable(self.inputs) else self.inputs)


BINARY_STEP = BinaryDeclaration(weights=(), step=True)


def xnor_mode(module: Any) -> bool:
    """XNOR-Net layers binarize their inputs in mode "xnor", not in "bwn"."""
    return getattr(module, "mode", "xnor") == "xnor"


__all__ = ["BINARY_STEP", "BinaryDeclaration", "ScaleFn", "xnor_mode"]
