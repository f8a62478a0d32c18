"""The aten op vocabulary the conventions' rules share (torch-free).

Ops are named as torch names an overload packet, `func.overloadpacket._qualified_op_name`
(`"aten::mm"`, `"aten::add_"`). This module says which ops are products and what a product
computes (`DotProducts`: `count` dot products of `length`, plus `extra` element-wise
additions, on operands `lhs` and `rhs`), and holds the op lists several conventions price
(pooling, batch norm, ReLU-like). It only reads `.shape`, `.numel()` and `.dim()` of the
tensors it is given, so it imports without torch.

A new product op (a fused kernel, say) is one `register_product("aten::op")` function
returning its `DotProducts`; every counting path then sees it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from xncost.errors import XncostError

if TYPE_CHECKING:
    from xncost.conventions.base import Convention, OpEvent


def names(ops: Iterable[str], inplace: bool = False) -> tuple[str, ...]:
    """`("add", "sub")` -> `("aten::add", "aten::sub")`, with the in-place `add_` too when
    `inplace`."""
    out: list[str] = []
    for op in ops:
        out.append(f"aten::{op}")
        if inplace:
            out.append(f"aten::{op}_")
    return tuple(out)


def display_name(op: str) -> str:
    """`"aten::bmm"` -> `"aten.bmm"` (how per-op counts are reported)."""
    return op.replace("::", ".")


def arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    """Positional argument `i`, else keyword `name`, else `default`."""
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def first_tensor(out: Any) -> Any:
    """The output itself, or the first tensor of a tuple of outputs."""
    if hasattr(out, "numel"):
        return out
    return next(t for t in out if hasattr(t, "numel"))


@dataclass(frozen=True)
class DotProducts:
    """What a product op computes: `count` dot products of length `length`, plus `extra`
    element-wise additions (bias / added tensor), on operands `lhs` (the input) and `rhs`
    (the weight, for convolutions and linear layers).

    `lhs_dims` / `rhs_dims`: the axes of each operand a dot product runs along (its
    contracted axes); an operand is binary up to scale when it takes values {-a, +a} with one
    `a` per slice across those axes. `binary_ok` is False where a 1-bit product cannot be
    formed (transposed convolution).
    """

    count: int
    length: int
    extra: int
    lhs: Any
    rhs: Any
    lhs_dims: tuple[int, ...] = (-1,)
    rhs_dims: tuple[int, ...] = (-2,)
    binary_ok: bool = True

    @property
    def macs(self) -> int:
        return self.count * self.length

    def flops(self, conv: Any) -> int:
        """`flops_per_mac` per multiply-accumulate plus the added tensor's elements."""
        return conv.flops_per_mac * self.macs + self.extra

    def without(self, dropped: Iterable[int]) -> DotProducts:
        """The op with its dot products (part 0, the only one) left out: the added tensor
        stays, priced by the rules as float work beside 1-bit products."""
        return replace(self, count=0) if 0 in set(dropped) else self


@dataclass(frozen=True)
class FusedProducts(DotProducts):
    """The products of one fused op (an attention kernel) as one `DotProducts`: `parts`, each
    with a `name` and its own `dots` (operands where the op's arguments hold them, None for a
    tensor made inside the kernel); `macs`, `count`, `extra` and `flops` are their sums. The
    counting engine classifies every part; a rule sees only the parts that are not 1-bit."""

    parts: tuple[Any, ...] = ()

    @classmethod
    def of(cls, parts: Iterable[Any]) -> FusedProducts:
        parts = tuple(parts)
        count = sum(p.dots.count for p in parts)
        extra = sum(p.dots.extra for p in parts)
        return cls(count, 0, extra, None, None, binary_ok=False, parts=parts)

    @property
    def macs(self) -> int:
        return sum(p.dots.macs for p in self.parts)

    def flops(self, conv: Any) -> int:
        return sum(p.dots.flops(conv) for p in self.parts)

    def without(self, dropped: Iterable[int]) -> FusedProducts:
        """The same op with the parts at the indices `dropped` left out."""
        gone = set(dropped)
        return FusedProducts.of(p for i, p in enumerate(self.parts) if i not in gone)


def parts_of(dots: DotProducts) -> tuple[DotProducts, ...]:
    """The dot products a product op computes: its parts when fused, else itself."""
    if isinstance(dots, FusedProducts):
        return tuple(p.dots for p in dots.parts)
    return (dots,)


Decomposer = Callable[[tuple, dict, Any], "DotProducts | None"]
PRODUCTS: dict[str, Decomposer] = {}


def register_product(*ops: str, override: bool = False) -> Callable[[Decomposer], Decomposer]:
    """Decorator: `fn(args, kwargs, out) -> DotProducts` is how the ops `ops` decompose into
    dot products; an op registered twice raises unless `override`."""

    def deco(fn: Decomposer) -> Decomposer:
        for op in ops:
            if op in PRODUCTS and not override:
                raise XncostError(f"products: {op} is already registered")
        for op in ops:
            PRODUCTS[op] = fn
        return fn

    return deco


