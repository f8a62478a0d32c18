"""Whole-network cost summary: per layer float MACs and FLOPs, BOPs, XNOR FLOPs, 1-bit
parameters and memory, with XNOR-Net's Eq. 9 per binary product (Larq-summary style, PyTorch).

One forward pass under `torch.no_grad()` is counted by `LayerCounter`, a dispatch-level
`OpCounter` that attributes every aten op to a *row*: a leaf module, or a whole *unit* (a
registered binary layer or a capsule layer, whose sub-steps are folded into one row), or a
container that runs ops itself (e.g. a residual add). Per row:

- `float_macs`: multiply-accumulates of the float products (conv, mm, bmm, ...);
- `float_flops`: float work under a convention (below);
- `binary_macs`: 1-bit multiply-accumulates of the products whose two operands hold only
  -1/+1 inside a binary layer (qonnx's BOPs at 1x1 bits, Bi-Real's "BOPs");
- `bops`: the same products priced as xncost prices them (Table 5): 3 binary ops (xnor,
  popcount, accumulate) per packed 64-bit word of each dot product; `xnor_flops` = bops / 64;
- `ops` = float_flops + xnor_flops (the XNOR-Net / Bi-Real "OPs = FLOPs + BOPs/64" form,
  with xncost's BOPs);
- `params`, `params_1bit` (weights of registered binary layers), `params_32bit` (the rest),
  `scales` (32-bit alphas stored with binary weights), `memory_bytes`.

Conventions for float FLOPs (all from the same run):
- `ops`: one FLOP per primitive op torch executes (`xncost.profile.oprules`), plus batch norm
  (eval) 2 per element (+2 more with affine) and 2 per channel, pooling one per window
  element per output, adaptive average pooling one per input element;
- `tf`: TensorFlow's profiler (`flops_registry`, the paper's counter): 2 per MAC, bias 1 per
  output, element-wise arithmetic 1, softmax 5, mean/sum 1 per input, pooling one per window
  element per output, and 0 for batch norm, ReLU/ReLU6, sign/round/abs/sqrt/exp;
- `ptflops`: ptflops' module hooks ("GMac"): conv/linear MACs + bias, batch norm 1 per
  element (2 with affine), ReLU/ReLU6 1, pooling 1 per input element, every other module
  (custom layers included) 0.

Registering a binary layer (one call, also usable as a class decorator):

    register_binary(MyXnorConv)                       # weight "weight", alpha per filter
    register_binary(MyLayer, weights=("w",), scales=lambda m, name, p: 1)

Inside a registered layer every product of two +-1 tensors is counted as binary work;
its `weights` are stored at 1 bit plus `scales(module, name, param)` 32-bit scales (default:
one per output filter, `param.shape[0]`, Eq. 18 per filter). xncost's `XnorConv2d`,
`XnorLinear` and XnODR's projector are registered here.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from xncost.errors import XncostError
from xncost.exact import exact_str
from xncost.formulas import eq9_speedup
from xncost.nn.capsule import DynamicRouting, XnIDR, XnODR, XnorProjector
from xncost.nn.xnor import XnorConv2d, XnorLinear
from xncost.profile import oprules
from xncost.profile.dispatch import GLOBAL, OpCounter, is_binary_step

aten = torch.ops.aten
CONVENTIONS = ("ops", "tf", "ptflops")
WORD_BITS = oprules.WORD_BITS
WEIGHT_STEP = "binarize_weight"

# ----------------------------------------------------------------------------- registration

ScaleFn = Callable[[nn.Module, str, torch.Tensor], int]


def per_filter_scales(module: nn.Module, name: str, param: torch.Tensor) -> int:
    """One 32-bit alpha per output filter (Eq. 18 per filter): `param.shape[0]`."""
    return int(param.shape[0]) if param.dim() else 1


@dataclass(frozen=True)
class BinaryLayer:
    """A registered binary layer class: which parameters are stored at 1 bit, with how many
    32-bit scales."""

    cls: type
    weights: tuple[str, ...]
    scales: ScaleFn


BINARY_LAYERS: dict[type, BinaryLayer] = {}
UNIT_CLASSES: tuple[type, ...] = (DynamicRouting, XnODR, XnIDR)


def register_binary(
    cls: type | None = None,
    *,
    weights: Sequence[str] = ("weight",),
    scales: ScaleFn | None = None,
) -> Any:
    """Register a binary layer class (one call; or `@register_binary` as a decorator).

    Products of two +-1 tensors run inside an instance are counted as BOPs; the parameters
    named in `weights` (dotted names inside the layer; `()` for binary activations only) are
    stored at 1 bit plus `scales(module, name, param)` 32-bit scales (default: one per output
    filter). The layer becomes one row of the summary.
    """

    def do(c: type) -> type:
        if not isinstance(c, type) or not issubclass(c, nn.Module):
            raise XncostError(f"register_binary needs an nn.Module subclass, got {c!r}")
        if isinstance(weights, str):
            raise XncostError("weights must be a sequence of parameter names, not a string")
        BINARY_LAYERS[c] = BinaryLayer(c, tuple(weights), scales or per_filter_scales)
        return c

    return do if cls is None else do(cls)


def _caps_weight_scales(module: nn.Module, name: str, param: torch.Tensor) -> int:
    """XnODR's W_Cap [N, M, D, E] is binarized over D: N*M*E alphas (Table 2 step 4)."""
    return param.numel() // param.shape[2]


