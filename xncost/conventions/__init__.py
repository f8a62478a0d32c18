"""Named counting conventions: what one primitive operation costs (docs/conventions.md).

The one price list of xncost: the analytic step functions (`xncost.core.accounting`), the thop
handlers, the dispatch counting engine and the whole-network summary all read their prices from
the `Convention` they are given. Each convention is one module of this package holding its
`Convention` (prices, scope, labels) and its per-op rules: `paper` (Tables 5 and 9), `ops` (one
FLOP per primitive executed), `tf` (TensorFlow's profiler), `ptflops`, `bnn` (the BNN
literature's OPs) and `macs` (every MAC one, float or 1-bit). A module of this package holding
a `CONVENTION` is registered when the package is imported (listed by its `order`);
`register_convention` adds one from outside; the CLI's `--convention` choices, the summary's
per-convention figures and docs/conventions.md's table follow the registry.

Binary dot products: a dot product of length k is packed into ceil(k / word_bits) words and
costs `bops_per_word` binary operations per word (xnor, popcount and accumulate; the paper's
"xnor, popcount, 2p - n" for a one-word product), plus `bops_per_binary_mac` per 1-bit
multiply-accumulate (the BNN literature's BOPs): `Convention.bops`. XNOR FLOPs = BOPs /
word_bits (Table 5): `xnor_flops`. Torch-free.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from xncost.conventions import bnn, ops, paper, ptflops, tf
from xncost.conventions.base import (
    LAYER,
    MAX_WORD_BITS,
    MODEL,
    Convention,
    Count,
    OpEvent,
    Rule,
    RuleSet,
    class_key,
    xnor_flops,
)
from xncost.errors import XncostError

ALL_CONVENTIONS: dict[str, Convention] = {}
CONVENTIONS: dict[str, Convention] = {}  # layer scope: `cost`, `explain`, Tables 5, 7, 9
MODEL_CONVENTIONS: dict[str, Convention] = {}  # model scope: `summary`, Tables 4, 8


def register_convention(conv: Convention | ModuleType) -> Convention:
    """Add a convention (or a module holding one as `CONVENTION`) to the registry, under its
    scopes; a name registered twice raises."""
    if isinstance(conv, ModuleType):
        conv = conv.CONVENTION
    if conv.name in ALL_CONVENTIONS:
        raise XncostError(f"convention {conv.name!r} is already registered")
    if MODEL in conv.scopes and conv.rules is None:
        raise XncostError(f"convention {conv.name!r} prices whole models but has no rules")
    ALL_CONVENTIONS[conv.name] = conv
    if LAYER in conv.scopes:
        CONVENTIONS[conv.name] = conv
    if MODEL in conv.scopes:
        MODEL_CONVENTIONS[conv.name] = conv
    return conv


def _discover() -> list[Convention]:
    """The conventions of this package: every module holding a `CONVENTION`, by `order`."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        conv = getattr(importlib.import_module(f"{__name__}.{info.name}"), "CONVENTION", None)
        if isinstance(conv, Convention):
            found.append(conv)
    return sorted(found, key=lambda c: (c.order, c.name))


for _conv in _discover():
    register_convention(_conv)

PAPER, OPS, TF, PTFLOPS, BNN = paper.PAPER, ops.OPS, tf.TF, ptflops.PTFLOPS, bnn.BNN


def get_convention(
    name: str | Convention,
    word_bits: int | None = None,
    table: dict[str, Convention] = CONVENTIONS,
) -> Convention:
    """Look a convention up by name in `table` (layer conventions by default;
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


__all__ = [
    "ALL_CONVENTIONS",
    "BNN",
    "CONVENTIONS",
    "LAYER",
    "MAX_WORD_BITS",
    "MODEL",
    "MODEL_CONVENTIONS",
    "OPS",
    "PAPER",
    "PTFLOPS",
    "TF",
    "Convention",
    "Count",
    "OpEvent",
    "Rule",
    "RuleSet",
    "class_key",
    "get_convention",
    "register_convention",
    "xnor_flops",
]
