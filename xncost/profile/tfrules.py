"""The `tf` convention's op rules: TensorFlow's profiler (`flops_registry`) prices of each aten
op's TF counterpart (docs/conventions.md), one small rule per op, in a registry shaped like
`xncost.profile.oprules`. Ops with no rule cost 0, as in TensorFlow's profiler (batch norm,
ReLU/ReLU6, sign, round, abs, sqrt, exp).
"""

from __future__ import annotations

from typing import Any

import torch

from xncost.conventions import TF, Convention
from xncost.profile import oprules
from xncost.profile.registry import RuleRegistry

aten = torch.ops.aten
RULES = RuleRegistry("tf rules")
register = RULES.register

ELEMENTWISE = (
    "add sub rsub mul div maximum minimum pow neg reciprocal log gt ge lt le eq ne "
    "clamp_min clamp_max"
).split()
INPLACE = ("add", "sub", "mul", "div", "clamp_min", "clamp_max")


def _out(out: Any) -> torch.Tensor:
    return out if isinstance(out, torch.Tensor) else out[0]


@register(*oprules.PRODUCT_OPS)
def product_rule(args: tuple, kwargs: dict, out: Any, conv: Convention, func: Any) -> int:
    """MatMul / Conv2D: FLOPs per MAC; BiasAdd 1 per output."""
    return oprules.dot_products(func, args, kwargs, out).flops(conv)


@register(*oprules._packets(tuple(n for n in ELEMENTWISE if n not in INPLACE)))
@register(*oprules._packets(INPLACE, inplace=True))
def elementwise_rule(args: tuple, kwargs: dict, out: Any, conv: Convention, func: Any) -> int:
    """Element-wise arithmetic and comparisons: 1 per output element."""
    return _out(out).numel()


@register(aten.clamp, aten.clamp_)
def clamp_rule(args: tuple, kwargs: dict, out: Any, conv: Convention, func: Any) -> int:
    """Minimum and/or Maximum: 1 per bound per element."""
    return oprules.clamp_rule(args, kwargs, out, conv)


@register(aten.rsqrt)
def rsqrt_rule(args: tuple, kwargs: dict, out: Any, conv: Convention, func: Any) -> int:
    """Rsqrt: 2 per element."""
    return 2 * _out(out).numel()


@register(aten.sum, aten.mean, aten.argmax, aten.argmin)
def reduction_rule(args: tuple, kwargs: dict, out: Any, conv: Convention, func: Any) -> int:
    """Sum / Mean / ArgMax / ArgMin: 1 per input element."""
    return args[0].numel()


@register(aten._softmax, aten.softmax)
def softmax_rule(args: tuple, kwargs: dict, out: Any, conv: Convention, func: Any) -> int:
    """Softmax: `softmax_per_element` (TF: 5)."""
    return conv.softmax_per_element * args[0].numel()


@register(aten.linalg_vector_norm)
def norm_rule(args: tuple, kwargs: dict, out: Any, conv: Convention, func: Any) -> int:
    """sqrt(sum(square(x))): Square + Sum 2 per input element, Sqrt free."""
    return 2 * args[0].numel()


@register(*oprules.POOLS)
def pool_rule(args: tuple, kwargs: dict, out: Any, conv: Convention, func: Any) -> int:
    """MaxPool / AvgPool: 1 per window element per output."""
    return oprules.pool_rule(args, kwargs, out, conv)


@register(*oprules.ADAPTIVE_POOLS)
def adaptive_pool_rule(args: tuple, kwargs: dict, out: Any, conv: Convention, func: Any) -> int:
    """Global pooling (a Mean): 1 per input element."""
    return args[0].numel()


def tf_flops(func: Any, args: tuple, kwargs: dict, out: Any, conv: Convention = TF) -> int:
    """The `tf` price of one aten op (0 for ops TensorFlow's profiler does not count)."""
    packet = getattr(func, "overloadpacket", func)
    rule = RULES.get(packet)
    return 0 if rule is None else int(rule(args, kwargs, out, conv, packet))
from xncost.profile import transformer_tfrules  # noqa: E402, F401  (transformer ops)