register_binary(XnorConv2d)
register_binary(XnorLinear)
register_binary(XnorProjector, weights=("weight.weight",), scales=_caps_weight_scales)


def _is_unit(m: nn.Module) -> bool:
    return type(m) in BINARY_LAYERS or isinstance(m, UNIT_CLASSES)


# ----------------------------------------------------------------------------- op pricing


def _packet(func: Any) -> Any:
    return getattr(func, "overloadpacket", func)


def _out(out: Any) -> torch.Tensor:
    return out if isinstance(out, torch.Tensor) else out[0]


_BN, _POOLS, _ADAPTIVE = oprules.BATCH_NORMS, oprules.POOLS, oprules.ADAPTIVE_POOLS
_pool_ops = oprules.pool_rule
ops_rule = oprules.rule_for


_TF_ELEMENTWISE = {
    getattr(aten, n)
    for n in (
        "add add_ sub sub_ rsub mul mul_ div div_ maximum minimum pow neg reciprocal log "
        "gt ge lt le eq ne clamp_min clamp_max clamp_min_ clamp_max_"
    ).split()
    if hasattr(aten, n)
}
_TF_REDUCE = {aten.sum, aten.mean, aten.argmax, aten.argmin}


def tf_rule(func: Any, args: tuple, kwargs: dict, out: Any) -> int:
    """TensorFlow profiler (`flops_registry`) prices of the aten op's TF counterpart."""
    p = _packet(func)
    dots = oprules.dot_products(p, args, kwargs, out)
    if dots is not None:
        return dots.flops
    if p in _TF_ELEMENTWISE:
        return _out(out).numel()
    if p in (aten.clamp, aten.clamp_):
        return oprules.clamp_rule(args, kwargs, out)
    if p is aten.rsqrt:
        return 2 * _out(out).numel()
    if p in _TF_REDUCE:
        return args[0].numel()
    if p in (aten._softmax, aten.softmax):
        return 5 * args[0].numel()
    if p is aten.linalg_vector_norm:  # sqrt(sum(square(x))): Square + Sum, Sqrt free
        return 2 * args[0].numel()
    if p in _POOLS:
        return _pool_ops(args, kwargs, out)
    if p in _ADAPTIVE:
        return args[0].numel()
    return 0


_PTF_ACT = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU)
_PTF_POOL = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
)
_PTF_PRODUCT = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)
_PTF_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def ptflops_rule(module: nn.Module | None, func: Any, args: tuple, kwargs: dict, out: Any) -> int:
    """ptflops' module-hook prices ("Mac"), by the exact class of the module running the op."""
    t = type(module)
    p = _packet(func)
    if t in _PTF_PRODUCT:
        dots = oprules.dot_products(p, args, kwargs, out)
        return 0 if dots is None else dots.count * dots.length + dots.extra
    if t in _PTF_BN and p in _BN:
        return (2 if module.affine else 1) * args[0].numel()
    if t in _PTF_ACT and p in (aten.relu, aten.relu_, aten.hardtanh, aten.hardtanh_):
        return _out(out).numel()
    if t in _PTF_POOL and (p in _POOLS or p in _ADAPTIVE or p is aten.mean):
        return args[0].numel()
    return 0


