"""Published BNN figures beside xncost's counts of the same networks (reports/literature.md).

The BNN literature (Bi-Real Net, ReActNet, Real-to-Binary Net, ...) reports FLOPs = the
multiply-accumulates of the real-valued convolutions and FC layers, BOPs = the 1-bit
multiply-accumulates of the binary convolutions, and OPs = FLOPs + BOPs/64; batch norm,
activations, pooling, shortcuts' additions, signs and scaling factors are left out.
`bnn_figures` reads them from a summary taken with `convention="bnn"`; the printed figures,
with their paper and table, are in `reference/published_bnn.json` (`xncost.paper.store`). The
report is `xncost.paper.literature_report`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from xncost.errors import XncostError
from xncost.paper.printed import (
    READINGS,
    Interval,
    Printed,
    Reading,
    ReadingVerdict,
    reading_test,
)
from xncost.paper.store import PrintedRow

LITERATURE_WORD = 64  # OPs = FLOPs + BOPs/64 (XNOR-Net's 64 binary operations per cycle)
NETWORKS = ("birealnet18", "birealnet34", "xnor-resnet18", "reactnet-a")
QUANTITIES = {  # key -> (label, unit of the printed figure)
    "bops": ("BOPs", "1-bit MACs"),
    "flops": ("FLOPs", "real-valued MACs"),
    "ops": ("OPs", "FLOPs + BOPs/64"),
    "memory_mbit": ("memory (Mbit)", "10^6 bits"),
    "memory_saving": ("memory saving", "x"),
    "speedup": ("speed-up", "x"),
}


# ----------------------------------------------------------------------------- convention


@dataclass(frozen=True)
class BnnFigures:
    """One network under the literature's convention (exact integers)."""

    flops: int
    bops: int

    @property
    def ops(self) -> Fraction:
        return self.flops + Fraction(self.bops, LITERATURE_WORD)


def bnn_figures(s: Any) -> BnnFigures:
    """The literature's figures of a summary taken under `convention="bnn"`
    (docs/conventions.md): FLOPs = float MACs of conv/linear/matmul, BOPs = 1-bit MACs."""
    if s.convention != "bnn":
        raise ValueError(f"bnn_figures needs a bnn-convention summary, not {s.convention}")
    t = s.totals
    return BnnFigures(flops=t["float_flops"], bops=t["bops"])


@dataclass(frozen=True)
class NetworkCount:
    """xncost's figures of one network, in the quantities the papers print."""

    model: str
    bnn: BnnFigures
    memory_bits: int
    params: int
    params_1bit: int
    scales: int
    shortcut_weights: int
    shortcut_filters: int
    float_parts: dict[str, int]

    @property
    def float_counterpart_macs(self) -> int:
        """MACs of the same network with every convolution real-valued."""
        return self.bnn.flops + self.bnn.bops

    def value(self, key: str) -> Fraction:
        if key == "memory_mbit":
            return Fraction(self.memory_bits, 10**6)
        if key == "memory_saving":
            return Fraction(32 * self.params, self.memory_bits)
        if key == "speedup":
            return Fraction(self.float_counterpart_macs) / self.bnn.ops
        return Fraction(getattr(self.bnn, key))


def _float_parts(s: Any) -> dict[str, int]:
    """Float MACs by where they run: first convolution, downsampling shortcuts, FC, other."""
    parts = dict.fromkeys(("first convolution", "downsampling shortcuts", "FC", "other"), 0)
    first = True
    for r in s.layers:
        if not r.float_macs:
            continue
        if first and r.type == "Conv2d":
            key = "first convolution"
        elif "downsample" in r.name:
            key = "downsampling shortcuts"
        elif r.type == "Linear":
            key = "FC"
        else:
            key = "other"
        first = False
        parts[key] += r.float_macs
    return parts


def measure(model: str) -> NetworkCount:
    """xncost's figures of registry model `model` at its default input (one summary)."""
    from xncost.profile.summary import summarize_model

    s = summarize_model(model, convention="bnn")
    t = s.totals
    shortcut_convs = [r for r in s.layers if "downsample" in r.name and r.type == "Conv2d"]
    return NetworkCount(
        model=model,
        bnn=bnn_figures(s),
        memory_bits=sum(r.memory_bits for r in s.layers),
        params=t["params"],
        params_1bit=t["params_1bit"],
        scales=t["scales"],
        shortcut_weights=sum(r.params for r in shortcut_convs),
        shortcut_filters=sum(r.output_shape[1] for r in shortcut_convs),
        float_parts=_float_parts(s),
    )


# ----------------------------------------------------------------------------- figures


def sci_text(x: Fraction | int, exp: int, digits: int = 4) -> str:
    v = Fraction(x) / 10**exp
    return f"{v.numerator / v.denominator:.{digits}f} x 10^{exp}"


def count_text(x: Fraction | int) -> str:
    x = Fraction(x)
    if x.denominator == 1:
        return f"{x.numerator:,}"
    return f"{x.numerator:,}/{x.denominator:,} ({x.numerator / x.denominator:,.4f})"


def span_text(iv: Interval) -> str:
    """'[a, b)' of an interval of counts, rounded outward to integers for display."""
    lo = math.ceil(iv.lo) if iv.lo_closed else math.floor(iv.lo) + 1
    hi = math.ceil(iv.hi) - 1 if not iv.hi_closed else math.floor(iv.hi)
    return f"[{lo:,}, {hi:,}]"


