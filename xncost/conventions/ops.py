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
input element; data movement, creation and metadata 0. An op with no rule is unknown:
reported, never priced 0 silently.
"""

from __future__ import annotations

from xncost.conventions import aten
from xncost.conventions.aten import names
from xncost.conventions.base import LAYER, MODEL, Convention, OpEvent, RuleSet

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


ZERO_COST = (
    "view reshape _unsafe_view _reshape_alias expand expand_as view_as as_strided permute "
    "transpose t unsqueeze squeeze select slice narrow split split_with_sizes unbind chunk "
    "flatten unflatten movedim diagonal clone copy_ contiguous cat stack _to_copy detach "
    "detach_ alias lift_fresh lift_fresh_copy zeros zeros_like ones ones_like empty "
    "empty_like empty_strided full full_like fill_ zero_ new_zeros new_ones new_empty "
    "new_empty_strided new_full scalar_tensor arange _local_scalar_dense size sym_size stride "
    "sym_stride numel sym_numel dim storage_offset sym_storage_offset is_contiguous "
    "is_same_size"
).split()


register(*names(ZERO_COST))(aten.free)  # data movement, creation and metadata