def dot_products(op: str, args: tuple, kwargs: dict, out: Any) -> DotProducts | None:
    """The dot products of a product op, or None if `op` is not a product."""
    fn = PRODUCTS.get(op)
    return None if fn is None else fn(args, kwargs, out)


@register_product("aten::mm", "aten::bmm")
def _mm(args: tuple, kwargs: dict, out: Any) -> DotProducts:
    a, b = args[0], args[1]
    return DotProducts(out.numel(), a.shape[-1], 0, a, b)


@register_product("aten::addmm", "aten::baddbmm")
def _addmm(args: tuple, kwargs: dict, out: Any) -> DotProducts:
    a, b = args[1], args[2]
    return DotProducts(out.numel(), a.shape[-1], out.numel(), a, b)


@register_product("aten::addbmm")
def _addbmm(args: tuple, kwargs: dict, out: Any) -> DotProducts:
    a, b = args[1], args[2]
    return DotProducts(out.numel() * a.shape[0], a.shape[-1], out.numel(), a, b, (0, -1), (0, -2))


@register_product("aten::dot")
def _dot(args: tuple, kwargs: dict, out: Any) -> DotProducts:
    a, b = args[0], args[1]
    return DotProducts(1, a.numel(), 0, a, b, (-1,), (-1,))


@register_product("aten::mv")
def _mv(args: tuple, kwargs: dict, out: Any) -> DotProducts:
    return DotProducts(out.numel(), args[0].shape[-1], 0, args[0], args[1], (-1,), (-1,))


@register_product("aten::addmv")
def _addmv(args: tuple, kwargs: dict, out: Any) -> DotProducts:
    return DotProducts(out.numel(), args[1].shape[-1], out.numel(), args[1], args[2], (-1,), (-1,))


@register_product("aten::convolution", "aten::_convolution")
def _convolution(args: tuple, kwargs: dict, out: Any) -> DotProducts:
    """Per output element one dot product over in_channels/groups x kernel; the input's scale
    must be one per sample (a window spans channels and positions), the weight's one per
    output channel."""
    x, w, bias = args[0], args[1], args[2]
    transposed = bool(arg(args, kwargs, 6, "transposed", False))
    bias_ops = out.numel() if bias is not None else 0
    per_sample = tuple(range(1, x.dim()))
    per_filter = tuple(range(1, w.dim()))
    if transposed:
        macs = x.numel() * w.shape[1] * math.prod(w.shape[2:])
        return DotProducts(macs, 1, bias_ops, x, w, per_sample, per_filter, binary_ok=False)
    length = w.shape[1] * math.prod(w.shape[2:])
    return DotProducts(out.numel(), length, bias_ops, x, w, per_sample, per_filter)


PRODUCT_OPS: tuple[str, ...] = tuple(PRODUCTS)
CONVOLUTIONS = ("aten::convolution", "aten::_convolution")
BATCH_NORMS = names(("native_batch_norm", "_native_batch_norm_legit_no_training", "batch_norm"))
POOLS = names(("max_pool2d_with_indices", "max_pool2d", "avg_pool2d"))
ADAPTIVE_POOLS = names(("_adaptive_avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"))
RELUS = names(("relu", "hardtanh"), inplace=True)


def output_elements(out: Any) -> int:
    """Elements of the (first) output."""
    return first_tensor(out).numel()


# Rules several conventions register (the one rule signature: `rule(ev, conv) -> int`).


def product_rule(ev: OpEvent, conv: Convention) -> int:
    """`flops_per_mac` per multiply-accumulate plus the added tensor's elements."""
    return ev.dots.flops(conv)


def per_output(ev: OpEvent, conv: Convention) -> int:
    """One FLOP per output element."""
    return output_elements(ev.out)


def per_input(ev: OpEvent, conv: Convention) -> int:
    """One FLOP per input element."""
    return ev.args[0].numel()


def per_bound(ev: OpEvent, conv: Convention) -> int:
    """clamp: a min and/or a max per output element (1 per bound given)."""
    bounds = sum(arg(ev.args, ev.kwargs, i, n) is not None for i, n in ((1, "min"), (2, "max")))
    return bounds * output_elements(ev.out)


def per_window(ev: OpEvent, conv: Convention) -> int:
    """Window pooling: one comparison or add per window element and output."""
    k = arg(ev.args, ev.kwargs, 1, "kernel_size")
    k = [k] if isinstance(k, int) else list(k)
    window = math.prod(k) if len(k) > 1 else k[0] ** 2
    return window * output_elements(ev.out)


def free(ev: OpEvent, conv: Convention) -> int:
    """No arithmetic (data movement, metadata), or an op the convention does not price."""
    return 0
