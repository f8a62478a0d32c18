"""`paper`: the prices that reproduce the paper's Tables 5 and 9 (docs/conventions.md).

2 FLOPs per multiply-accumulate, 9 per binarized element (Eqs. 16-18), softmax 2 per capsule
pair, squash, alpha rescale, bias and ReLU free, 3 BOPs per packed 64-bit word. Layer scope
only: it prices the capsule steps of the analytic tables and has no per-op rules for the rest
of a network (batch norm, pooling, ...), so whole-network summaries do not take it.
"""

from __future__ import annotations

from xncost.conventions.base import LAYER, Convention

PAPER = Convention(
    name="paper",
    description=(
        "reproduces Tables 5 and 9: 2 FLOPs per MAC, 9 per binarized element, softmax 2 per "
        "capsule pair, squash, rescale and bias free, 3 BOPs per packed word"
    ),
    scopes=(LAYER,),
    order=10,
    option_help="paper (reproduces the paper's tables)",
)
CONVENTION = PAPER