# ----------------------------------------------------------------------------- counter


@dataclass(frozen=True)
class Eq9:
    """XNOR-Net's Eq. 9 for one binary product: c channels, N_W = kh*kw, N_I positions."""

    c: int
    n_w: int
    n_i: int

    @property
    def speedup(self) -> Fraction:
        return Fraction(eq9_speedup(self.c, self.n_w, self.n_i, WORD_BITS))

    def as_dict(self) -> dict[str, Any]:
        return {"c": self.c, "n_w": self.n_w, "n_i": self.n_i, "speedup": self.speedup}


@dataclass
class RowCount:
    """Mutable counts of one row while counting."""

    name: str
    type: str
    leaf: bool
    calls: int = 0
    output_shape: tuple[int, ...] | None = None
    float_macs: int = 0
    binary_macs: int = 0
    binary_outputs: int = 0
    bops: int = 0
    flops: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CONVENTIONS, 0))
    weight_binarization: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(CONVENTIONS, 0)
    )
    eq9: Eq9 | None = None


class LayerCounter(OpCounter):
    """`OpCounter` attributing ops to summary rows (fully qualified names), with binary
    products detected inside registered binary layers (and the dispatch counter's binary
    steps) and float work priced under every convention at once."""

    def __init__(
        self,
        root: nn.Module,
        word: int = WORD_BITS,
        bops_per_word: int = oprules.BOPS_PER_WORD,
    ) -> None:
        super().__init__(None, word, bops_per_word)
        self.owner: dict[str, nn.Module] = {}
        self._row_of: dict[int, str] = {}
        self._short: dict[int, str] = {}
        self._walk(root, "", None)
        self.rows: dict[str, RowCount] = {}
        self.unknown: dict[str, int] = defaultdict(int)

    def _walk(self, m: nn.Module, fqn: str, unit: str | None) -> None:
        row = unit if unit is not None else (fqn or type(m).__name__)
        if id(m) not in self._row_of:
            self._row_of[id(m)] = row
            self._short[id(m)] = fqn.rsplit(".", 1)[-1]
            if unit is None:
                self.owner.setdefault(row, m)
        inner = unit if unit is not None else (row if _is_unit(m) else None)
        for name, child in m.named_children():
            self._walk(child, f"{fqn}.{name}" if fqn else name, inner)

    def _row(self, name: str, module: nn.Module | None) -> RowCount:
        rc = self.rows.get(name)
        if rc is None:
            owner = self.owner.get(name, module)
            leaf = owner is None or not owner._modules or _is_unit(owner)
            kind = GLOBAL if owner is None else type(owner).__name__
            rc = self.rows[name] = RowCount(name, kind, leaf)
        return rc

    def _name(self, module: nn.Module) -> str:
        return self._row_of.get(id(module)) or type(module).__name__

    def _pre(self, module: nn.Module, _args: Any) -> None:
        name = self._name(module)
        self._stack.append((module, name))
        if self.owner.get(name, module) is module:
            self._row(name, module).calls += 1

    def _post(self, module: nn.Module, _args: Any, out: Any) -> None:
        name = self._name(module)
        if self.owner.get(name, module) is module:
            t = out if isinstance(out, torch.Tensor) else None
            if t is None and isinstance(out, (tuple, list)):
                t = next((o for o in out if isinstance(o, torch.Tensor)), None)
            if t is not None:
                self._row(name, module).output_shape = tuple(t.shape)
        super()._post(module, _args, out)

    def _binary_context(self) -> bool:
        if not self._stack:
            return False
        m, _ = self._stack[-1]
        if is_binary_step(m, self._short.get(id(m), "")):
            return True
        return any(type(mod) in BINARY_LAYERS for mod, _ in self._stack)

    def _count(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        module, name = self._stack[-1] if self._stack else (None, GLOBAL)
        rc = self._row(name, module)
        if self._binary_context():
            bops = self._binary_bops(func, args, kwargs, out)
            if bops is not None:
                self._add_binary(rc, func, args, kwargs, out, bops)
                return
        rule = ops_rule(func)
        if rule is None:
            self.unknown[f"{name}: {oprules.op_name(func)}"] += 1
            return
        priced = {
            "ops": int(rule(args, kwargs, out)),
            "tf": tf_rule(func, args, kwargs, out),
            "ptflops": ptflops_rule(module, func, args, kwargs, out),
        }
        weight_prep = any(self._short.get(id(m)) == WEIGHT_STEP for m, _ in self._stack)
        for conv, flops in priced.items():
            rc.flops[conv] += flops
            if weight_prep:
                rc.weight_binarization[conv] += flops
        dots = oprules.dot_products(_packet(func), args, kwargs, out)
        if dots is not None:
            rc.float_macs += dots.count * dots.length

    def _add_binary(
        self, rc: RowCount, func: Any, args: tuple, kwargs: dict, out: Any, bops: int
    ) -> None:
        p = _packet(func)
        dots = oprules.dot_products(p, args, kwargs, out)
        count, length = (dots.count, dots.length) if dots else (_out(out).numel(), 1)
        rc.bops += bops
        rc.binary_macs += count * length
        rc.binary_outputs += count
        if p in (aten.convolution, aten._convolution):
            w, y = args[1], _out(out)
            eq = Eq9(int(w.shape[1]), math.prod(w.shape[2:]), math.prod(y.shape[2:]))
        else:
            eq = Eq9(length, 1, count)
        if rc.eq9 is None or eq.c * eq.n_w > rc.eq9.c * rc.eq9.n_w:
            rc.eq9 = eq


# ----------------------------------------------------------------------------- results


def _norm(x: Fraction) -> int | Fraction:
    return x.numerator if x.denominator == 1 else x


@dataclass(frozen=True)
class LayerSummary:
    """One row of a summary (all counts exact ints; xnor_flops/ops exact Fractions)."""

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    calls: int
    binary: bool
    params: int
    params_1bit: int
    scales: int
    float_macs: int
    float_flops: int
    binary_macs: int
    binary_outputs: int
    bops: int
    flops_by_convention: dict[str, int]
    weight_binarization_flops: int = 0
    eq9: Eq9 | None = None
    word: int = WORD_BITS

    @property
    def params_32bit(self) -> int:
        return self.params - self.params_1bit

    @property
    def xnor_flops(self) -> int | Fraction:
        return _norm(Fraction(self.bops, self.word))

    @property
    def ops(self) -> int | Fraction:
        return _norm(self.float_flops + Fraction(self.bops, self.word))

    @property
    def memory_bits(self) -> int:
        """32 bits per float parameter and per scale, 1 bit per binary weight."""
        return 32 * (self.params_32bit + self.scales) + self.params_1bit

    @property
    def memory_bytes(self) -> int:
        return -(-self.memory_bits // 8)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "calls": self.calls,
            "binary": self.binary,
            "params": self.params,
            "params_32bit": self.params_32bit,
            "params_1bit": self.params_1bit,
            "scales": self.scales,
            "float_macs": self.float_macs,
            "float_flops": self.float_flops,
            "binary_macs": self.binary_macs,
            "bops": self.bops,
            "xnor_flops": self.xnor_flops,
            "ops": self.ops,
            "memory_bytes": self.memory_bytes,
            "weight_binarization_flops": self.weight_binarization_flops,
            "eq9": None if self.eq9 is None else self.eq9.as_dict(),
        }


SUM_KEYS = (
    "params",
    "params_32bit",
    "params_1bit",
    "scales",
    "float_macs",
    "float_flops",
    "binary_macs",
    "bops",
    "memory_bytes",
    "weight_binarization_flops",
)


@dataclass(frozen=True)
class Summary:
    """A whole-network summary: rows, totals, memory saving, XNOR-Net speed-ups."""

    model: str
    input_shape: tuple[int, ...]
    convention: str
    layers: tuple[LayerSummary, ...]
    unknown_ops: tuple[str, ...] = ()
    word: int = WORD_BITS

    def layer(self, name: str) -> LayerSummary:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(name)

    @property
    def totals(self) -> dict[str, Any]:
        t: dict[str, Any] = {k: sum(getattr(r, k) for r in self.layers) for k in SUM_KEYS}
        t["xnor_flops"] = _norm(Fraction(t["bops"], self.word))
        t["ops"] = _norm(t["float_flops"] + Fraction(t["bops"], self.word))
        t["float_memory_bytes"] = 4 * t["params"]
        return t

    @property
    def flops_by_convention(self) -> dict[str, int]:
        return {c: sum(r.flops_by_convention[c] for r in self.layers) for c in CONVENTIONS}

    @property
    def memory_saving(self) -> Fraction:
        """All-float parameter bytes / this network's parameter bytes."""
        t = self.totals
        return Fraction(t["float_memory_bytes"], t["memory_bytes"]) if t["memory_bytes"] else 1

    @property
    def speedup(self) -> dict[str, Any]:
        """XNOR-Net speed-ups (None without binary products):

        - `eq9_binary_layers`: Eq. 9 over all binary products together,
          sum(c N_W N_I) / sum(c N_W N_I / 64 + N_I), i.e. binary MACs / (binary MACs / 64 +
          binary outputs);
        - `eq9_network`: the same with the network's float MACs added unchanged to both sides
          (XNOR-Net's operation count applied end to end);
        - `ops_network`: under this summary's convention, the network with its binary
          products run in float (2 FLOPs per MAC) over the network as counted, both without
          the weight binarization (done once, offline, at deployment): (float FLOPs - weight
          binarization + 2 x binary MACs) / (OPs - weight binarization).
        """
        rows = [r for r in self.layers if r.binary_macs]
        if not rows:
            return {"eq9_binary_layers": None, "eq9_network": None, "ops_network": None}
        bm = sum(r.binary_macs for r in rows)
        outs = sum(r.binary_outputs for r in rows)
        t = self.totals
        fm, wb = t["float_macs"], t["weight_binarization_flops"]
        return {
            "eq9_binary_layers": Fraction(bm) / (Fraction(bm, self.word) + outs),
            "eq9_network": Fraction(fm + bm) / (fm + Fraction(bm, self.word) + outs),
            "ops_network": Fraction(t["float_flops"] - wb + 2 * bm) / (Fraction(t["ops"]) - wb),
        }

    def to_dict(self) -> dict[str, Any]:
        """SPEC-style JSON mapping: model, input, convention, layers, totals (exact)."""
        t = self.totals
        totals = {
            k: t[k]
            for k in (
                "params",
                "params_1bit",
                "float_macs",
                "float_flops",
                "bops",
                "xnor_flops",
                "ops",
                "memory_bytes",
            )
        }
        totals.update(
            params_32bit=t["params_32bit"],
            scales=t["scales"],
            binary_macs=t["binary_macs"],
            weight_binarization_flops=t["weight_binarization_flops"],
            float_memory_bytes=t["float_memory_bytes"],
        )
        return {
            "model": self.model,
            "input": list(self.input_shape),
            "convention": self.convention,
            "word_bits": self.word,
            "layers": [r.as_dict() for r in self.layers],
            "totals": totals,
            "flops_by_convention": self.flops_by_convention,
            "memory_saving": self.memory_saving,
            "speedup": self.speedup,
            "unknown_ops": list(self.unknown_ops),
        }


# ----------------------------------------------------------------------------- entry point


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
            out[id(p)] = int(spec.scales(m, wname, p))
    return out


def summary(
    model: nn.Module,
    example: Sequence[int] | torch.Tensor,
    *,
    convention: str = "ops",
    name: str | None = None,
    word: int = WORD_BITS,
) -> Summary:
    """Count one forward pass of `model` on `example` (an input shape, batch first, filled
    with N(0, 1) from a fixed seed; or an example tensor) and summarize it per layer (see the
    module docstring). `name` labels the summary (default: the model's class name)."""
    if convention not in CONVENTIONS:
        raise XncostError(f"unknown convention {convention!r} (known: {', '.join(CONVENTIONS)})")
    if isinstance(example, torch.Tensor):
        x = example
    else:
        shape = tuple(example)
        if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in shape):
            raise XncostError(f"input shape must be positive integers, got {shape!r}")
        g = torch.Generator().manual_seed(0)
        x = torch.randn(shape, generator=g)
    was_training = model.training
    model.eval()
    counter = LayerCounter(model, word)
    try:
        with torch.no_grad(), counter:
            model(x)
    except XncostError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise XncostError(f"forward pass failed on input {list(x.shape)}: {first}") from None
    finally:
        model.train(was_training)
    return _build(model, counter, tuple(x.shape), convention, name, word)


