"""Per-aten-op counting rules of the `ops` convention (one FLOP per primitive op executed).

A registry of small functions keyed by `torch.ops.aten` overload packets, in the manner of
`torch/utils/flop_counter.py`, except that every rule sees the real arguments and output
(tensors, not shapes) so that the dispatch counter can check operand values:

- products (mm, bmm, addmm, baddbmm, addbmm, dot, mv, addmv, convolution):
  `flops_per_mac` per multiply-accumulate, plus one per element of the added tensor (addmm,
  baddbmm, addmv, convolution bias);
- element-wise ops: 1 per output element; `clamp` with both bounds 2;
- reductions: 1 per input element; softmax and log-softmax: `softmax_per_element`;
- data movement, creation and metadata: 0.

An op with no rule is *unknown* (`rule_for` returns None); callers must report it rather
than count it as 0. Products also expose their dot products (`dot_products`) so that a
binary step can price them in BOPs (`Convention.bops`). Every rule takes the `Convention`
whose prices it applies (`OPS` unless told otherwise); the registry refuses duplicates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from xncost.conventions import OPS, Convention
from xncost.profile.registry import RuleRegistry

aten = torch.ops.aten

OpRule = Callable[[tuple, dict, Any, Convention], int]
RULES = RuleRegistry("ops rules")
OP_RULES: dict[Any, OpRule] = RULES.rules
register = RULES.register


def _packets(names: tuple[str, ...], inplace: bool = False) -> list[Any]:
    out = []
    for name in names:
        for n in (name, name + "_") if inplace else (name,):
            try:
                out.append(getattr(aten, n))
            except AttributeError:
                continue
    return out


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def _first_tensor(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    return next(t for t in out if isinstance(t, torch.Tensor))


@dataclass(frozen=True)
class DotProducts:
    """What a product op computes: `count` dot products of length `length`, plus `extra`
    element-wise additions (bias / added tensor), on operands `lhs` and `rhs`."""

    count: int
    length: int
    extra: int
    lhs: torch.Tensor
    rhs: torch.Tensor
    binary_ok: bool = True

    @property
    def macs(self) -> int:
        return self.count * self.length

    def flops(self, conv: Convention = OPS) -> int:
        """`flops_per_mac` per multiply-accumulate plus the added tensor's elements."""
        return conv.flops_per_mac * self.macs + self.extra

    def bops(self, conv: Convention = OPS) -> int:
        return conv.bops(self.count, self.length)


def dot_products(func: Any, args: tuple, kwargs: dict, out: Any) -> DotProducts | None:
    """The dot products of a product op, or None if `func` is not a product."""
    p = getattr(func, "overloadpacket", func)
    if p in (aten.mm, aten.bmm):
        a, b = args[0], args[1]
        return DotProducts(out.numel(), a.shape[-1], 0, a, b)
    if p in (aten.addmm, aten.baddbmm):
        a, b = args[1], args[2]
        return DotProducts(out.numel(), a.shape[-1], out.numel(), a, b)
    if p is aten.addbmm:
        a, b = args[1], args[2]
        return DotProducts(out.numel() * a.shape[0], a.shape[-1], out.numel(), a, b)
    if p is aten.dot:
        return DotProducts(1, args[0].numel(), 0, args[0], args[1])
    if p is aten.mv:
        return DotProducts(out.numel(), args[0].shape[-1], 0, args[0], args[1])
    if p is aten.addmv:
        return DotProducts(out.numel(), args[1].shape[-1], out.numel(), args[1], args[2])
    if p in (aten.convolution, aten._convolution):
        x, w, bias = args[0], args[1], args[2]
        transposed = bool(_arg(args, kwargs, 6, "transposed", False))
        bias_ops = out.numel() if bias is not None else 0
        if transposed:
            macs = x.numel() * w.shape[1] * math.prod(w.shape[2:])
            return DotProducts(macs, 1, bias_ops, x, w, binary_ok=False)
        length = w.shape[1] * math.prod(w.shape[2:])
        return DotProducts(out.numel(), length, bias_ops, x, w)
    return None


