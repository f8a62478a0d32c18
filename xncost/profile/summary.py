"""Whole-network cost summary: per layer float MACs and FLOPs, 1-bit MACs, BOPs, 1-bit
parameters and memory, with XNOR-Net's Eq. 9 per binary product (Larq-summary style, PyTorch).

One forward pass under `torch.no_grad()` is counted by `LayerCounter`
(`xncost.profile.counter`) into rows; `xncost.profile.results` holds the rows and totals,
`xncost.profile.summary_render` renders them. The model is built (when given as a callable),
its inputs drawn and its forward pass run under a fixed seed (torch, numpy, random; the
caller's RNG state restored after), so the same call gives the same figures every time. Per
row:

- `kind`: what its products are (1-bit, binary-weight, binary-activation, ternary, float;
  `xncost.profile.detect`, docs/conventions.md "Binary work");
- `float_macs`: multiply-accumulates of the products that are not 1-bit (conv, mm, bmm, ...),
  of which `binary_weight_macs`, `binary_activation_macs` and `ternary_macs` have one binary
  (or ternary) operand;
- `float_flops`: float work under the summary's convention;
- `binary_macs`: 1-bit multiply-accumulates of the products whose two operands are binary up
  to scale (qonnx's BOPs at 1x1 bits, Bi-Real's "BOPs");
- `bops`: those products priced by the convention (`Convention.bops`: `ops`, `tf`, `ptflops`
  3 per packed word, Table 5; `bnn` 1 per 1-bit MAC); `xnor_flops` = bops / word;
- `ops` = float_flops + bops / word: under `bnn` the BNN literature's OPs (FLOPs + BOPs/64);
  under the others xncost's FLOPs + XNOR FLOPs, which is not the literature's OPs;
- `params`, `params_1bit` (binary weights: declared, or found binary in a product, charged to
  the parameter they were computed from), `params_32bit` (the rest), `scales` (32-bit scales
  stored with binary weights), `memory_bytes`.

The conventions' prices are described in docs/conventions.md. Declaring a binary layer
(one call, also usable as a class decorator; `xncost.profile.binary`):

    register_binary(MyXnorConv)                       # weight "weight", alpha per filter
    register_binary(MyLayer, weights=("w",), scales=lambda m, name, p: 1)
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from xncost.conventions import MODEL_CONVENTIONS, Convention, get_convention
from xncost.errors import XncostError, guarded
from xncost.profile import compat
from xncost.profile.binary import (
    BINARY_LAYERS,
    BinaryDeclaration,
    BinaryPatterns,
    declaration,
    declared_weights,
    register_binary,
    suggested_patterns,
)
from xncost.profile.counter import Eq9, LayerCounter, RowCount, is_unit
from xncost.profile.detect import BINARY_ACTIVATION, BINARY_WEIGHT, FLOAT, ONE_BIT, TERNARY_KIND
from xncost.profile.engine import DETECT, GLOBAL
from xncost.profile.inputs import (
    MAX_ACTIVATION_BYTES,
    MAX_INPUT_ELEMENTS,
    check_input_shape,
    example_inputs,
    fixed_seed,
    parse_input_shape,
    parse_input_shapes,
)
from xncost.profile.memory_bound import ActivationBound
from xncost.profile.results import SUM_KEYS, Detection, LayerSummary, Summary
from xncost.profile.summary_render import (
    summary_csv,
    summary_json,
    summary_markdown,
    summary_rich,
)


def summary(
    model: nn.Module | Callable[[], nn.Module],
    example: Any,
    *,
    convention: str = "ops",
    name: str | None = None,
    word: int | None = None,
    binary: Sequence[str] | str | None = None,
    detect: bool = DETECT,
) -> Summary:
    """Count one forward pass of `model` on `example` and summarize it per layer (see the
    module docstring).

    `model`: an `nn.Module`, or a callable returning one (built under the fixed seed).
    `example`: an input shape (batch first, filled with N(0, 1) from the seed), a tensor, or a
    list of them for a model of several inputs. `convention` (`ops`, `tf`, `ptflops` or `bnn`,
    docs/conventions.md) prices the float FLOPs and BOPs reported; every convention's FLOPs
    are in `flops_by_convention`. `word`: packed word size in bits (default 64). `binary`:
    module class names or qualified-name patterns whose weights were binarized outside the
    forward pass (`--binary`). `detect`: automatic 1-bit detection (docs/conventions.md).
    `name` labels the summary (default: the model's class name).
    """
    conv = get_convention(convention, None, MODEL_CONVENTIONS)
    if conv.fixed_word and word not in (None, conv.word_bits):
        raise XncostError(
            f"the {conv.name} convention fixes the word at {conv.word_bits} "
            f"({conv.total_label} = FLOPs + BOPs/{conv.word_bits}); --word-bits {word} "
            "does not apply"
        )
    conv = get_convention(conv, word, MODEL_CONVENTIONS)
    patterns = BinaryPatterns.of(binary)
    with fixed_seed(), compat.session() as acc:
        if not isinstance(model, nn.Module) and callable(model):
            with compat.on_the_cpu(acc):
                model = guarded("building the model failed", model)
        if not isinstance(model, nn.Module):
            raise XncostError(f"summary needs an nn.Module, got {type(model).__name__}")
        xs = example_inputs(example, model)
        was_training = model.training

        shown = ", ".join("x".join(map(str, x.shape)) for x in xs)

        def forward(cpu: bool) -> LayerCounter:
            counter = LayerCounter(model, conv.word_bits, patterns, detect)
            bound = ActivationBound(f"the forward pass on input {shown}")
            model.eval()
            try:
                with torch.no_grad(), compat.forward_pass(acc, cpu), counter, bound:
                    model(*xs)
            finally:
                model.train(was_training)
            return counter

        what = f"forward pass failed on input {', '.join(str(list(x.shape)) for x in xs)}"
        cpu = bool(acc.cuda)  # CUDA asked for while building: see compat.on_the_cpu
        try:
            counter = guarded(what, lambda: forward(cpu))
        except XncostError as e:
            if cpu or not compat.wants_cuda(e):
                raise
            counter = guarded(what, lambda: forward(True))  # it failed for want of CUDA
        if "forward" in acc.used.values():
            raise XncostError(f"the forward pass used a module missing here{acc.missing_hint()}")
        notes = acc.notes
    return _build(model, counter, tuple(tuple(x.shape) for x in xs), conv, name, notes)


def _one_bit(root: nn.Module, counter: LayerCounter) -> dict[int, int]:
    """id(param) -> 32-bit scales for every parameter stored at 1 bit: found binary in a
    product (one scale per distinct scale group seen), declared with `--binary` (one per
    output channel) or declared by its layer (its `scales`, default one per output
    channel of the weight as used)."""
    found = counter.binary_weights

    def channels(p: torch.Tensor) -> int:
        use = found.get(id(p))
        return use.channels if use is not None else (int(p.shape[0]) if p.dim() else 1)

    out = {pid: use.scales for pid, use in found.items()}
    params = {id(p): p for p in root.parameters()}
    for pid in counter.forced_weights:
        out[pid] = channels(params[pid])
    for m in root.modules():
        spec = declaration(m)
        for wname, p in declared_weights(m):
            if spec.scales:
                out[id(p)] = _scale_count(spec.scales(m, wname, p), m, wname)
            else:
                out[id(p)] = channels(p)
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


def _detection(model: nn.Module, counter: LayerCounter, patterns: BinaryPatterns) -> Detection:
    one_bit: dict[tuple[str, str], int] = {}
    for module, product in counter.products:
        if product.kind == ONE_BIT:
            row = GLOBAL if module is None else counter.module_name(module)
            key = (row, product.op.replace("::", "."))
            one_bit[key] = one_bit.get(key, 0) + 1
    return Detection(
        one_bit=tuple((row, op, n) for (row, op), n in one_bit.items()),
        binarizations=tuple(sorted(counter.binarizations.items())),
        sign_zeros=counter.sign_zeros,
        patterns=patterns.patterns,
        suggested=_suggested(model, counter),
    )


def _suggested(model: nn.Module, counter: LayerCounter) -> tuple[str, ...]:
    """`--binary` patterns for the rows whose only float work has binary inputs and real
    weights (`suggested_patterns`)."""
    other_kinds = (BINARY_WEIGHT, TERNARY_KIND, FLOAT)
    others = {
        n for n, rc in counter.rows.items() if any(rc.macs_by_kind.get(k) for k in other_kinds)
    }
    targets = [
        n
        for n, rc in counter.rows.items()
        if rc.macs_by_kind.get(BINARY_ACTIVATION) and n not in others
    ]
    return suggested_patterns(model, targets, others) if targets else ()


def _build(
    model: nn.Module,
    counter: LayerCounter,
    shapes: tuple[tuple[int, ...], ...],
    conv: Convention,
    name: str | None,
    notes: tuple[str, ...] = (),
) -> Summary:
    one_bit = _one_bit(model, counter)
    seen: set[int] = set()
    names = list(counter.rows)
    names += [n for n, m in counter.owner.items() if n not in counter.rows and _own_params(m)]
    rows = []
    for n in names:
        rc = counter.rows.get(n)
        owner = counter.owner.get(n)
        params, p1, scales = _storage(owner, seen, one_bit)
        if rc is None:
            rc = RowCount(n, type(owner).__name__, True, tuple(c.name for c in counter.conventions))
        count = rc.counts[conv.name]
        flops = {c: k.flops for c, k in rc.counts.items()}
        worked = params or count.binary_macs or count.float_macs or any(flops.values())
        if not (worked or (rc.leaf and rc.calls)):
            continue
        rows.append(
            LayerSummary(
                name=n,
                type=rc.type,
                output_shape=rc.output_shape,
                calls=rc.calls,
                binary=bool(p1 or count.binary_macs or declaration(owner) is not None),
                params=params,
                params_1bit=p1,
                scales=scales,
                float_macs=count.float_macs,
                float_flops=count.flops,
                binary_macs=count.binary_macs,
                binary_outputs=rc.binary_outputs,
                bops=count.bops,
                flops_by_convention=flops,
                weight_binarization_flops=rc.weight_binarization[conv.name],
                eq9=rc.eq9,
                word=conv.word_bits,
                bops_by_convention={c: k.bops for c, k in rc.counts.items()},
                macs_by_kind=dict(rc.macs_by_kind),
            )
        )
    unknown = tuple(f"{k} (x{v})" for k, v in counter.unknown.items())
    return Summary(
        model=name or type(model).__name__,
        input_shape=shapes[0],
        convention=conv.name,
        layers=tuple(rows),
        unknown_ops=unknown,
        word=conv.word_bits,
        detection=_detection(model, counter, counter.patterns),
        inputs=shapes if len(shapes) > 1 else (),
        modules=dict(counter.modules),
        notes=notes,
    )


def _storage(
    owner: nn.Module | None, seen: set[int], one_bit: dict[int, int]
) -> tuple[int, int, int]:
    """(parameters, 1-bit parameters, 32-bit scales) of a row, each parameter counted once."""
    params = p1 = scales = 0
    for p in _own_params(owner) if owner is not None else ():
        if id(p) in seen:
            continue
        seen.add(id(p))
        params += p.numel()
        if id(p) in one_bit:
            p1 += p.numel()
            scales += one_bit[id(p)]
    return params, p1, scales


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
    side = None if spec.fixed_side and h == spec.input_side else h
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
    with fixed_seed():
        model, shape = build_registry_model(
            name, upsampling=upsampling, input_shape=input_shape, variant=variant
        )
    return summary(model, shape, convention=convention, name=name, word=word)


def summarize_reference(
    reference: str,
    shapes: Sequence[tuple[int, ...]] | None,
    *,
    convention: str = "ops",
    word: int | None = None,
    binary: Sequence[str] = (),
    upsampling: bool = True,
    variant: str = "paper",
) -> Summary:
    """What `xncost summary MODEL` counts: a registry model (`summarize_model`), or the user's
    model `PATH.py:NAME[(ARGS)]` / `package.module:NAME[(ARGS)]` (loaded under the fixed seed,
    loading and counting inside one `user_code` block) on `shapes`, one per model input."""
    from xncost.profile.loader import is_model_reference, load_model, user_code

    if not is_model_reference(reference):
        if shapes is not None and len(shapes) > 1:
            raise XncostError(f"model {reference!r} takes one input, got {len(shapes)}")
        if binary:
            raise XncostError("--binary applies to your own models (registry models declare it)")
        return summarize_model(
            reference,
            upsampling=upsampling,
            input_shape=None if shapes is None else shapes[0],
            convention=convention,
            variant=variant,
            word=word,
        )
    if shapes is None:
        raise XncostError("your own model needs --input, e.g. --input 1x3x32x32")
    if not upsampling or variant != "paper":
        raise XncostError("--no-upsampling and --variant apply to registry models only")
    for shape in shapes:
        check_input_shape(shape)
    example = list(shapes) if len(shapes) > 1 else shapes[0]
    with user_code(reference):
        with fixed_seed():
            net, name = load_model(reference)
        return summary(net, example, convention=convention, name=name, word=word, binary=binary)


__all__ = [
    "BINARY_LAYERS",
    "MAX_ACTIVATION_BYTES",
    "MAX_INPUT_ELEMENTS",
    "SUM_KEYS",
    "BinaryDeclaration",
    "Detection",
    "Eq9",
    "LayerCounter",
    "LayerSummary",
    "Summary",
    "build_registry_model",
    "check_input_shape",
    "fixed_seed",
    "parse_input_shape",
    "parse_input_shapes",
    "register_binary",
    "summarize_model",
    "summarize_reference",
    "summary",
    "summary_csv",
    "summary_json",
    "summary_markdown",
    "summary_rich",
]