def _build(
    model: nn.Module,
    counter: LayerCounter,
    input_shape: tuple[int, ...],
    convention: str,
    name: str | None,
    word: int,
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
        worked = params or rc.bops or rc.float_macs or any(rc.flops.values())
        if not (worked or (rc.leaf and rc.calls)):
            continue
        rows.append(
            LayerSummary(
                name=n,
                type=rc.type,
                output_shape=rc.output_shape,
                calls=rc.calls,
                binary=bool(p1 or rc.bops or type(owner) in BINARY_LAYERS),
                params=params,
                params_1bit=p1,
                scales=scales,
                float_macs=rc.float_macs,
                float_flops=rc.flops[convention],
                binary_macs=rc.binary_macs,
                binary_outputs=rc.binary_outputs,
                bops=rc.bops,
                flops_by_convention=dict(rc.flops),
                weight_binarization_flops=rc.weight_binarization[convention],
                eq9=rc.eq9,
                word=word,
            )
        )
    unknown = tuple(f"{k} (x{v})" for k, v in counter.unknown.items())
    return Summary(
        model=name or type(model).__name__,
        input_shape=input_shape,
        convention=convention,
        layers=tuple(rows),
        unknown_ops=unknown,
        word=word,
    )


def _own_params(m: nn.Module) -> list[torch.Tensor]:
    """A row's parameters: all of a unit or leaf, the direct ones of a container."""
    recurse = _is_unit(m) or not m._modules
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
) -> Summary:
    """Summary of the registry model `name` (see `build_registry_model`)."""
    model, shape = build_registry_model(
        name, upsampling=upsampling, input_shape=input_shape, variant=variant
    )
    return summary(model, shape, convention=convention, name=name)