PRODUCT_OPS = (
    aten.mm,
    aten.bmm,
    aten.addmm,
    aten.baddbmm,
    aten.addbmm,
    aten.dot,
    aten.mv,
    aten.addmv,
    aten.convolution,
    aten._convolution,
)


def _product_rule(packet: Any) -> OpRule:
    def rule(args: tuple, kwargs: dict, out: Any, conv: Convention = OPS) -> int:
        """`flops_per_mac` per multiply-accumulate plus the added tensor's elements."""
        return dot_products(packet, args, kwargs, out).flops(conv)

    rule.__name__ = f"{packet.__name__}_rule"
    return rule


for _p in PRODUCT_OPS:
    register(_p)(_product_rule(_p))

ELEMENTWISE = (
    "add",
    "sub",
    "rsub",
    "mul",
    "div",
    "neg",
    "abs",
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "reciprocal",
    "pow",
    "round",
    "sign",
    "sgn",
    "relu",
    "sigmoid",
    "tanh",
    "hardtanh",
    "gt",
    "ge",
    "lt",
    "le",
    "eq",
    "ne",
    "where",
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
    "maximum",
    "minimum",
    "clamp_min",
    "clamp_max",
    "floor",
    "ceil",
    "trunc",
)


@register(*_packets(ELEMENTWISE, inplace=True))
def elementwise_rule(args: tuple, kwargs: dict, out: Any, conv: Convention = OPS) -> int:
    """One FLOP per output element."""
    return _first_tensor(out).numel()


@register(*_packets(("clamp",), inplace=True))
def clamp_rule(args: tuple, kwargs: dict, out: Any, conv: Convention = OPS) -> int:
    """A min and/or a max per output element: 2 with both bounds, 1 with one."""
    bounds = sum(_arg(args, kwargs, i, n) is not None for i, n in ((1, "min"), (2, "max")))
    return bounds * _first_tensor(out).numel()


@register(*_packets(("_prelu_kernel", "prelu")))
def prelu_rule(args: tuple, kwargs: dict, out: Any, conv: Convention = OPS) -> int:
    """PReLU, x if x > 0 else a*x: a multiply and a select per output element."""
    return 2 * _first_tensor(out).numel()


REDUCTIONS = (
    "sum",
    "mean",
    "amax",
    "amin",
    "prod",
    "norm",
    "linalg_vector_norm",
    "var",
    "std",
    "var_mean",
    "std_mean",
    "argmax",
    "argmin",
    "all",
    "any",
)


@register(*_packets(REDUCTIONS))
def reduction_rule(args: tuple, kwargs: dict, out: Any, conv: Convention = OPS) -> int:
    """One FLOP per input element."""
    return args[0].numel()


@register(aten.max, aten.min)
def max_min_rule(args: tuple, kwargs: dict, out: Any, conv: Convention = OPS) -> int:
    """max/min: a reduction (1 per input element), or element-wise with a tensor `other`."""
    if len(args) > 1 and isinstance(args[1], torch.Tensor):
        return _first_tensor(out).numel()
    return args[0].numel()


@register(*_packets(("_softmax", "softmax", "_log_softmax", "log_softmax")))
def softmax_rule(args: tuple, kwargs: dict, out: Any, conv: Convention = OPS) -> int:
    """`softmax_per_element` (`ops`: 5, max, subtract, exp, sum, divide)."""
    return conv.softmax_per_element * args[0].numel()


