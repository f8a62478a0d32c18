"""Measure a reference layer: build it for a shape, run one forward pass, count per step.

`measure_layer("xnodr", shape, convention="paper", method="thop")` builds the reference
PyTorch layer of `xncost.nn` named by the layer registry (`xncost.core.layers`; `fc` a
Linear/ReLU stack `fc1, relu1, fc2, ...` with ReLU between layers), feeds it a random
[B, N, D] (or [B, dims[0]]) input under `torch.no_grad()` and counts with thop and the custom
ops of `xncost.profile.thop_ops` (`paper` or `ops`) or with the dispatch-level `OpCounter`
(`ops`, the layer convention with op rules), under the convention (and word size) it is given,
so that a measurement and the formula it is compared with share one price list. Step names
are the leaf modules' attribute names (paper Tables 2 and 3).

Per step: `flops` (float FLOPs, XNOR FLOPs excluded), `bops`, `xnor_flops` (= bops / word),
`params`. Totals: `flops` (= float FLOPs + XNOR FLOPs), `binarization_flops` (the
`binarize_*` steps), `xnor_bops`, `xnor_flops`, `params` (trainable parameters). Counts are
ints; XNOR FLOPs are a `fractions.Fraction` when BOPs are not a multiple of the word size.
"""

from __future__ import annotations

import numbers
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from xncost.conventions import Convention, Count, get_convention
from xncost.core.layers import get_layer, layer_names
from xncost.errors import XncostError
from xncost.profile.dispatch import count_ops
from xncost.profile.ledger import StepCount
from xncost.profile.thop_ops import thop_count

LAYERS = layer_names()
METHODS = ("thop", "dispatch")


@dataclass(frozen=True)
class Measured:
    """One measured forward pass of a reference layer.

    `calls`: forward calls per step; `unknown_ops`: aten ops with no rule (dispatch only);
    `by_op`: per step, FLOPs per aten op (dispatch; BOPs under "aten.bmm (bops)") or per
    module class (thop).
    """

    layer: str
    shape: Any
    convention: str
    method: str
    steps: dict[str, dict[str, Any]]
    totals: dict[str, Any]
    calls: dict[str, int] = field(default_factory=dict)
    unknown_ops: tuple[str, ...] = ()
    by_op: dict[str, dict[str, int]] = field(default_factory=dict)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise XncostError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _positive(shape: Any, name: str) -> int:
    return _positive_int(getattr(shape, name, None), name)


def build_layer(layer: str, shape: Any) -> tuple[nn.Module, torch.Tensor]:
    """The reference module for `layer` and a random input for `shape` (global RNG)."""
    spec = get_layer(layer)
    batch = _positive(shape, "batch")
    if not spec.is_caps:
        dims = tuple(
            _positive_int(d, f"dims[{i}]") for i, d in enumerate(getattr(shape, "dims", ()))
        )
        if len(dims) < 2:
            raise XncostError(f"dims must hold at least two sizes, got {dims!r}")
        layers: list[tuple[str, nn.Module]] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True), start=1):
            if i > 1:
                layers.append((f"relu{i - 1}", nn.ReLU()))
            layers.append((f"fc{i}", nn.Linear(a, b)))
        return nn.Sequential(OrderedDict(layers)), torch.randn(batch, dims[0])
    n, m, d, e, r = (
        _positive(shape, a) for a in ("caps_in", "caps_out", "dim_in", "dim_out", "iterations")
    )
    return spec.module_class()(n, m, d, e, r), torch.randn(batch, n, d)


MAX_ELEMENTS = 2**27  # the largest tensor a measurement may build (512 MiB of float32)
MAX_WORK = 2**32  # element-steps a measurement may loop over (routing iterations x tensor size)


def _check_size(layer: str, shape: Any) -> None:
    """Refuse shapes whose reference layer would not fit in memory (one clear error)."""
    if layer == "fc":
        dims = tuple(getattr(shape, "dims", ()))
        biggest = max((a * b for a, b in zip(dims[:-1], dims[1:], strict=False)), default=0)
        biggest = max(biggest, _positive(shape, "batch") * max(dims, default=0))
    else:
        n, m, d, e, b = (
            _positive(shape, a) for a in ("caps_in", "caps_out", "dim_in", "dim_out", "batch")
        )
        biggest = max(n * m * d * e, b * n * m * max(d, e))
        work = _positive(shape, "iterations") * biggest
        if work > MAX_WORK:
            raise XncostError(
                f"shape too large to measure: {_positive(shape, 'iterations'):,} routing "
                f"iterations over tensors of {biggest:,} elements (limit {MAX_WORK:,} "
                "element-steps); the analytic counts need no measurement"
            )
    if biggest > MAX_ELEMENTS:
        raise XncostError(
            f"shape too large to measure: a tensor of {biggest:,} elements "
            f"(limit {MAX_ELEMENTS:,}); the analytic counts need no measurement"
        )


def _fold_relus(steps: dict[str, StepCount]) -> dict[str, StepCount]:
    """Add the counts of leaf `relu{i}` into step `fc{i}` (the layer it follows)."""
    out = {k: v for k, v in steps.items() if not k.startswith("relu")}
    for name, relu in steps.items():
        if name.startswith("relu"):
            fc = out[f"fc{name[len('relu') :]}"]
            fc.flops += relu.flops
            fc.bops += relu.bops
            fc.params += relu.params
            for op, f in relu.ops.items():
                fc.ops[op] += f
    return out


def _totals(steps: dict[str, StepCount], model: nn.Module, conv: Convention) -> dict[str, Any]:
    total = Count(word=conv.word_bits)
    for s in steps.values():
        total.add(s)
    return {
        "flops": total.total,
        "binarization_flops": sum(s.flops for n, s in steps.items() if n.startswith("binarize")),
        "xnor_bops": total.bops,
        "xnor_flops": total.xnor_flops,
        "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def measure_layer(
    layer: str,
    shape: Any,
    convention: str | Convention = "paper",
    method: str = "thop",
    seed: int = 0,
    word_bits: int | None = None,
) -> Measured:
    """Build `layer` for `shape`, run one forward pass under no_grad, count per step under
    `convention` (a name or the `Convention` of the breakdown it is compared with)."""
    if method not in METHODS:
        raise XncostError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    conv = get_convention(convention, word_bits)
    if method == "dispatch" and conv.rules is None:
        raise XncostError(f"the dispatch counter needs op rules; {conv.name} has none")
    _check_size(layer, shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, x = build_layer(layer, shape)
    model.eval()
    if method == "thop":
        steps = thop_count(model, x, convention=conv, prepass=False).recorder.steps
        unknown: tuple[str, ...] = ()
    else:
        counter = count_ops(model, x, conv=conv)
        steps, unknown = counter.steps, tuple(counter.unknown_ops)
    if layer == "fc":
        steps = _fold_relus(steps)
    return Measured(
        layer=layer,
        shape=shape,
        convention=conv.name,
        method=method,
        steps={name: s.as_dict() for name, s in steps.items()},
        totals=_totals(steps, model, conv),
        calls={name: s.calls for name, s in steps.items()},
        unknown_ops=unknown,
        by_op={name: dict(s.ops) for name, s in steps.items()},
    )
