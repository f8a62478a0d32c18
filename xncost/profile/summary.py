"""Whole-network cost summary: per layer float MACs and FLOPs, 1-bit MACs, BOPs, 1-bit
parameters and memory, with XNOR-Net's Eq. 9 per binary product (Larq-summary style, PyTorch).

One forward pass under `torch.no_grad()` is counted by `LayerCounter`
(`xncost.profile.counter`) into rows; `xncost.profile.results` holds the rows and totals,
`xncost.profile.summary_render` renders them. Per row:

- `float_macs`: multiply-accumulates of the float products (conv, mm, bmm, ...);
- `float_flops`: float work under the summary's convention;
- `binary_macs`: 1-bit multiply-accumulates of the products whose two operands hold only
  -1/+1 inside a binary layer (qonnx's BOPs at 1x1 bits, Bi-Real's "BOPs");
- `bops`: those products priced by the convention (`Convention.bops`: `ops`, `tf`, `ptflops`
  3 per packed word, Table 5; `bnn` 1 per 1-bit MAC); `xnor_flops` = bops / word;
- `ops` = float_flops + bops / word: under `bnn` the BNN literature's OPs (FLOPs + BOPs/64);
  under the others xncost's FLOPs + XNOR FLOPs, which is not the literature's OPs;
- `params`, `params_1bit` (weights of registered binary layers), `params_32bit` (the rest),
  `scales` (32-bit alphas stored with binary weights), `memory_bytes`.

The conventions' prices are described in docs/conventions.md. Registering a binary layer
(one call, also usable as a class decorator; `xncost.profile.binary`):

    register_binary(MyXnorConv)                       # weight "weight", alpha per filter
    register_binary(MyLayer, weights=("w",), scales=lambda m, name, p: 1)
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from xncost.conventions import MODEL_CONVENTIONS, Convention, get_convention
from xncost.errors import XncostError, guarded
from xncost.profile.binary import BINARY_LAYERS, BinaryLayer, per_filter_scales, register_binary
from xncost.profile.counter import CONVENTIONS, Eq9, LayerCounter, RowCount, is_unit
from xncost.profile.ptflopsrules import ptflops_flops
from xncost.profile.results import SUM_KEYS, LayerSummary, Summary
from xncost.profile.summary_render import (
    XNOR_NET_EQ9,
    published_lines,
    summary_csv,
    summary_json,
    summary_markdown,
    summary_rich,
)
from xncost.profile.tfrules import tf_flops

MAX_INPUT_ELEMENTS = 2**26  # the largest input a summary builds (256 MiB of float32)
MAX_ACTIVATION_BYTES = 2**32  # activations of one forward pass a summary may allocate


def check_input_shape(shape: tuple, model: nn.Module | None = None) -> tuple[int, ...]:
    """Refuse an input shape before anything is allocated: positive ints, at most
    `MAX_INPUT_ELEMENTS` elements, and (with a model) activations estimated from the widest
    layer within `MAX_ACTIVATION_BYTES` (one clear error)."""
    if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in shape):
        raise XncostError(f"input shape must be positive integers, got {shape!r}")
    n = math.prod(shape)
    if n > MAX_INPUT_ELEMENTS:
        raise XncostError(
            f"input {'x'.join(map(str, shape))} has {n:,} elements (limit "
            f"{MAX_INPUT_ELEMENTS:,}); use a smaller batch or image"
        )
    if model is not None and len(shape) == 4:
        widest = max((_out_channels(m) for m in model.modules()), default=0)
        batch, channels, h, w = shape
        estimate = 4 * batch * max(widest, channels) * h * w
        if estimate > MAX_ACTIVATION_BYTES:
            raise XncostError(
                f"input {'x'.join(map(str, shape))} needs about {estimate:,} bytes for one "
                f"activation of the widest layer ({max(widest, channels):,} channels at full "
                f"resolution; limit {MAX_ACTIVATION_BYTES:,}); use a smaller batch or image"
            )
    return tuple(shape)


def _out_channels(m: nn.Module) -> int:
    """`m.out_channels` when it is an int, else 0 (a user's module may hold anything there)."""
    try:
        c = getattr(m, "out_channels", 0)
    except Exception:
        return 0
    return c if isinstance(c, int) and not isinstance(c, bool) else 0


def parse_input_shape(text: str) -> tuple[int, ...]:
    """'1x3x32x32' -> (1, 3, 32, 32); every entry a positive integer."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise XncostError(f"--input must look like 1x3x32x32, got {text!r}") from None
    if not shape or any(d <= 0 for d in shape):
        raise XncostError(f"--input sizes must be positive integers, got {text!r}")
    return shape


def _one_bit(root: nn.Module) -> dict[int, int]:
    """id(param) -> 32-bit scales for every parameter stored at 1 bit."""
    out: dict[int, int] = {}
    for m in root.modules():
        spec = BINARY_LAYERS.get(type(m))
        if spec is None:
            continue
        for wname in spec.weights:
            try:
                p = m.get_parameter(wname)
            except AttributeError:
                raise XncostError(
                    f"registered binary layer {type(m).__name__} has no parameter {wname!r}"
                ) from None
            out[id(p)] = _scale_count(spec.scales(m, wname, p), m, wname)
    return out


def _scale_count(n: Any, m: nn.Module, wname: str) -> int:
    """A `scales=` callback's answer as a count of 32-bit scales (a whole number >= 0)."""
    try:
        count: int | None = operator.index(n)
    except TypeError:
        count = int(n) if isinstance(n, float) and n.is_integer() else None
    if count is None or count < 0 or isinstance(n, bool):
        raise XncostError(
            f"the scales= callback of {type(m).__name__} returned {str(n)[:40]} for "
            f"{wname!r}; expected a whole number >= 0"
        )
    return count


def summary(
    model: nn.Module,
    example: Sequence[int] | torch.Tensor,
    *,
    convention: str = "ops",
    name: str | None = None,
    word: int | None = None,
) -> Summary:
    """Count one forward pass of `model` on `example` (an input shape, batch first, filled
    with N(0, 1) from a fixed seed; or an example tensor) and summarize it per layer (see the
    module docstring). `convention` (`ops`, `tf`, `ptflops` or `bnn`, docs/conventions.md)
    prices the float FLOPs and BOPs reported; every convention's FLOPs are in
    `flops_by_convention`. `word`: packed word size in bits (default 64). `name` labels the
    summary (default: the model's class name)."""
    if convention == "bnn" and word not in (None, 64):
        raise XncostError(
            "the bnn convention fixes the word at 64 (OPs = FLOPs + BOPs/64, as the BNN "
            f"literature counts); --word-bits {word} does not apply"
        )
    conv = get_convention(convention, word, MODEL_CONVENTIONS)
    if not isinstance(model, nn.Module):
        raise XncostError(f"summary needs an nn.Module, got {type(model).__name__}")
    if isinstance(example, torch.Tensor):
        x = example
    else:
        shape = check_input_shape(tuple(example), model)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(shape, generator=g)
    was_training = model.training
    counter = LayerCounter(model, conv.word_bits)

    def forward() -> None:
        model.eval()
        try:
            with torch.no_grad(), counter:
                model(x)
        finally:
            model.train(was_training)

    guarded(f"forward pass failed on input {list(x.shape)}", forward)
    return _build(model, counter, tuple(x.shape), conv, name)


def _build(
    model: nn.Module,
    counter: LayerCounter,
    input_shape: tuple[int, ...],
    conv: Convention,
    name: str | None,
) -> Summary:
    one_bit = _one_bit(model)
    seen: set[int] = set()
    names = list(counter.rows)
    names += [n for n, m in counter.owner.items() if n not in counter.rows and _own_params(m)]
    rows = []
    for n in names:
        rc = counter.rows.get(n)
        owner = counter.owner.get(n)
        params = p1 = scales = 0
        if owner is not None:
            for p in _own_params(owner):
                if id(p) in seen:
                    continue
                seen.add(id(p))
                params += p.numel()
                if id(p) in one_bit:
                    p1 += p.numel()
                    scales += one_bit[id(p)]
        if rc is None:
            rc = RowCount(n, type(owner).__name__, True)
        worked = params or rc.binary_macs or rc.float_macs or any(rc.flops.values())
        if not (worked or (rc.leaf and rc.calls)):
            continue
        rows.append(
            LayerSummary(
                name=n,
                type=rc.type,
                output_shape=rc.output_shape,
                calls=rc.calls,
                binary=bool(p1 or rc.binary_macs or type(owner) in BINARY_LAYERS),
                params=params,
                params_1bit=p1,
                scales=scales,
                float_macs=rc.float_macs,
                float_flops=rc.flops[conv.name],
                binary_macs=rc.binary_macs,
                binary_outputs=rc.binary_outputs,
                bops=rc.bops[conv.name],
                flops_by_convention=dict(rc.flops),
                weight_binarization_flops=rc.weight_binarization[conv.name],
                eq9=rc.eq9,
                word=conv.word_bits,
                bops_by_convention=dict(rc.bops),
            )
        )
    unknown = tuple(f"{k} (x{v})" for k, v in counter.unknown.items())
    return Summary(
        model=name or type(model).__name__,
        input_shape=input_shape,
        convention=conv.name,
        layers=tuple(rows),
        unknown_ops=unknown,
        word=conv.word_bits,
    )


def _own_params(m: nn.Module) -> list[torch.Tensor]:
    """A row's parameters: all of a unit or leaf, the direct ones of a container."""
    recurse = is_unit(m) or not m._modules
    return list(m.parameters(recurse=recurse))


def build_registry_model(
    name: str,
    *,
    upsampling: bool = True,
    input_shape: Sequence[int] | None = None,
    variant: str = "paper",
    num_classes: int | None = None,
) -> tuple[nn.Module, tuple[int, ...]]:
    """`xncost.models.registry.build_model(name)` and its input shape (batch first).

    Without `input_shape` the model's default input with batch 1; with one, in_channels and the
    (square) side are taken from it.
    """
    from xncost.models.registry import build_model, get_spec

    spec = get_spec(name)
    if input_shape is None:
        model = build_model(name, upsampling=upsampling, variant=variant, num_classes=num_classes)
        return model, (1, *model.input_shape)
    shape = tuple(input_shape)
    if len(shape) != 4:
        raise XncostError(f"model {name!r} takes a BxCxHxW input, got {'x'.join(map(str, shape))}")
    _, c, h, w = shape
    if h != w:
        raise XncostError(f"model {name!r} takes square inputs, got {h}x{w}")
    side = None if spec.family in ("nin", "alexnet") and h == spec.input_side else h
    model = build_model(
        name,
        upsampling=upsampling,
        in_channels=c,
        input_side=side,
        variant=variant,
        num_classes=num_classes,
    )
    return model, shape


def summarize_model(
    name: str,
    *,
    upsampling: bool = True,
    input_shape: Sequence[int] | None = None,
    convention: str = "ops",
    variant: str = "paper",
    word: int | None = None,
) -> Summary:
    """Summary of the registry model `name` (see `build_registry_model`)."""
    if input_shape is not None:
        check_input_shape(tuple(input_shape))
    model, shape = build_registry_model(
        name, upsampling=upsampling, input_shape=input_shape, variant=variant
    )
    return summary(model, shape, convention=convention, name=name, word=word)


__all__ = [
    "BINARY_LAYERS",
    "CONVENTIONS",
    "SUM_KEYS",
    "XNOR_NET_EQ9",
    "BinaryLayer",
    "Eq9",
    "LayerCounter",
    "LayerSummary",
    "Summary",
    "build_registry_model",
    "check_input_shape",
    "parse_input_shape",
    "per_filter_scales",
    "ptflops_flops",
    "register_binary",
    "published_lines",
    "summarize_model",
    "summary",
    "summary_csv",
    "summary_json",
    "summary_markdown",
    "summary_rich",
    "tf_flops",
]