@dataclass(frozen=True)
class Figure:
    """One printed figure beside xncost's exact value of the same quantity."""

    source: str
    model: str
    row: str
    key: str
    printed: Printed
    exact: Fraction
    checked: bool
    counterpart: bool

    @property
    def item(self) -> str:
        return f"{self.row} {QUANTITIES[self.key][0]}"

    def status(self, reading: Reading) -> str:
        """`equal` when xncost's exact value reads as the printed figure, else `differs`."""
        return "equal" if self.printed.matches(self.exact, reading) else "differs"


def figures(
    m: dict[str, NetworkCount], rows: tuple[PrintedRow, ...], counterparts: tuple[PrintedRow, ...]
) -> tuple[Figure, ...]:
    """Every printed figure of the data file with xncost's exact value (counterpart rows: the
    same network with every convolution real-valued)."""
    unknown = sorted({r.model for r in rows + counterparts} - set(m))
    if unknown:
        raise XncostError(f"published figures for networks xncost does not count: {unknown}")
    out = []
    for r in rows:
        for key, p in r.figures.items():
            x = m[r.model].value(key)
            out.append(Figure(r.source, r.model, r.row, key, p, x, key in r.checked, False))
    for r in counterparts:
        x = m[r.model]
        values = {
            "flops": Fraction(x.float_counterpart_macs),
            "memory_mbit": Fraction(32 * x.params, 10**6),
        }
        for key, p in r.figures.items():
            out.append(Figure(r.source, r.model, r.row, key, p, values[key], False, True))
    return tuple(out)


def source_readings(figs: tuple[Figure, ...]) -> dict[str, ReadingVerdict]:
    """Per source table, whether its figures are rounded (half up) or truncated: the reading
    under which more of its figures are xncost's exact values (paper.ReadingVerdict)."""
    out = {}
    for src in dict.fromkeys(f.source for f in figs):
        outcomes = {
            f.item: {r: f.printed.matches(f.exact, r) for r in READINGS}
            for f in figs
            if f.source == src
        }
        out[src] = ReadingVerdict(
            src, (reading_test("figures xncost's exact value gives", outcomes),)
        )
    return out


# ----------------------------------------------------------------------------- XNOR-Net shortcuts


@dataclass(frozen=True)
class Counting:
    """One way to count XNOR-Net ResNet-18's three downsampling 1x1 shortcuts: its BOPs, the
    FLOPs and OPs before any real-valued work e it leaves unitemized, and its memory."""

    name: str
    bops: int
    flops: Fraction
    ops: Fraction
    memory_bits: int


def one_bit_shortcuts(x: NetworkCount) -> tuple[int, int]:
    """Bits 1-bit shortcut weights would save: gross (31 per weight) and net of one 32-bit
    alpha per shortcut filter."""
    gross = 31 * x.shortcut_weights
    return gross, gross - 32 * x.shortcut_filters


def shortcut_countings(x: NetworkCount) -> tuple[Counting, ...]:
    """Real-valued shortcuts (xncost's model), binary shortcuts, and binary shortcuts in the
    BOPs with the real-valued OPs and FLOPs = OPs - BOPs/64."""
    macs = x.float_parts["downsampling shortcuts"]
    bops = x.bnn.bops + macs
    real = Counting("real-valued shortcuts (xncost's model)", x.bnn.bops, Fraction(x.bnn.flops),
                    x.bnn.ops, x.memory_bits)  # fmt: skip
    binary = Counting(
        "binary shortcuts",
        bops,
        Fraction(x.bnn.flops - macs),
        x.bnn.flops - macs + Fraction(bops, LITERATURE_WORD),
        x.memory_bits - one_bit_shortcuts(x)[1],
    )
    mixed = Counting(
        "BOPs with binary shortcuts, OPs with real-valued ones, FLOPs = OPs - BOPs/64",
        bops,
        x.bnn.ops - Fraction(bops, LITERATURE_WORD),
        x.bnn.ops,
        x.memory_bits,
    )
    return real, binary, mixed


@dataclass(frozen=True)
class CountingFit:
    """A counting against the XNOR-Net figures of both tables: whether its BOPs read as the
    printed BOPs, the unitemized real-valued work e each FLOPs / OPs figure needs, e common to
    all of them, and how far its memory is from the printed memory."""

    counting: Counting
    bops_reads: bool
    needs: dict[str, Interval]
    common: Interval | None
    memory_gap: Fraction


def shortcut_fits(
    x: NetworkCount, figs: tuple[Figure, ...], readings: dict[str, Reading]
) -> tuple[CountingFit, ...]:
    """Each shortcut counting against the printed XNOR-Net ResNet-18 figures."""
    mine = {(f.source, f.key): f for f in figs if f.model == "xnor-resnet18" and not f.counterpart}
    out = []
    for c in shortcut_countings(x):
        needs = {}
        for (src, key), f in mine.items():
            if key in ("flops", "ops"):
                base = c.flops if key == "flops" else c.ops
                needs[f"{src} {key}"] = f.printed.interval_for(readings[src]) - base
        common: Interval | None = None
        for iv in needs.values():
            common = iv if common is None else common.intersect(iv)
            if common is None:
                break
        if common is not None and common.hi <= 0:
            common = None
        bops = mine[("reactnet", "bops")]
        memory = mine[("bireal", "memory_mbit")]
        out.append(
            CountingFit(
                c,
                bops.printed.matches(Fraction(c.bops), readings["reactnet"]),
                needs,
                common,
                abs(memory.printed.value - Fraction(c.memory_bits, 10**6)),
            )
        )
    return tuple(out)


def chosen_fit(fits: tuple[CountingFit, ...]) -> CountingFit | None:
    """The counting the data support: its BOPs read as printed and one e >= 0 gives every
    printed FLOPs and OPs figure; of those, the nearest the printed memory."""
    ok = [f for f in fits if f.bops_reads and f.common is not None]
    return min(ok, key=lambda f: f.memory_gap) if ok else None