# ----------------------------------------------------------------------------- seeds

# Figures printed by the seeds for registry models (ptflops "GMac" and parameters).
SEED_FIGURES: dict[str, dict[str, str]] = {
    "nin": {"params": "969.82 k", "gmac": "0.23", "source": "seed 003 (pytorch-xnornet, ptflops)"},
    "nin-xnor": {
        "params": "969.82 k",
        "gmac": "0.02",
        "source": "seed 003 (pytorch-xnornet, ptflops)",
    },
}
XNOR_NET_EQ9 = Eq9(256, 9, 14 * 14)  # XNOR-Net's example: 62.27x theoretical, 58x reported


def _g(x: Any, digits: int = 2) -> str:
    return f"{float(x) / 1e9:.{digits}f}"


def _ptflops_parts(s: Summary) -> dict[str, int]:
    """ptflops-style count split by what it prices (products, BN, activations, pooling)."""
    parts = {"MACs": 0, "bias": 0, "batch norm": 0, "activations": 0, "pooling": 0}
    for r in s.layers:
        ptf = r.flops_by_convention["ptflops"]
        if not ptf:
            continue
        if "BatchNorm" in r.type:
            parts["batch norm"] += ptf
        elif "Pool" in r.type:
            parts["pooling"] += ptf
        elif r.float_macs:
            parts["MACs"] += r.float_macs
            parts["bias"] += ptf - r.float_macs
        else:
            parts["activations"] += ptf
    return parts


