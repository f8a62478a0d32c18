"""The `ops` convention's rules for transformer ops (one FLOP per primitive op executed;
docs/conventions.md, "Transformer ops"), registered into `xncost.profile.oprules`.

Prices of the work items of `xncost.profile.transformer_ops`:

- a product: `flops_per_mac` per MAC plus its bias adds (as `oprules` prices mm/addmm);
- LayerNorm: the mean and the variance 1 per element each (the price of `mean` and `var`),
  eps-add and rsqrt 2 per row, subtract-mean and multiply by the reciprocal deviation 2 per
  element, the weight and the bias 1 per element each: 6 per element + 2 per row with both;
- GELU: 0.5 * x * (1 + erf(x / sqrt 2)) 5 per element; the tanh form 0.5 * x * (1 +
  tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) 9 (torch's CPU kernels compute exactly these);
  ReLU 1;
- softmax `softmax_per_element` per score; a sum 1 per input element; the attention's scale,
  mask, bias and residual adds 1 per element; dropout 3 (draw, compare, multiply).

A fused op (`_native_multi_head_attention`, `_transformer_encoder_layer_fwd`, the scaled
dot-product attention kernels) costs the sum of its work items; `dot_products` extends
`oprules.dot_products` to its products (`transformer_ops.fused_products`). Also priced here:
`_safe_softmax` (the attention's math path) and `_masked_softmax` like softmax (the latter with
its mask, 1 per element),
`masked_fill` (a select, 1 per element, as `where`), `erf` 1, `bernoulli_` (dropout's draw,
1 per element), and as data movement (0) the causal masks' `triu`/`tril` and the
nested-tensor conversions of `nn.TransformerEncoder`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xncost.conventions import OPS, Convention
from xncost.profile import oprules, transformer_ops
from xncost.profile.oprules import DotProducts, register
from xncost.profile.transformer_ops import (
    LayerNorm,
    Pointwise,
    Product,
    Reduce,
    Softmax,
    Work,
)


@dataclass(frozen=True)
class WorkPrices:
    """A convention's prices of the work items conventions price differently (products,
    pointwise ops and softmax are priced alike, by the `Convention`)."""

    reduce: Callable[[Reduce], int]
    layer_norm: Callable[[LayerNorm], int]
    activation: Mapping[str, int]  # per element, by `Activation.kind`


def _ops_layer_norm(work: LayerNorm) -> int:
    return (4 + int(work.weight) + int(work.bias)) * work.elements + 2 * work.rows


OPS_PRICES = WorkPrices(
    reduce=lambda w: w.inputs,
    layer_norm=_ops_layer_norm,
    activation={"relu": 1, "gelu": 5, "gelu_tanh": 9},
)


def work_flops(work: Work, conv: Convention = OPS, prices: WorkPrices = OPS_PRICES) -> int:
    """FLOPs of one work item under `conv` and `prices` (default: the `ops` rules)."""
    if isinstance(work, Product):
        return work.dots.flops(conv)
    if isinstance(work, Pointwise):
        return work.ops_per_element * work.elements
    if isinstance(work, Softmax):
        return conv.softmax_per_element * work.elements
    if isinstance(work, Reduce):
        return prices.reduce(work)
    if isinstance(work, LayerNorm):
        return prices.layer_norm(work)
    return prices.activation[work.kind] * work.elements


def work_rule(plan: Callable[[tuple, dict, Any], list[Work]], prices: WorkPrices) -> Callable:
    """A registry rule pricing the op's work items (`transformer_ops`) by `prices`; takes
    (args, kwargs, out, conv) and ignores the tf registry's extra `func`."""

    def rule(args: tuple, kwargs: dict, out: Any, conv: Convention = OPS, *_: Any) -> int:
        return sum(work_flops(w, conv, prices) for w in plan(args, kwargs, out))

    rule.__name__ = f"{plan.__name__}_rule"
    return rule


for _packet, _plan in transformer_ops.OP_WORK.items():
    register(_packet)(work_rule(_plan, OPS_PRICES))


register(*oprules._packets(("_safe_softmax",)))(oprules.softmax_rule)  # 0 on masked rows


@register(*oprules._packets(("_masked_softmax",)))
def masked_softmax_rule(
    args: tuple, kwargs: dict, out: Any, conv: Convention = OPS, *_: Any
) -> int:
    """Softmax with a mask: the mask 1 + `softmax_per_element` per element (`ops` and `tf`)."""
    return (1 + conv.softmax_per_element) * args[0].numel()


# a select (as `where`), erf, and dropout's mask (a random draw compared with p): 1 each
register(*oprules._packets(("masked_fill", "erf", "bernoulli"), inplace=True))(
    oprules.elementwise_rule
)


DATA_MOVEMENT = (
    "triu",
    "tril",
    "_nested_tensor_from_mask",
    "_nested_tensor_from_mask_left_aligned",
    "_nested_from_padded",
    "to_padded_tensor",
)


register(*oprules._packets(DATA_MOVEMENT, inplace=True))(oprules.zero_rule)


_DOT_PRODUCTS = oprules.dot_products


def dot_products(func: Any, args: tuple, kwargs: dict, out: Any) -> DotProducts | None:
    """`oprules.dot_products`, and for a fused transformer op its products as one
    `FusedProducts` (their MACs and FLOPs summed; the products themselves in `parts`)."""
    dots = _DOT_PRODUCTS(func, args, kwargs, out)
    return dots if dots is not None else transformer_ops.fused_products(func, args, kwargs, out)


__all__ = [
    "OPS_PRICES",
    "WorkPrices",
    "dot_products",
    "masked_softmax_rule",
    "work_flops",
    "work_rule",
]
