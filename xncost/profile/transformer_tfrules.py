"""The `tf` convention's rules for transformer ops, registered into `xncost.profile.tfrules`:
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

from functools import singledispatch
from typing import Any

from xncost.conventions import TF, Convention
from xncost.profile import oprules, tfrules, transformer_ops
from xncost.profile.tfrules import register
from xncost.profile.transformer_ops import (
    Activation,
    LayerNorm,
    Pointwise,
    Product,
    Reduce,
    Softmax,
    Work,
)

FUSED_LAYER_NORM_MIN_EPS = 1.001e-5  # tf-keras LayerNormalization._fused_can_be_used
ACTIVATION_TF = {"relu": 0, "gelu": 4, "gelu_tanh": 7}


@singledispatch
def tf_work_flops(work: Work, conv: Convention = TF) -> int:
    """TensorFlow profiler FLOPs of one work item."""
    raise TypeError(f"no tf price for {type(work).__name__}")


@tf_work_flops.register
def _(work: Product, conv: Convention = TF) -> int:
    return work.dots.flops(conv)


@tf_work_flops.register
def _(work: Pointwise, conv: Convention = TF) -> int:
    return work.ops_per_element * work.elements


@tf_work_flops.register
def _(work: Softmax, conv: Convention = TF) -> int:
    return conv.softmax_per_element * work.elements


@tf_work_flops.register
def _(work: Reduce, conv: Convention = TF) -> int:
    return work.inputs - work.outputs


@tf_work_flops.register
def _(work: LayerNorm, conv: Convention = TF) -> int:
    n, rows = work.elements, work.rows
    if work.eps >= FUSED_LAYER_NORM_MIN_EPS:
        return (int(work.weight) + int(work.bias)) * n
    inv = n if work.weight else rows  # inv = rsqrt(var + eps) [* weight]
    moments = 4 * n  # Mean, SquaredDifference (2), Mean
    inverse = 3 * rows + (n if work.weight else 0)  # AddV2, Rsqrt (2) [, Mul weight]
    shift = inv + (n if work.bias else rows)  # mean * inv, offset - . (or Neg)
    return moments + inverse + n + shift + n  # + x * inv, + the final AddV2


@tf_work_flops.register
def _(work: Activation, conv: Convention = TF) -> int:
    return ACTIVATION_TF[work.kind] * work.elements


def _work_rule(plan: Any) -> Any:
    def rule(args: tuple, kwargs: dict, out: Any, conv: Convention, func: Any) -> int:
        """The sum of the op's work items (`transformer_ops`) at TensorFlow's prices."""
        return sum(tf_work_flops(w, conv) for w in plan(args, kwargs, out))

    rule.__name__ = f"{plan.__name__}_tf_rule"
    return rule


for _packet, _plan in transformer_ops.OP_WORK.items():
    register(_packet)(_work_rule(_plan))


@register(*oprules._packets(("_safe_softmax",)))
def safe_softmax_rule(args: tuple, kwargs: dict, out: Any, conv: Convention, func: Any) -> int:
    """Softmax: `softmax_per_element` (TF: 5)."""
    return tfrules.softmax_rule(args, kwargs, out, conv, func)


@register(*oprules._packets(("_masked_softmax",)))
def masked_softmax_rule(args: tuple, kwargs: dict, out: Any, conv: Convention, func: Any) -> int:
    """The mask's AddV2 1 + Softmax 5 per element."""
    return args[0].numel() + tfrules.softmax_rule(args, kwargs, out, conv, func)


# dropout's mask: GreaterEqual on a uniform draw, 1 per element
register(*oprules._packets(("bernoulli",), inplace=True))(tfrules.elementwise_rule)


__all__ = ["ACTIVATION_TF", "FUSED_LAYER_NORM_MIN_EPS", "tf_work_flops"]