def seed_lines(s: Summary) -> list[str]:
    """The seed's printed figures for this model beside xncost's, with the difference explained."""
    ref = SEED_FIGURES.get(s.model)
    if ref is None:
        return []
    t, ptf = s.totals, s.flops_by_convention["ptflops"]
    parts = _ptflops_parts(s)
    params_k = f"{t['params'] / 1000:.2f} k"
    lines = [
        f"{ref['source']} prints {ref['params']} parameters and {ref['gmac']} GMac.",
        f"xncost: {t['params']:,} parameters ({params_k}, "
        + ("equal" if params_k == ref["params"] else "DIFFERENT")
        + f"); float MACs of the products {t['float_macs']:,} ({_g(t['float_macs'])} G); "
        f"ptflops-style count {ptf:,} ({_g(ptf)} GMac, "
        + ("equal" if _g(ptf) == ref["gmac"] else "DIFFERENT")
        + ") = "
        + " + ".join(f"{k} {v:,}" for k, v in parts.items() if v)
        + " (ptflops adds conv bias 1 per output, batch norm 2 per element with affine, "
        "ReLU 1 per element and pooling 1 per input element to the MACs).",
    ]
    if t["binary_macs"]:
        lines.append(
            f"The {ref['gmac']} GMac leaves out every binary convolution (a custom module that "
            f"ptflops prices 0): {t['binary_macs']:,} 1-bit MACs ({_g(t['binary_macs'])} G), "
            f"i.e. {t['bops']:,} BOPs (3 per 64-bit word) = {_num(t['xnor_flops'])} XNOR "
            f"FLOPs; the float MACs left are the first and last convolutions, "
            f"{t['float_macs']:,} ({_g(t['float_macs'], 4)} G), plus batch norm, ReLU and "
            "pooling."
        )
    return lines


