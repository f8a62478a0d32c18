"""`tf`: TensorFlow's profiler (`flops_registry`, the counter the paper used), whole networks
only (docs/conventions.md).

Each aten op is priced as the profiler prices its TF counterpart: MatMul / Conv2D 2 per MAC,
BiasAdd 1 per output, element-wise arithmetic and comparisons 1, Rsqrt 2, Softmax 5,
Sum/Mean/ArgMax 1 per input element, Sqrt(Sum(Square)) norms 2 per input element, pooling 1
per window element per output. Ops with no rule cost 0, as in the profiler (batch norm,
ReLU/ReLU6, sign, round, abs, sqrt, exp, sigmoid, tanh, the Resize* ops of interpolation).
"""

from __future__ import annotations

from xncost.conventions import aten, fused, interpolation
from xncost.conventions.aten import names
from xncost.conventions.base import MODEL, Convention, OpEvent, RuleSet
from xncost.conventions.fused import LayerNorm
from xncost.conventions.ops import WorkPrices, masked_softmax_rule, work_rule

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
    order=30,
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
# ResizeNearestNeighbor, ResizeBilinear, ResizeBicubic, ScaleAndTranslate (antialias): the
# profiler has no entry for them
register(*interpolation.UPSAMPLE_OPS)(aten.free)

# ----------------------------------------------------------------------------- transformer ops
# The `tf` convention's rules for transformer ops, registered into `xncost.conventions.tf`:
# TensorFlow's profiler prices (tensorflow/python/profiler/internal/flops_registry.py) of the
# TensorFlow ops that compute the same thing (docs/conventions.md, "Transformer ops").
#
# - products: MatMul and BatchMatMul(V2, V3) 2 per MAC (`flops_per_mac`), BiasAdd/AddV2 1;
# - the attention's scale (Mul), mask (AddV2), bias and residual adds 1 per element; Softmax 5
#   per element (`softmax_per_element`); a Sum over heads 1 per input minus 1 per output; its
#   RealDiv 1; dropout 3 (GreaterEqual on a RandomUniform draw, which is free, then two Mul);
# - LayerNorm as tf-keras' `LayerNormalization` computes it: with epsilon below 1.001e-5
#   (torch's default 1e-5, ViT's 1e-6) `tf.nn.moments` (Mean 1 per input, SquaredDifference 2,
#   Mean 1) and `tf.nn.batch_normalization` (AddV2 and Rsqrt 1 + 2 per row; the weight's Mul, x
#   * inv, mean * inv, offset - that and the final AddV2 1 per element each): 9 per element + 3
#   per row with weight and bias; from 1.001e-5 up the fused kernel, which the profiler does not
#   price, and the weight's Mul and the bias' AddV2 1 per element each;
# - GELU as `tf.nn.gelu`: the erf form RealDiv, AddV2, Mul, Mul 4 per element (Erf is not
#   priced), the tanh form Pow, Mul, AddV2, Mul, AddV2, Mul, Mul 7 (Tanh is not priced); ReLU 0;
# - `masked_fill` (Select) 0; dropout's mask (GreaterEqual on a uniform draw) 1.
#
# An LSTM layer run by oneDNN (`mkldnn_rnn_layer`) is priced by the same work prices as what
# Keras' LSTM runs for it: MatMul 2 per MAC, BiasAdd and AddV2 1, Mul 1, Sigmoid and Tanh free.

FUSED_LAYER_NORM_MIN_EPS = 1.001e-5  # tf-keras LayerNormalization._fused_can_be_used


def _tf_layer_norm(work: LayerNorm) -> int:
    n, rows = work.elements, work.rows
    if work.eps >= FUSED_LAYER_NORM_MIN_EPS:
        return (int(work.weight) + int(work.bias)) * n
    inv = n if work.weight else rows  # inv = rsqrt(var + eps) [* weight]
    moments = 4 * n  # Mean, SquaredDifference (2), Mean
    inverse = 3 * rows + (n if work.weight else 0)  # AddV2, Rsqrt (2) [, Mul weight]
    shift = inv + (n if work.bias else rows)  # mean * inv, offset - . (or Neg)
    return moments + inverse + n + shift + n  # + x * inv, + the final AddV2


TF_PRICES = WorkPrices(
    reduce=lambda w: w.inputs - w.outputs,  # Sum
    layer_norm=_tf_layer_norm,
    activation={"relu": 0, "gelu": 4, "gelu_tanh": 7, "sigmoid": 0, "tanh": 0},
)

for _op, _plan in fused.OP_WORK.items():
    register(_op)(work_rule(_plan, TF_PRICES))


register("aten::_safe_softmax")(softmax_rule)
register("aten::_masked_softmax")(masked_softmax_rule)  # AddV2 + Softmax
# dropout's mask: GreaterEqual on a uniform draw, 1 per element
register(*names(("bernoulli",), inplace=True))(aten.per_output)
