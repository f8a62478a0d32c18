"""The whole-network counter: the counting engine (`xncost.profile.engine`) under every
whole-model convention at once, its results attributed to summary rows (docs/conventions.md).

A *row* is a leaf module, or a whole *unit* (a declared binary layer or a capsule layer,
whose sub-steps fold into one row), or a container that runs ops itself (e.g. a residual add).
Per row: one `Count` per convention (float and 1-bit MACs, FLOPs, BOPs), the MACs of the
products by kind (`xncost.profile.detect`: 1-bit, binary-weight, binary-activation, ternary,
float), the weight-binarization FLOPs and Eq. 9 of its largest 1-bit product.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import _disable_current_modes

from xncost.conventions import MODEL_CONVENTIONS, OPS, Convention, Count, OpEvent, aten
from xncost.core.formulas import eq9_speedup
from xncost.core.layers import LAYERS
from xncost.profile.binary import BinaryPatterns, declaration
from xncost.profile.detect import Product
from xncost.profile.engine import DETECT, GLOBAL, CountingEngine, OpResult

UNIT_CLASSES: tuple[type, ...] = tuple(s.module_class() for s in LAYERS.values() if s.is_caps)
WEIGHT_STEP = "binarize_weight"


def is_unit(m: nn.Module) -> bool:
    """A declared binary layer (not a step) or a capsule layer: one row of the summary."""
    spec = declaration(m)
    return (spec is not None and not spec.step) or isinstance(m, UNIT_CLASSES)


def model_conventions(word_bits: int = OPS.word_bits) -> tuple[Convention, ...]:
    """Every whole-model convention at the word size (a fixed-word one keeps its own)."""
    return tuple(
        c if c.fixed_word or c.word_bits == word_bits else c.with_word(word_bits)
        for c in MODEL_CONVENTIONS.values()
    )


@dataclass(frozen=True)
class Eq9:
    """XNOR-Net's Eq. 9 for one binary product: c channels, N_W = kh*kw, N_I positions."""

    c: int
    n_w: int
    n_i: int
    word: int = OPS.word_bits

    @property
    def speedup(self) -> Fraction:
        return Fraction(eq9_speedup(self.c, self.n_w, self.n_i, self.word))

    def as_dict(self) -> dict[str, Any]:
        return {"c": self.c, "n_w": self.n_w, "n_i": self.n_i, "speedup": self.speedup}


@dataclass
class RowCount:
    """Mutable counts of one row while counting: one `Count` per convention, the MACs of its
    products by kind, and Eq. 9 of its largest 1-bit product."""

    name: str
    type: str
    leaf: bool
    conventions: tuple[str, ...]
    calls: int = 0
    output_shape: tuple[int, ...] | None = None
    binary_outputs: int = 0
    counts: dict[str, Count] = field(default_factory=dict)
    macs_by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    weight_binarization: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    eq9: Eq9 | None = None

    def __post_init__(self) -> None:
        self.counts = {c: Count() for c in self.conventions}

    @property
    def float_macs(self) -> int:
        return next(iter(self.counts.values())).float_macs if self.counts else 0

    @property
    def binary_macs(self) -> int:
        return next(iter(self.counts.values())).binary_macs if self.counts else 0


def _first(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return next((o for o in out if isinstance(o, torch.Tensor)), None)
    return None


def shape_of(t: torch.Tensor) -> tuple[int, ...]:
    """A tensor's shape; a nested tensor's padded (batch, then the longest extent of each
    dimension), as `to_padded_tensor` would give it."""
    if not t.is_nested:
        return tuple(t.shape)
    with _disable_current_modes():  # bookkeeping, not the model's work
        sizes = t._nested_tensor_size().tolist()
    return (len(sizes), *(max(dim, default=0) for dim in zip(*sizes, strict=True)))


class LayerCounter(CountingEngine):
    """Counts one forward pass into summary rows (fully qualified names)."""

    def __init__(
        self,
        root: nn.Module,
        word_bits: int = OPS.word_bits,
        binary: BinaryPatterns | None = None,
        detect: bool = DETECT,
    ) -> None:
        super().__init__(root, model_conventions(word_bits), binary, detect)
        self.word = word_bits
        self.owner: dict[str, nn.Module] = {}
        self._row_of: dict[int, str] = {}
        self._short: dict[int, str] = {}
        self._walk(root, "", None)
        self.rows: dict[str, RowCount] = {}
        self.unknown: dict[str, int] = defaultdict(int)
        self.modules: dict[str, tuple[str, tuple[int, ...] | None]] = {}  # name -> type, output
        self._fqn: dict[int, str] = {id(m): n for n, m in root.named_modules() if n}

    def _walk(self, m: nn.Module, fqn: str, unit: str | None) -> None:
        row = unit if unit is not None else (fqn or type(m).__name__)
        if id(m) not in self._row_of:
            self._row_of[id(m)] = row
            self._short[id(m)] = fqn.rsplit(".", 1)[-1]
            if unit is None:
                self.owner.setdefault(row, m)
        inner = unit if unit is not None else (row if is_unit(m) else None)
        for name, child in m.named_children():
            self._walk(child, f"{fqn}.{name}" if fqn else name, inner)

    def row(self, name: str, module: nn.Module | None) -> RowCount:
        rc = self.rows.get(name)
        if rc is None:
            owner = self.owner.get(name, module)
            leaf = owner is None or not owner._modules or is_unit(owner)
            kind = GLOBAL if owner is None else type(owner).__name__
            names = tuple(c.name for c in self.conventions)
            rc = self.rows[name] = RowCount(name, kind, leaf, names)
        return rc

    def module_name(self, module: nn.Module) -> str:
        return self._row_of.get(id(module)) or type(module).__name__

    def enter(self, module: nn.Module) -> None:
        name = self.stack[-1][1]
        if self.owner.get(name, module) is module:
            self.row(name, module).calls += 1

    def exit(self, module: nn.Module, out: Any) -> None:
        name = self.module_name(module)
        t = _first(out)
        shape = None if t is None else shape_of(t)
        fqn = self._fqn.get(id(module))
        if fqn is not None:
            self.modules[fqn] = (type(module).__name__, shape)
        if self.owner.get(name, module) is module and shape is not None:
            self.row(name, module).output_shape = shape

    def record(self, result: OpResult) -> None:
        module, name = self.stack[-1] if self.stack else (None, GLOBAL)
        rc = self.row(name, module)
        if result.unknown:
            self.unknown[f"{name}: {result.info.display}"] += 1
        for product in result.products:
            rc.macs_by_kind[product.kind] += product.macs
        for product in result.one_bit:
            self._add_binary(rc, result.ev, product)
        weight_prep = any(self._short.get(id(m)) == WEIGHT_STEP for m, _ in self.stack)
        for conv, count in result.counts.items():
            rc.counts[conv].add(count)
            if weight_prep:
                rc.weight_binarization[conv] += count.flops

    def _add_binary(self, rc: RowCount, ev: OpEvent, product: Product) -> None:
        rc.binary_outputs += product.count
        if ev.op in aten.CONVOLUTIONS:
            w, y = ev.args[1], ev.output
            eq = Eq9(int(w.shape[1]), math.prod(w.shape[2:]), math.prod(y.shape[2:]), self.word)
        else:
            eq = Eq9(product.length, 1, product.count, self.word)
        if rc.eq9 is None or eq.c * eq.n_w > rc.eq9.c * rc.eq9.n_w:
            rc.eq9 = eq
