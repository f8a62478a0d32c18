"""`ops`: one FLOP per primitive operation executed (docs/conventions.md), for the layer
tables and whole networks alike.

Its prices say what a capsule step costs when the reference layers (`xncost.nn`) run it: 2
per multiply-accumulate (1 when the contraction has length 1: torch's einsum then runs a
single mul), 9 per binarized element (mul, add, clamp x2, round, mul, sub; abs and mean for
alpha), softmax 5 per element (max, subtract, exp, sum, divide), squash 3 per element + 5
per capsule, the b update 1 add, alpha rescale 2 per output, FC bias and ReLU 1 per output.

Its rules price every aten op of a whole network, in the manner of
`torch/utils/flop_counter.py`: products `flops_per_mac` per MAC plus the added tensor (bias);
element-wise ops 1 per output element (a two-sided clamp 2, PReLU 2); reductions 1 per input
element; softmax `softmax_per_element`; inference batch norm 2 per element (4 with affine)
plus 2 per channel; window pooling 1 per window element per output, adaptive pooling 1 per
input element; interpolation `flops_per_mac` per input element weighed (nearest 0); an LSTM
layer run by oneDNN as its composite cell's ops; data movement (paddings included: `F.pad`),
creation and metadata 0; a masked or indexed assignment (`out[x >= 0] = 1`, public BNN code's
binarization) 1 per element of the tensor written, a select as `where`. An op with no rule is
unknown: reported, never priced 0 silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xncost.conventions import aten, fused, interpolation
from xncost.conventions.aten import names
from xncost.conventions.base import LAYER, MODEL, Convention, OpEvent, RuleSet
from xncost.conventions.fused import LayerNorm, Pointwise, Product, Reduce, Softmax, Work

RULES = RuleSet("ops rules", by="op")
register = RULES.register

OPS = Convention(
    name="ops",
    description=(
        "one FLOP per primitive op the reference layers execute: 2 per MAC, 9 per binarized "
        "element (mul, add, clamp x2, round, mul, sub, abs, mean), softmax 5 per element, "
        "a length-1 contraction 1 (torch runs it as one mul), "
        "squash 3 per element + 5 per capsule, b update 1 add, alpha rescale 2 per output, "
        "bias 1 and ReLU 1 per FC output, 3 BOPs per packed word"
    ),
    single_mac_flops=1,
    softmax_per_element=5,
    squash_per_element=3,
    squash_per_capsule=5,
    agreement_add=1,
    rescale_per_output=2,
    fc_bias=1,
    fc_activation=1,
    scopes=(LAYER, MODEL),
    order=20,
    option_help="ops (one FLOP per primitive)",
    rules=RULES,
)
CONVENTION = OPS


register(*aten.PRODUCT_OPS)(aten.product_rule)


ELEMENTWISE = (
    "add sub rsub mul div neg abs exp log sqrt rsqrt reciprocal pow round sign sgn relu "
    "sigmoid tanh hardtanh gt ge lt le eq ne where logical_and logical_or logical_xor "
    "logical_not bitwise_and bitwise_or bitwise_xor bitwise_not maximum minimum clamp_min "
    "clamp_max floor ceil trunc"
).split()


register(*names(ELEMENTWISE, inplace=True))(aten.per_output)
register(*names(("clamp",), inplace=True))(aten.per_bound)


@register(*names(("_prelu_kernel", "prelu")))
def prelu_rule(ev: OpEvent, conv: Convention) -> int:
    """PReLU, x if x > 0 else a*x: a multiply and a select per output element."""
    return 2 * aten.output_elements(ev.out)


REDUCTIONS = (
    "sum mean amax amin prod norm linalg_vector_norm var std var_mean std_mean argmax argmin "
    "all any"
).split()


register(*names(REDUCTIONS))(aten.per_input)


@register("aten::max", "aten::min")
def max_min_rule(ev: OpEvent, conv: Convention) -> int:
    """max/min: a reduction (1 per input element), or element-wise with a tensor `other`."""
    if len(ev.args) > 1 and hasattr(ev.args[1], "numel"):
        return aten.output_elements(ev.out)
    return ev.args[0].numel()


@register(*names(("_softmax", "softmax", "_log_softmax", "log_softmax")))
def softmax_rule(ev: OpEvent, conv: Convention) -> int:
    """`softmax_per_element` (`ops`: 5, max, subtract, exp, sum, divide)."""
    return conv.softmax_per_element * ev.args[0].numel()


@register(*aten.BATCH_NORMS)
def batch_norm_rule(ev: OpEvent, conv: Convention) -> int:
    """Inference batch norm (x - mean) * invstd [* weight + bias]: 2 (4 with affine) per
    element, plus eps-add and rsqrt per channel."""
    x = ev.args[0]
    affine = len(ev.args) > 1 and ev.args[1] is not None
    return (4 if affine else 2) * x.numel() + 2 * x.shape[1]


register(*aten.POOLS)(aten.per_window)  # one comparison or add per window element
register(*aten.ADAPTIVE_POOLS)(aten.per_input)  # global pooling: one per input element


@register(*interpolation.UPSAMPLE_OPS)
def interpolation_rule(ev: OpEvent, conv: Convention) -> int:
    """Interpolation: each output a weighted sum of input elements, priced as a dot product
    (`flops_per_mac` per element weighed, `interpolation.weighted_taps`); nearest copies 0."""
    return conv.flops_per_mac * interpolation.weighted_taps(ev.op, ev.args, ev.kwargs, ev.output)


ZERO_COST = (
    "view reshape _unsafe_view _reshape_alias expand expand_as view_as as_strided permute "
    "transpose t unsqueeze squeeze select slice narrow split split_with_sizes unbind chunk "
    "flatten unflatten movedim diagonal clone copy_ contiguous cat stack constant_pad_nd "
    "_to_copy detach "
    "detach_ alias lift_fresh lift_fresh_copy zeros zeros_like ones ones_like empty "
    "empty_like empty_strided full full_like fill_ zero_ new_zeros new_ones new_empty "
    "new_empty_strided new_full scalar_tensor arange _local_scalar_dense size sym_size stride "
    "sym_stride numel sym_numel dim storage_offset sym_storage_offset is_contiguous "
    "is_same_size"
).split()
# more data movement: views changed in place, splits without checks (torch's RNN cells),
# copies that reorder, repeat or gather elements (packing sequences too), nested-tensor metadata
MOVEMENT = (
    "transpose_ t_ squeeze_ unsqueeze_ as_strided_ swapaxes swapaxes_ swapdims swapdims_ "
    "moveaxis unfold view_as_real view_as_complex unsafe_split unsafe_split_with_sizes "
    "unsafe_chunk tensor_split hsplit vsplit dsplit split_copy narrow_copy repeat tile "
    "repeat_interleave flip fliplr flipud roll rot90 index_select gather take pixel_shuffle "
    "pixel_unshuffle channel_shuffle native_channel_shuffle _nested_tensor_size "
    "_nested_tensor_strides _nested_tensor_storage_offsets _pack_padded_sequence "
    "_pad_packed_sequence"
).split()


register(*names(ZERO_COST), *names(MOVEMENT))(aten.free)  # data movement, creation, metadata
register(*names(("index_put",), inplace=True))(aten.per_output)  # a select per element written

# ----------------------------------------------------------------------------- transformer ops
# Transformer ops (docs/conventions.md, "Transformer ops"): the prices of the work items of
# `xncost.conventions.fused`:
#
# - a product: `flops_per_mac` per MAC plus its bias adds (as the product rules above);
# - LayerNorm: the mean and the variance 1 per element each (the price of `mean` and `var`),
#   eps-add and rsqrt 2 per row, subtract-mean and multiply by the reciprocal deviation 2 per
#   element, the weight and the bias 1 per element each: 6 per element + 2 per row with both;
# - GELU: 0.5 * x * (1 + erf(x / sqrt 2)) 5 per element; the tanh form 0.5 * x * (1 +
#   tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) 9 (torch's CPU kernels compute exactly these);
#   ReLU 1;
# - softmax `softmax_per_element` per score; a sum 1 per input element; the attention's scale,
#   mask, bias and residual adds 1 per element; dropout 3 (draw, compare, multiply).
#
# A fused op (`_native_multi_head_attention`, `_transformer_encoder_layer_fwd`, the scaled
# dot-product attention kernels) costs the sum of its work items, its products as the counting
# engine hands them over (`ev.dots`: the parts that are not 1-bit; `fused` registers
# the products of each fused op). Also priced here:
# `_safe_softmax` (the attention's math path) and `_masked_softmax` like softmax (the latter with
# its mask, 1 per element),
# `masked_fill` (a select, 1 per element, as `where`), `erf` 1, `bernoulli_` (dropout's draw,
# 1 per element), and as data movement (0) the causal masks' `triu`/`tril` and the
# nested-tensor conversions of `nn.TransformerEncoder`.


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
    activation={"relu": 1, "gelu": 5, "gelu_tanh": 9, "sigmoid": 1, "tanh": 1},
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
    """A rule pricing an op's work items (`xncost.conventions.fused`) by `prices`: its
    products as the engine hands them (`ev.dots`, 1-bit parts left out), the rest from the
    plan."""

    def rule(ev: OpEvent, conv: Convention) -> int:
        work = plan(ev.args, ev.kwargs, ev.out)
        rest = sum(work_flops(w, conv, prices) for w in work if not isinstance(w, Product))
        return rest + (0 if ev.dots is None else ev.dots.flops(conv))

    rule.__name__ = f"{plan.__name__}_rule"
    return rule


for _op, _plan in fused.OP_WORK.items():
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
