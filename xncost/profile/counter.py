"""The whole-network counter: every aten op of one forward pass, attributed to summary rows
and priced under every whole-network convention at once (docs/conventions.md).

A *row* is a leaf module, or a whole *unit* (a registered binary layer or a capsule layer,
whose sub-steps fold into one row), or a container that runs ops itself (e.g. a residual add).
Inside a binary step or a registered binary layer, a product of two +-1 tensors is binary
work: its 1-bit MACs, and its BOPs under each convention (`Convention.bops`). Every other op
is float work: its MACs when it is a product, and its FLOPs under `ops` (`oprules`), `tf`
(`tfrules`), `ptflops` (`ptflopsrules`) and `bnn` (float MACs of the products only).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from xncost.conventions import MODEL_CONVENTIONS, OPS, Convention
from xncost.formulas import eq9_speedup
from xncost.layers import LAYERS
from xncost.profile import oprules
from xncost.profile.binary import BINARY_LAYERS
from xncost.profile.dispatch import GLOBAL, ModuleDispatch, binary_product
from xncost.profile.ptflopsrules import ptflops_flops
from xncost.profile.tfrules import tf_flops

aten = torch.ops.aten
CONVENTIONS = tuple(MODEL_CONVENTIONS)
UNIT_CLASSES: tuple[type, ...] = tuple(s.module_class() for s in LAYERS.values() if s.is_caps)
WEIGHT_STEP = "binarize_weight"


def is_unit(m: nn.Module) -> bool:
    """A registered binary layer or a capsule layer: one row of the summary."""
    return type(m) in BINARY_LAYERS or isinstance(m, UNIT_CLASSES)


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
    """Mutable counts of one row while counting (FLOPs and BOPs per convention)."""

    name: str
    type: str
    leaf: bool
    calls: int = 0
    output_shape: tuple[int, ...] | None = None
    float_macs: int = 0
    binary_macs: int = 0
    binary_outputs: int = 0
    bops: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CONVENTIONS, 0))
    flops: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CONVENTIONS, 0))
    weight_binarization: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(CONVENTIONS, 0)
    )
    eq9: Eq9 | None = None


def _out(out: Any) -> torch.Tensor:
    return out if isinstance(out, torch.Tensor) else out[0]


def float_prices(
    convs: dict[str, Convention],
    module: nn.Module | None,
    func: Any,
    args: tuple,
    kwargs: dict,
    out: Any,
    rule: Any,
    dots: oprules.DotProducts | None,
) -> dict[str, int]:
    """FLOPs of one float op under every whole-network convention."""
    return {
        "ops": int(rule(args, kwargs, out, convs["ops"])),
        "tf": tf_flops(func, args, kwargs, out, convs["tf"]),
        "ptflops": ptflops_flops(module, func, args, kwargs, out, convs["ptflops"]),
        "bnn": 0 if dots is None else convs["bnn"].flops_per_mac * dots.macs,
    }


class LayerCounter(ModuleDispatch):
    """Counts one forward pass into summary rows (fully qualified names)."""

    def __init__(self, root: nn.Module, word_bits: int = OPS.word_bits) -> None:
        super().__init__()
        self.convs = {
            name: c if c.word_bits == word_bits else c.with_word(word_bits)
            for name, c in MODEL_CONVENTIONS.items()
        }
        self.word = word_bits
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
        inner = unit if unit is not None else (row if is_unit(m) else None)
        for name, child in m.named_children():
            self._walk(child, f"{fqn}.{name}" if fqn else name, inner)

    def row(self, name: str, module: nn.Module | None) -> RowCount:
        rc = self.rows.get(name)
        if rc is None:
            owner = self.owner.get(name, module)
            leaf = owner is None or not owner._modules or is_unit(owner)
            kind = GLOBAL if owner is None else type(owner).__name__
            rc = self.rows[name] = RowCount(name, kind, leaf)
        return rc

    def module_name(self, module: nn.Module) -> str:
        return self._row_of.get(id(module)) or type(module).__name__

    def short_name(self, module: nn.Module, name: str) -> str:
        return self._short.get(id(module), "")

    def enter(self, module: nn.Module) -> None:
        name = self.stack[-1][1]
        if self.owner.get(name, module) is module:
            self.row(name, module).calls += 1

    def exit(self, module: nn.Module, out: Any) -> None:
        name = self.module_name(module)
        if self.owner.get(name, module) is module:
            t = out if isinstance(out, torch.Tensor) else None
            if t is None and isinstance(out, (tuple, list)):
                t = next((o for o in out if isinstance(o, torch.Tensor)), None)
            if t is not None:
                self.row(name, module).output_shape = tuple(t.shape)

    def op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        module, name = self.stack[-1] if self.stack else (None, GLOBAL)
        rc = self.row(name, module)
        if self.in_binary_context():
            product = binary_product(func, args, kwargs, out)
            if product is not None:
                self._add_binary(rc, func, args, out, product.count, product.length)
                return
        rule = oprules.rule_for(func)
        if rule is None:
            self.unknown[f"{name}: {oprules.op_name(func)}"] += 1
            return
        dots = oprules.dot_products(func, args, kwargs, out)
        priced = float_prices(self.convs, module, func, args, kwargs, out, rule, dots)
        weight_prep = any(self._short.get(id(m)) == WEIGHT_STEP for m, _ in self.stack)
        for conv, flops in priced.items():
            rc.flops[conv] += flops
            if weight_prep:
                rc.weight_binarization[conv] += flops
        if dots is not None:
            rc.float_macs += dots.macs

    def _add_binary(
        self, rc: RowCount, func: Any, args: tuple, out: Any, count: int, length: int
    ) -> None:
        for name, conv in self.convs.items():
            rc.bops[name] += conv.bops(count, length)
        rc.binary_macs += count * length
        rc.binary_outputs += count
        if getattr(func, "overloadpacket", func) in (aten.convolution, aten._convolution):
            w, y = args[1], _out(out)
            eq = Eq9(int(w.shape[1]), math.prod(w.shape[2:]), math.prod(y.shape[2:]), self.word)
        else:
            eq = Eq9(length, 1, count, self.word)
        if rc.eq9 is None or eq.c * eq.n_w > rc.eq9.c * rc.eq9.n_w:
            rc.eq9 = eq