ZERO_COST = (
    "view",
    "reshape",
    "_unsafe_view",
    "_reshape_alias",
    "expand",
    "expand_as",
    "view_as",
    "as_strided",
    "permute",
    "transpose",
    "t",
    "unsqueeze",
    "squeeze",
    "select",
    "slice",
    "narrow",
    "split",
    "split_with_sizes",
    "unbind",
    "chunk",
    "flatten",
    "unflatten",
    "movedim",
    "diagonal",
    "clone",
    "copy_",
    "contiguous",
    "cat",
    "stack",
    "_to_copy",
    "detach",
    "detach_",
    "alias",
    "lift_fresh",
    "lift_fresh_copy",
    "zeros",
    "zeros_like",
    "ones",
    "ones_like",
    "empty",
    "empty_like",
    "empty_strided",
    "full",
    "full_like",
    "fill_",
    "zero_",
    "new_zeros",
    "new_ones",
    "new_empty",
    "new_empty_strided",
    "new_full",
    "scalar_tensor",
    "arange",
    "_local_scalar_dense",
    "size",
    "sym_size",
    "stride",
    "sym_stride",
    "numel",
    "sym_numel",
    "dim",
    "storage_offset",
    "sym_storage_offset",
    "is_contiguous",
    "is_same_size",
)


BATCH_NORMS = _packets(("native_batch_norm", "_native_batch_norm_legit_no_training", "batch_norm"))
POOLS = _packets(("max_pool2d_with_indices", "max_pool2d", "avg_pool2d"))
ADAPTIVE_POOLS = _packets(("_adaptive_avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"))


@register(*BATCH_NORMS)
def batch_norm_rule(args: tuple, kwargs: dict, out: Any, conv: Convention = OPS) -> int:
    """Inference batch norm (x - mean) * invstd [* weight + bias]: 2 (4 with affine) per
    element, plus eps-add and rsqrt per channel."""
    x = args[0]
    affine = len(args) > 1 and args[1] is not None
    return (4 if affine else 2) * x.numel() + 2 * x.shape[1]


@register(*POOLS)
def pool_rule(args: tuple, kwargs: dict, out: Any, conv: Convention = OPS) -> int:
    """Window pooling: one comparison or add per window element and output."""
    k = _arg(args, kwargs, 1, "kernel_size")
    k = [k] if isinstance(k, int) else list(k)
    window = math.prod(k) if len(k) > 1 else k[0] ** 2
    return window * _first_tensor(out).numel()


@register(*ADAPTIVE_POOLS)
def adaptive_pool_rule(args: tuple, kwargs: dict, out: Any, conv: Convention = OPS) -> int:
    """Global / adaptive pooling: one add or comparison per input element."""
    return args[0].numel()


@register(*_packets(ZERO_COST))
def zero_rule(args: tuple, kwargs: dict, out: Any, conv: Convention = OPS) -> int:
    """Data movement, creation and metadata: no arithmetic."""
    return 0


def rule_for(func: Any) -> OpRule | None:
    """The rule for an aten overload (or packet), or None if the op is not covered."""
    return OP_RULES.get(getattr(func, "overloadpacket", func))


def op_name(func: Any) -> str:
    """'aten.bmm' style name of an overload or packet."""
    p = getattr(func, "overloadpacket", func)
    return f"{getattr(p, '_qualified_op_name', str(p)).replace('::', '.')}"


def is_binary(t: Any) -> bool:
    """True if `t` is a non-empty tensor whose values are all -1 or +1."""
    if not isinstance(t, torch.Tensor) or t.numel() == 0 or t.is_complex():
        return False
    return bool(((t == 1) | (t == -1)).all())


def contraction_flops(outputs: int, length: int, conv: Convention = OPS) -> int:
    """FLOPs of `outputs` float dot products of length `length` as torch executes an einsum:
    `flops_per_mac` per multiply-accumulate through bmm, but `single_mac_flops` (one `mul`)
    per output when the contracted axis has size 1 (einsum then lowers to aten.mul)."""
    return outputs * (conv.flops_per_mac * length if length > 1 else conv.single_mac_flops)
from xncost.profile.transformer_rules import dot_products  # noqa: E402, F811  (fused ops too)