# ----------------------------------------------------------------------------- rendering

COLUMNS = (
    ("name", "layer"),
    ("type", "type"),
    ("output_shape", "output"),
    ("params", "params"),
    ("params_1bit", "1-bit params"),
    ("float_macs", "float MACs"),
    ("float_flops", "float FLOPs"),
    ("binary_macs", "binary MACs"),
    ("bops", "BOPs"),
    ("xnor_flops", "XNOR FLOPs"),
    ("memory_bytes", "memory (B)"),
    ("eq9", "Eq. 9"),
)
CSV_COLUMNS = (
    "name",
    "type",
    "output_shape",
    "calls",
    "binary",
    "params",
    "params_32bit",
    "params_1bit",
    "scales",
    "float_macs",
    "float_flops",
    "binary_macs",
    "bops",
    "xnor_flops",
    "ops",
    "memory_bytes",
    "weight_binarization_flops",
    "eq9_c",
    "eq9_n_w",
    "eq9_n_i",
    "eq9_speedup",
)


def _num(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else exact_str(v)


def _cells(r: LayerSummary) -> list[str]:
    out = []
    for key, _ in COLUMNS:
        v = getattr(r, key)
        if key == "output_shape":
            out.append("" if v is None else "x".join(map(str, v)))
        elif key == "eq9":
            out.append("" if v is None else f"{float(v.speedup):.2f} (c={v.c}, N_W={v.n_w})")
        elif isinstance(v, str):
            out.append(v)
        else:
            out.append(_num(v))
    return out


def _total_cells(s: Summary) -> list[str]:
    t = s.totals
    eq = s.speedup["eq9_binary_layers"]
    out = ["total", "", "x".join(map(str, s.input_shape)) + " in"]
    for key, _ in COLUMNS[3:]:
        if key == "eq9":
            out.append("" if eq is None else f"{float(eq):.2f} (binary layers)")
        else:
            out.append(_num(t[key]))
    return out


def footer_lines(s: Summary) -> list[str]:
    """Totals, memory, speed-ups and conventions as sentences."""
    t = s.totals
    conv = s.flops_by_convention
    sp = s.speedup
    lines = [
        f"OPs = FLOPs + BOPs/64 = {_num(t['float_flops'])} + {_num(t['bops'])}/{s.word} = "
        f"{_num(t['ops'])} (float FLOPs under `{s.convention}`; BOPs: 3 per packed "
        f"{s.word}-bit word of each +-1 dot product; {_num(t['binary_macs'])} 1-bit MACs).",
        "Float FLOPs by convention: "
        + ", ".join(f"{k} {v:,}" for k, v in conv.items())
        + f"; float MACs {t['float_macs']:,}.",
        f"Parameters {t['params']:,}: {t['params_32bit']:,} at 32 bits, {t['params_1bit']:,} "
        f"at 1 bit (+{t['scales']:,} 32-bit scales); memory {t['memory_bytes']:,} bytes vs "
        f"{t['float_memory_bytes']:,} all-float: {float(s.memory_saving):.2f}x smaller "
        "(1-bit weights alone: 32x).",
    ]
    if t["weight_binarization_flops"]:
        lines.append(
            f"Of the float FLOPs, {t['weight_binarization_flops']:,} binarize the weights on "
            "every forward pass (as the reference layers run); a deployed network stores B_W "
            "and alpha_W and skips them."
        )
    if sp["eq9_binary_layers"] is not None:
        lines.append(
            f"Speed-up (Eq. 9, S = c N_W N_I / (c N_W N_I / 64 + N_I), per layer in the table): "
            f"binary layers together {float(sp['eq9_binary_layers']):.2f}x; whole network "
            f"with its float MACs unchanged {float(sp['eq9_network']):.2f}x; under `"
            f"{s.convention}` (float FLOPs + 2 x binary MACs over OPs, weight binarization "
            f"excluded) {float(sp['ops_network']):.2f}x. XNOR-Net's figure: Eq. 9 at c=256, "
            f"N_W=3x3, N_I=14x14 gives {float(XNOR_NET_EQ9.speedup):.2f}x (theoretical), "
            "58x as reported with its overheads."
        )
    if s.unknown_ops:
        lines.append("Ops without a counting rule (counted 0): " + ", ".join(s.unknown_ops))
    return lines + seed_lines(s)


def _title(s: Summary) -> str:
    return f"{s.model}: input {'x'.join(map(str, s.input_shape))}, convention {s.convention}"


def summary_markdown(s: Summary) -> str:
    heads = [h for _, h in COLUMNS]
    out = [
        f"# Summary of {_title(s)}",
        "",
        "| " + " | ".join(heads) + " |",
        "|---|---|---|" + "---:|" * (len(heads) - 3),
    ]
    out += ["| " + " | ".join(_cells(r)) + " |" for r in s.layers]
    out.append("| " + " | ".join(f"**{c}**" if c else "" for c in _total_cells(s)) + " |")
    out += [""] + [f"- {line}" for line in footer_lines(s)]
    return "\n".join(out) + "\n"


def summary_csv(s: Summary) -> str:
    """One row per layer, then a `total` row (exact values)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in s.layers:
        d = r.as_dict()
        eq = d.pop("eq9") or {}
        d["output_shape"] = "" if r.output_shape is None else "x".join(map(str, r.output_shape))
        d.update({f"eq9_{k}": eq.get(k, "") for k in ("c", "n_w", "n_i", "speedup")})
        if eq:
            d["eq9_speedup"] = f"{float(eq['speedup']):.6f}"
        w.writerow([exact_str(d[c]) if not isinstance(d[c], str) else d[c] for c in CSV_COLUMNS])
    t = s.totals
    w.writerow(
        ["total" if c == "name" else (exact_str(t[c]) if c in t else "") for c in CSV_COLUMNS]
    )
    return buf.getvalue()


def summary_json(s: Summary) -> str:
    from xncost.render import dumps

    return dumps(s.to_dict())


def summary_rich(s: Summary) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    rt = Table(title=f"Summary of {_title(s)}")
    for i, (_, head) in enumerate(COLUMNS):
        rt.add_column(head, justify="left" if i < 3 else "right")
    for r in s.layers:
        rt.add_row(*_cells(r), style="cyan" if r.binary else None)
    rt.add_section()
    rt.add_row(*_total_cells(s), style="bold")
    return Group(rt, *(Text(line) for line in footer_lines(s)))


__all__ = [
    "BINARY_LAYERS",
    "CONVENTIONS",
    "BinaryLayer",
    "Eq9",
    "LayerCounter",
    "LayerSummary",
    "Summary",
    "build_registry_model",
    "parse_input_shape",
    "per_filter_scales",
    "ptflops_rule",
    "register_binary",
    "seed_lines",
    "summarize_model",
    "summary",
    "summary_csv",
    "summary_json",
    "summary_markdown",
    "summary_rich",
    "tf_rule",
]
