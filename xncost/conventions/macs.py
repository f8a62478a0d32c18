"""`macs`: every multiply-accumulate of a product is one, float or 1-bit: the MACs of a FLOP
counter blind to binarization (torch's FlopCounterMode gives twice them), which prices 1-bit
products as float ones (docs/conventions.md). Whole networks only.

Its rules delegate as `bnn`'s: the float MACs of an op's dot products, 0 for every other op.
The word is fixed at 1, so BOPs / word is the 1-bit MACs and the total is all MACs.
"""

from __future__ import annotations

from xncost.conventions.base import MODEL, Convention, RuleSet
from xncost.conventions.bnn import float_macs_rule

RULES = RuleSet("macs rules", by="op", fallback=float_macs_rule)

CONVENTION = Convention(
    name="macs",
    description=(
        "every MAC of conv, linear and matmul counts one, float or 1-bit (a counter blind to "
        "binarization; torch's FlopCounterMode gives twice them)"
    ),
    word_bits=1,
    flops_per_mac=1,
    single_mac_flops=1,
    binarize_per_element=0,
    softmax_per_element=0,
    bops_per_word=0,
    bops_per_binary_mac=1,
    scopes=(MODEL,),
    order=60,
    option_help="macs (every MAC one, float or 1-bit)",
    total_label="MACs",
    total_text="MACs = float MACs + 1-bit MACs = {sums} (1-bit work priced as float).",
    fixed_word=True,
    rules=RULES,
)
