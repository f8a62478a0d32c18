"""Named counting conventions: what one primitive operation costs (docs/conventions.md).

The one price list of xncost: the analytic step functions (`xncost.accounting`), the thop
handlers, the dispatch rules and the whole-network summary all read their prices from the
`Convention` they are given. `paper` reproduces the paper's Tables 5 and 9; `ops` counts one
FLOP per primitive operation the reference implementation (`xncost.nn`) really executes, by
the same per-op rules as the dispatch-level counter (`xncost.profile.oprules`): 2 per
multiply-accumulate (1 when the contraction has length 1: torch's einsum then runs a single
mul), 1 per element for element-wise ops, 1 per input element for reductions, 5 per element
for softmax (max, subtract, exp, sum, divide), 2 for a two-sided clamp.

Binary dot products: a dot product of length k is packed into ceil(k / word_bits) words and
costs `bops_per_word` binary operations per word (xnor, popcount and accumulate; the paper's
"xnor, popcount, 2p - n" for a one-word product), plus `bops_per_binary_mac` per 1-bit
multiply-accumulate (the BNN literature's BOPs). XNOR FLOPs = BOPs / word_bits (Table 5).
`Convention.bops` is the only place this rule is written.

`tf`, `ptflops` and `bnn` price whole networks (`xncost summary`, op by op through the rule
registries of `xncost.profile`); they set only the prices those rules read (word, BOPs, FLOPs
per MAC, softmax) and leave the capsule-step prices at 0; `get_convention` looks them up in
`MODEL_CONVENTIONS`, not among the layer conventions.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

from xncost.errors import XncostError
from xncost.exact import ceil_div, is_power_of_two, ratio

MAX_WORD_BITS = 4096  # wider than any SIMD register; keeps BOPs/word decimals short


@dataclass(frozen=True)
class Convention:
    """Per-primitive costs. Every field is an exact int."""

    name: str
    description: str
    word_bits: int = 64
    bops_per_word: int = 3
    flops_per_mac: int = 2
    single_mac_flops: int = 2
    binarize_per_element: int = 9
    softmax_per_element: int = 2
    squash_per_element: int = 0
    squash_per_capsule: int = 0
    agreement_add: int = 0
    rescale_per_output: int = 0
    fc_bias: int = 0
    fc_activation: int = 0
    bops_per_binary_mac: ClassVar[int] = 0

    @classmethod
    def price_fields(cls) -> tuple[str, ...]:
        """The fields that are prices (every field but the name, description and word size)."""
        return tuple(
            f.name for f in fields(cls) if f.name not in ("name", "description", "word_bits")
        )

    def bops(self, dots: Any, length: Any) -> Any:
        """BOPs of `dots` +-1 dot products of `length`: per packed word and per 1-bit MAC."""
        packed = self.bops_per_word * dots * ceil_div(length, self.word_bits)
        if not self.bops_per_binary_mac:
            return packed
        return packed + self.bops_per_binary_mac * dots * length

    def xnor_flops(self, bops: Any) -> Any:
        """BOPs / word (Table 5's "XNOR FLOPs"; the BNN literature's BOPs / 64)."""
        return ratio(bops, self.word_bits)

    def with_word(self, word_bits: int) -> Convention:
        """The same convention with another word size (a power of two, so BOPs/word is exact)."""
        if not isinstance(word_bits, int) or not is_power_of_two(word_bits):
            raise XncostError(f"word size must be a power of two, got {word_bits!r}")
        if word_bits > MAX_WORD_BITS:
            raise XncostError(f"word size must be at most {MAX_WORD_BITS} bits, got {word_bits}")
        return replace(self, word_bits=word_bits)


PAPER = Convention(
    name="paper",
    description=(
        "reproduces Tables 5 and 9: 2 FLOPs per MAC, 9 per binarized element, softmax 2 per "
        "capsule pair, squash, rescale and bias free, 3 BOPs per packed word"
    ),
)

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
)

TF = Convention(
    name="tf",
    description=(
        "TensorFlow's profiler (flops_registry): 2 per MAC, bias 1 per output, element-wise "
        "arithmetic 1, softmax 5, mean/sum 1 per input, pooling 1 per window element per output; "
        "batch norm, ReLU, sign, round, abs, sqrt and exp free; 3 BOPs per packed word"
    ),
    softmax_per_element=5,
    binarize_per_element=0,
)

PTFLOPS = Convention(
    name="ptflops",
    description=(
        "ptflops' module hooks (MACs): conv and linear 1 per MAC + bias 1 per output, batch norm "
        "1 per element (2 with affine), ReLU 1, pooling 1 per input element, any other module 0; "
        "3 BOPs per packed word"
    ),
    flops_per_mac=1,
    single_mac_flops=1,
    binarize_per_element=0,
    softmax_per_element=0,
)


@dataclass(frozen=True)
class BinaryMacConvention(Convention):
    """A convention that counts one BOP per 1-bit MAC (the BNN literature's BOPs)."""

    bops_per_binary_mac: ClassVar[int] = 1


BNN = BinaryMacConvention(
    name="bnn",
    description=(
        "the BNN literature's (Bi-Real Net, ReActNet, Real-to-Binary Net): FLOPs = float MACs of "
        "conv, linear and matmul (1 per MAC, nothing else), BOPs = 1-bit MACs, "
        "OPs = FLOPs + BOPs / 64"
    ),
    flops_per_mac=1,
    single_mac_flops=1,
    binarize_per_element=0,
    softmax_per_element=0,
    bops_per_word=0,
)

CONVENTIONS: dict[str, Convention] = {c.name: c for c in (PAPER, OPS)}
MODEL_CONVENTIONS: dict[str, Convention] = {c.name: c for c in (OPS, TF, PTFLOPS, BNN)}
ALL_CONVENTIONS: dict[str, Convention] = {**CONVENTIONS, **MODEL_CONVENTIONS}


def get_convention(
    name: str | Convention,
    word_bits: int | None = None,
    table: dict[str, Convention] = CONVENTIONS,
) -> Convention:
    """Look a convention up by name in `table` (layer conventions `paper`, `ops` by default;
    `MODEL_CONVENTIONS` for whole networks), optionally with another word size."""
    if isinstance(name, Convention):
        conv = name
    else:
        try:
            conv = table[name]
        except (KeyError, TypeError):
            known = ", ".join(table)
            raise XncostError(f"unknown convention {name!r} (known: {known})") from None
    return conv if word_bits is None or word_bits == conv.word_bits else conv.with_word(word_bits)
