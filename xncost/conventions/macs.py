"""`macs`: every multiply-accumulate of a product is one, float or 1-bit: the MACs of a FLOP
counter blind to binarization (torch's FlopCounterMode gives twice them), which prices 1-bit
products as float ones (docs/conventions.md). Whole networks only.

It is `bnn` (the same prices and rules: the float MACs of an op's dot products, 0 for every
other op) with the word fixed at 1, so BOPs / word is the 1-bit MACs and the total all MACs.
"""

from __future__ import annotations

from dataclasses import replace

from xncost.conventions.bnn import BNN

# `bnn`'s prices and rules with the word fixed at 1: BOPs / word is then the 1-bit MACs
CONVENTION = replace(
    BNN,
    name="macs",
    description=(
        "every MAC of conv, linear and matmul counts one, float or 1-bit (a counter blind to "
        "binarization; torch's FlopCounterMode gives twice them)"
    ),
    word_bits=1,
    order=60,
    option_help="macs (every MAC one, float or 1-bit)",
    total_label="MACs",
    total_text="MACs = float MACs + 1-bit MACs = {sums} (1-bit work priced as float).",
)
