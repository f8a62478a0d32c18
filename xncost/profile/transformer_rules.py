"""The `ops` convention's rules for transformer ops (one FLOP per primitive op executed;
docs/conventions.md, "Transformer ops"), registered into the `ops` convention's rules
(`xncost.conventions.ops`).

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
dot-product attention kernels) costs the sum of its work items, its products as the counting
engine hands them over (`ev.dots`: the parts that are not 1-bit; `transformer_ops` registers
the products of each fused op). Also priced here:
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

from xncost.conventions import aten
from xncost.conventions.aten import names
from xncost.conventions.base import Convention, OpEvent
from xncost.conventions.ops import OPS, softmax_rule
from xncost.profile import transformer_ops
from xncost.profile.transformer_ops import (
    LayerNorm,
    Pointwise,
    Product,
    Reduce,
    Softmax,
    Work,
)

register = OPS.rules.register


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
    """A rule pricing an op's work items (`transformer_ops`) by `prices`: its products as the
    engine hands them (`ev.dots`, 1-bit parts left out), the rest from the plan."""

    def rule(ev: OpEvent, conv: Convention) -> int:
        work = plan(ev.args, ev.kwargs, ev.out)
        rest = sum(work_flops(w, conv, prices) for w in work if not isinstance(w, Product))
        return rest + (0 if ev.dots is None else ev.dots.flops(conv))

    rule.__name__ = f"{plan.__name__}_rule"
    return rule


for _op, _plan in transformer_ops.OP_WORK.items():
    register(_op)(work_rule(_plan, OPS_PRICES))


register("aten::_safe_softmax")(softmax_rule)  # 0 on masked rows


@register("aten::_masked_softmax")
def masked_softmax_rule(ev: OpEvent, conv: Convention) -> int:
    """Softmax with a mask: the mask 1 + `softmax_per_element` per element (`ops` and `tf`)."""
    return (1 + conv.softmax_per_element) * ev.args[0].numel()


# a select (as `where`), erf, and dropout's mask (a random draw compared with p): 1 each
register(*names(("masked_fill", "erf", "bernoulli"), inplace=True))(aten.per_output)


DATA_MOVEMENT = (
    "triu",
    "tril",
    "_nested_tensor_from_mask",
    "_nested_tensor_from_mask_left_aligned",
    "_nested_from_padded",
    "to_padded_tensor",
)


register(*names(DATA_MOVEMENT, inplace=True))(aten.free)


__all__ = [
    "OPS_PRICES",
    "WorkPrices",
    "masked_softmax_rule",
    "work_flops",
    "work_rule",
]
