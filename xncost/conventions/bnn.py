"""`bnn`: the BNN literature's convention (Bi-Real Net, ReActNet, Real-to-Binary Net), whole
networks only (docs/conventions.md): FLOPs = float multiply-accumulates of the products
(conv, linear, matmul; 1 per MAC, bias and everything else free), BOPs = 1-bit MACs,
OPs = FLOPs + BOPs / 64.

Its rules delegate: no per-op table, one fallback rule that prices any op by the float MACs
of its dot products (`xncost.conventions.aten.DotProducts`), 0 for every other op. The word
is fixed at 64 (the literature's OPs).
"""

from __future__ import annotations

from xncost.conventions.base import MODEL, Convention, OpEvent, RuleSet


def float_macs_rule(ev: OpEvent, conv: Convention) -> int:
    """`flops_per_mac` per float MAC of a product; every other op is free."""
    return 0 if ev.dots is None else conv.flops_per_mac * ev.dots.macs


RULES = RuleSet("bnn rules", by="op", fallback=float_macs_rule)

BNN = Convention(
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
    bops_per_binary_mac=1,
    scopes=(MODEL,),
    order=50,
    option_help="bnn (FLOPs = float MACs, BOPs = 1-bit MACs, OPs = FLOPs + BOPs/64)",
    total_label="OPs",
    total_text=(
        "OPs = FLOPs + BOPs/{word} = {sums} (the BNN literature's convention: FLOPs = float "
        "MACs of conv, linear and matmul; BOPs = 1-bit MACs)."
    ),
    fixed_word=True,
    rules=RULES,
)
CONVENTION = BNN
