"""The `tf` convention's rules for transformer ops, registered into `xncost.conventions.tf`:
TensorFlow's profiler prices (tensorflow/python/profiler/internal/flops_registry.py) of the
TensorFlow ops that compute the same thing (docs/conventions.md, "Transformer ops").

- products: MatMul and BatchMatMul(V2, V3) 2 per MAC (`flops_per_mac`), BiasAdd/AddV2 1;
- the attention's scale (Mul), mask (AddV2), bias and residual adds 1 per element; Softmax 5
  per element (`softmax_per_element`); a Sum over heads 1 per input minus 1 per output; its
  RealDiv 1; dropout 3 (GreaterEqual on a RandomUniform draw, which is free, then two Mul);
- LayerNorm as tf-keras' `LayerNormalization` computes it: with epsilon below 1.001e-5
  (torch's default 1e-5, ViT's 1e-6) `tf.nn.moments` (Mean 1 per input, SquaredDifference 2,
  Mean 1) and `tf.nn.batch_normalization` (AddV2 and Rsqrt 1 + 2 per row; the weight's Mul, x
  * inv, mean * inv, offset - that and the final AddV2 1 per element each): 9 per element + 3
  per row with weight and bias; from 1.001e-5 up the fused kernel, which the profiler does not
  price, and the weight's Mul and the bias' AddV2 1 per element each;
- GELU as `tf.nn.gelu`: the erf form RealDiv, AddV2, Mul, Mul 4 per element (Erf is not
  priced), the tanh form Pow, Mul, AddV2, Mul, AddV2, Mul, Mul 7 (Tanh is not priced); ReLU 0;
- `masked_fill` (Select) 0; dropout's mask (GreaterEqual on a uniform draw) 1.
"""

from __future__ import annotations

from xncost.conventions import aten
from xncost.conventions.aten import names
from xncost.conventions.tf import register, softmax_rule
from xncost.profile import transformer_ops
from xncost.profile.transformer_ops import LayerNorm
from xncost.profile.transformer_rules import WorkPrices, masked_softmax_rule, work_rule

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
    activation={"relu": 0, "gelu": 4, "gelu_tanh": 7},
)

for _op, _plan in transformer_ops.OP_WORK.items():
    register(_op)(work_rule(_plan, TF_PRICES))


register("aten::_safe_softmax")(softmax_rule)
register("aten::_masked_softmax")(masked_softmax_rule)  # AddV2 + Softmax
# dropout's mask: GreaterEqual on a uniform draw, 1 per element
register(*names(("bernoulli",), inplace=True))(aten.per_output)


__all__ = ["FUSED_LAYER_NORM_MIN_EPS", "TF_PRICES"]
