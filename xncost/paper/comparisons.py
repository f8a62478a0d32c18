"""A whole-network summary beside the figures published for the same network (the store,
`reference/figures.csv`; sources in docs/attributions.md).

The measurement wing counts; this module adds the sentences that compare its counts with
printed figures: XNOR-Net's Eq. 9 example and reported speed-up for any network with binary
products, and the parameters and ptflops "GMac" another implementation prints for the NIN
models. `annotate(summary)` returns the summary with those sentences as its `comparisons`,
which every format prints after the totals.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from xncost.paper.store import figure
from xncost.profile.counter import Eq9
from xncost.profile.results import Summary
from xncost.profile.summary_render import bop_rule, num

XNOR_NET_EQ9 = Eq9(256, 9, 14 * 14)  # XNOR-Net's example (figures.csv, xnornet_speedup_*)

# Figures other implementations print for registry models (ptflops "GMac" and parameters):
# their keys in the store.
PTFLOPS_SOURCE = (
    "The XNOR-Net README of github.com/onion-rain/MCTS (ptflops' output for the NIN of "
    "github.com/jiecaoyu/XNOR-Net-PyTorch; docs/attributions.md)"
)
PUBLISHED_FIGURES: dict[str, dict[str, str]] = {
    "nin": {"params": "nin_params", "gmac": "nin_gmac"},
    "nin-xnor": {"params": "nin_xnor_params", "gmac": "nin_xnor_gmac"},
}


def _g(x: Any, digits: int = 2) -> str:
    return f"{float(x) / 1e9:.{digits}f}"


def _ptflops_parts(s: Summary) -> dict[str, int]:
    """ptflops-style count split by what it prices (products, BN, activations, pooling)."""
    parts = {"MACs": 0, "bias": 0, "batch norm": 0, "activations": 0, "pooling": 0}
    for r in s.layers:
        ptf = r.flops_by_convention["ptflops"]
        if not ptf:
            continue
        if "BatchNorm" in r.type:
            parts["batch norm"] += ptf
        elif "Pool" in r.type:
            parts["pooling"] += ptf
        elif r.float_macs:
            parts["MACs"] += r.float_macs
            parts["bias"] += ptf - r.float_macs
        else:
            parts["activations"] += ptf
    return parts


def xnor_net_speedup_line(s: Summary) -> list[str]:
    """XNOR-Net's own Eq. 9 figure beside the network's (binary products only)."""
    if s.speedup["eq9_binary_layers"] is None:
        return []
    return [
        "XNOR-Net's figure: Eq. 9 at c=256, N_W=3x3, N_I=14x14 gives "
        f"{float(XNOR_NET_EQ9.speedup):.2f}x (theoretical), "
        f"{figure('xnornet_speedup_reported').text} as reported with its overheads."
    ]


def published_lines(s: Summary) -> list[str]:
    """The figures another implementation prints for this model beside xncost's, with the
    difference explained."""
    keys = PUBLISHED_FIGURES.get(s.model)
    if keys is None:
        return []
    ref = {"params": figure(keys["params"]).text, "gmac": str(figure(keys["gmac"]).digits)}
    t, ptf = s.totals, s.flops_by_convention["ptflops"]
    parts = _ptflops_parts(s)
    params_k = f"{t['params'] / 1000:.2f} k"
    lines = [
        f"{PTFLOPS_SOURCE} prints {ref['params']} parameters and {ref['gmac']} GMac.",
        f"xncost: {t['params']:,} parameters ({params_k}, "
        + ("equal" if params_k == ref["params"] else "DIFFERENT")
        + f"); float MACs of the products {t['float_macs']:,} ({_g(t['float_macs'])} G); "
        f"ptflops-style count {ptf:,} ({_g(ptf)} GMac, "
        + ("equal" if _g(ptf) == ref["gmac"] else "DIFFERENT")
        + ") = "
        + " + ".join(f"{k} {v:,}" for k, v in parts.items() if v)
        + " (ptflops adds conv bias 1 per output, batch norm 2 per element with affine, "
        "ReLU 1 per element and pooling 1 per input element to the MACs).",
    ]
    if t["binary_macs"]:
        lines.append(
            f"The {ref['gmac']} GMac leaves out every binary convolution (a custom module that "
            f"ptflops prices 0): {t['binary_macs']:,} 1-bit MACs ({_g(t['binary_macs'])} G), "
            f"i.e. {t['bops']:,} BOPs ({bop_rule(s)}) = {num(t['xnor_flops'])} XNOR "
            f"FLOPs; the float MACs left are the first and last convolutions, "
            f"{t['float_macs']:,} ({_g(t['float_macs'], 4)} G), plus batch norm, ReLU and "
            "pooling."
        )
    return lines


def annotate(s: Summary) -> Summary:
    """`s` with the sentences comparing it with published figures (its `comparisons`)."""
    return replace(s, comparisons=(*xnor_net_speedup_line(s), *published_lines(s)))
