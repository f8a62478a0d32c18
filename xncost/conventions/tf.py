"""`tf`: TensorFlow's profiler (`flops_registry`, the counter the paper used), whole networks
only (docs/conventions.md).

Each aten op is priced as the profiler prices its TF counterpart: MatMul / Conv2D 2 per MAC,
BiasAdd 1 per output, element-wise arithmetic and comparisons 1, Rsqrt 2, Softmax 5,
Sum/Mean/ArgMax 1 per input element, Sqrt(Sum(Square)) norms 2 per input element, pooling 1
per window element per output. Ops with no rule cost 0, as in the profiler (batch norm,
ReLU/ReLU6, sign, round, abs, sqrt, exp).
"""

from __future__ import annotations

from xncost.conventions import aten
from xncost.conventions.aten import names
from xncost.conventions.base import MODEL, Convention, OpEvent, RuleSet

RULES = RuleSet("tf rules", by="op", fallback=aten.free)  # ops the profiler has no entry for
register = RULES.register

TF = Convention(
    name="tf",
    description=(
        "TensorFlow's profiler (flops_registry): 2 per MAC, bias 1 per output, element-wise "
        "arithmetic 1, softmax 5, mean/sum 1 per input, pooling 1 per window element per output; "
        "batch norm, ReLU, sign, round, abs, sqrt and exp free; 3 BOPs per packed word"
    ),
    softmax_per_element=5,
    binarize_per_element=0,
    scopes=(MODEL,),
    option_help="tf (profiler)",
    rules=RULES,
)
CONVENTION = TF

ELEMENTWISE = (
    "add sub rsub mul div maximum minimum pow neg reciprocal log gt ge lt le eq ne "
    "clamp_min clamp_max"
).split()
INPLACE = ("add", "sub", "mul", "div", "clamp_min", "clamp_max")


register(*aten.PRODUCT_OPS)(aten.product_rule)  # MatMul / Conv2D, BiasAdd 1 per output
register(*names(tuple(n for n in ELEMENTWISE if n not in INPLACE)))(aten.per_output)
register(*names(INPLACE, inplace=True))(aten.per_output)
register("aten::clamp", "aten::clamp_")(aten.per_bound)  # Minimum and/or Maximum


@register("aten::rsqrt")
def rsqrt_rule(ev: OpEvent, conv: Convention) -> int:
    """Rsqrt: 2 per element."""
    return 2 * aten.output_elements(ev.out)


register("aten::sum", "aten::mean", "aten::argmax", "aten::argmin")(aten.per_input)


@register("aten::_softmax", "aten::softmax")
def softmax_rule(ev: OpEvent, conv: Convention) -> int:
    """Softmax: `softmax_per_element` (TF: 5)."""
    return conv.softmax_per_element * ev.args[0].numel()


@register("aten::linalg_vector_norm")
def norm_rule(ev: OpEvent, conv: Convention) -> int:
    """sqrt(sum(square(x))): Square + Sum 2 per input element, Sqrt free."""
    return 2 * ev.args[0].numel()


register(*aten.POOLS)(aten.per_window)  # MaxPool / AvgPool
register(*aten.ADAPTIVE_POOLS)(aten.per_input)  # global pooling: a Mean
