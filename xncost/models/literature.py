"""Published BNN figures beside xncost's counts of the same networks (reports/literature.md).

The BNN literature (Bi-Real Net, ReActNet, Real-to-Binary Net, ...) reports FLOPs = the
multiply-accumulates of the real-valued convolutions and FC layers, BOPs = the 1-bit
multiply-accumulates of the binary convolutions, and OPs = FLOPs + BOPs/64; batch norm,
activations, pooling, shortcuts' additions, signs and scaling factors are left out.
`bnn_figures` reads them from a summary taken with `convention="bnn"`; the printed figures,
with their paper and table, are in ``published_bnn.json`` beside this module.

    python -m xncost.models.literature [--out reports/literature.md]
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

from xncost.errors import XncostError
from xncost.paper import (
    READING_WORDS,
    READINGS,
    Interval,
    Reading,
    ReadingVerdict,
    reading_test,
)

LITERATURE_WORD = 64  # OPs = FLOPs + BOPs/64 (XNOR-Net's 64 binary operations per cycle)
DATA_FILE = Path(__file__).with_name("published_bnn.json")
MODELS = ("birealnet18", "birealnet34", "xnor-resnet18", "reactnet-a")
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
class Measured:
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


def measure(model: str) -> Measured:
    """xncost's figures of registry model `model` at its default input (one summary)."""
    from xncost.profile.summary import summarize_model

    s = summarize_model(model, convention="bnn")
    t = s.totals
    shortcut_convs = [r for r in s.layers if "downsample" in r.name and r.type == "Conv2d"]
    return Measured(
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


# ----------------------------------------------------------------------------- printed


@dataclass(frozen=True)
class Printed:
    """A printed figure: decimal mantissa string and power of ten, as in the paper."""

    text: str

    @property
    def mantissa(self) -> str:
        return self.text.split("e")[0]

    @property
    def exponent(self) -> int:
        return int(self.text.split("e")[1]) if "e" in self.text else 0

    @property
    def decimals(self) -> int:
        return len(self.mantissa.split(".")[1]) if "." in self.mantissa else 0

    @property
    def value(self) -> Fraction:
        return Fraction(self.mantissa) * 10**self.exponent

    def render(self) -> str:
        return self.mantissa + (f" x 10^{self.exponent}" if self.exponent else "")

    @property
    def unit(self) -> Fraction:
        """The last printed digit's value."""
        return Fraction(10) ** (self.exponent - self.decimals)

    def at_precision(self, x: Fraction, reading: Reading = "round") -> Fraction:
        """x (>= 0) in this figure's unit, rounded half up or truncated to its decimals."""
        scaled = Fraction(x) / self.unit
        n = math.floor(scaled) if reading == "truncate" else math.floor(scaled + Fraction(1, 2))
        return n * self.unit

    def reads(self, x: Fraction, reading: Reading = "round") -> bool:
        return self.at_precision(x, reading) == self.value

    def interval(self, reading: Reading = "round") -> Interval:
        """The exact values that read as this figure."""
        if reading == "truncate":
            return Interval(self.value, self.value + self.unit)
        return Interval(self.value - self.unit / 2, self.value + self.unit / 2)

    def status(self, x: Fraction, reading: Reading = "round") -> str:
        return "equal" if self.reads(x, reading) else "differs"

    def format(self, x: Fraction, reading: Reading = "round") -> str:
        v = self.at_precision(x, reading) / Fraction(10) ** self.exponent
        s = f"{v.numerator / v.denominator:.{self.decimals}f}"
        return s + (f" x 10^{self.exponent}" if self.exponent else "")


@dataclass(frozen=True)
class PrintedRow:
    model: str
    source: str
    row: str
    figures: dict[str, Printed]
    checked: tuple[str, ...]


def _parse_printed(text: str, where: str) -> Printed:
    p = Printed(text)
    try:
        _ = p.value
    except (ValueError, ZeroDivisionError, IndexError):
        raise XncostError(f"{where}: not a decimal figure: {text!r}") from None
    return p


@cache
def load_published(path: Path = DATA_FILE) -> tuple[dict[str, dict[str, str]], tuple, tuple]:
    """(sources, figure rows, float-counterpart rows) of the data file; malformed: XncostError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        sources = data["sources"]
        rows = []
        for group in ("figures", "float_counterparts"):
            out = []
            for i, rec in enumerate(data[group]):
                where = f"{path.name} {group}[{i}]"
                if rec["source"] not in sources or rec["model"] not in MODELS:
                    raise XncostError(f"{where}: unknown source or model")
                figs = {k: _parse_printed(str(v), where) for k, v in rec.items() if k in QUANTITIES}
                out.append(
                    PrintedRow(rec["model"], rec["source"], rec["row"], figs, tuple(rec["checked"]))
                )
            rows.append(tuple(out))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise XncostError(f"cannot read {path}: {e}") from None
    return sources, rows[0], rows[1]


# ----------------------------------------------------------------------------- figures


def _g(x: Fraction | int, exp: int, digits: int = 4) -> str:
    v = Fraction(x) / 10**exp
    return f"{v.numerator / v.denominator:.{digits}f} x 10^{exp}"


def _num(x: Fraction | int) -> str:
    x = Fraction(x)
    if x.denominator == 1:
        return f"{x.numerator:,}"
    return f"{x.numerator:,}/{x.denominator:,} ({x.numerator / x.denominator:,.4f})"


def _span(iv: Interval) -> str:
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


def figures(m: dict[str, Measured], rows: tuple, counterparts: tuple) -> tuple[Figure, ...]:
    """Every printed figure of the data file with xncost's exact value (counterpart rows: the
    same network with every convolution real-valued)."""
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
            f.item: {r: f.printed.reads(f.exact, r) for r in READINGS}
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


def one_bit_shortcuts(x: Measured) -> tuple[int, int]:
    """Bits 1-bit shortcut weights would save: gross (31 per weight) and net of one 32-bit
    alpha per shortcut filter."""
    gross = 31 * x.shortcut_weights
    return gross, gross - 32 * x.shortcut_filters


def shortcut_countings(x: Measured) -> tuple[Counting, ...]:
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
    x: Measured, figs: tuple[Figure, ...], readings: dict[str, Reading]
) -> tuple[CountingFit, ...]:
    """Each shortcut counting against the printed XNOR-Net ResNet-18 figures."""
    mine = {(f.source, f.key): f for f in figs if f.model == "xnor-resnet18" and not f.counterpart}
    out = []
    for c in shortcut_countings(x):
        needs = {}
        for (src, key), f in mine.items():
            if key in ("flops", "ops"):
                base = c.flops if key == "flops" else c.ops
                needs[f"{src} {key}"] = f.printed.interval(readings[src]) - base
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
                bops.printed.reads(Fraction(c.bops), readings["reactnet"]),
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


# ----------------------------------------------------------------------------- report


def explanations(
    m: dict[str, Measured], figs: tuple[Figure, ...], readings: dict[str, Reading]
) -> dict[tuple[str, str, str], str]:
    """Why xncost's figure and a printed one differ, keyed (model, source, quantity)."""
    b18, x18, b34 = m["birealnet18"], m["xnor-resnet18"], m["birealnet34"]
    real, binary, _ = shortcut_countings(x18)
    fits = {f.counting.name: f for f in shortcut_fits(x18, figs, readings)}
    chosen = chosen_fit(tuple(fits.values()))
    by = {(f.model, f.source, f.key): f for f in figs if not f.counterpart}
    down = x18.float_parts["downsampling shortcuts"]
    speedup = by[("birealnet18", "bireal", "speedup")]
    allowed = speedup.printed.interval(readings["bireal"])
    ops_lo, ops_hi = (
        b18.float_counterpart_macs / allowed.hi,
        b18.float_counterpart_macs / allowed.lo,
    )
    ops_fig = by[("birealnet18", "bireal", "ops")]
    at = {r: {ops_fig.printed.format(v, r) for v in (ops_lo, ops_hi)} for r in READINGS}
    word = READING_WORDS[readings["bireal"]]
    allowed_text = (
        f"all of which read as {next(iter(at[readings['bireal']]))} under {word}"
        if len(at[readings["bireal"]]) == 1
        else f"which read as {' or '.join(sorted(at[readings['bireal']]))} under {word}"
    )
    ops18 = (
        f"xncost's OPs are {_num(b18.bnn.ops)} = {_g(b18.bnn.ops, 8)}: "
        f"{ops_fig.printed.format(b18.bnn.ops, readings['bireal'])} under {word}, which the "
        f"Bi-Real table follows (see 'How each table reads its figures'), "
        f"{ops_fig.printed.format(b18.bnn.ops, 'truncate')} truncated. The table's own speed-up "
        f"{speedup.printed.render()} with its {b18.float_counterpart_macs:,} real-valued MACs "
        f"(printed 1.81 x 10^9) puts the OPs in ({ops_lo.numerator // ops_lo.denominator:,}, "
        f"{ops_hi.numerator // ops_hi.denominator:,}], {allowed_text}"
        + (
            f": the printed {ops_fig.printed.render()} is this one figure truncated, not the "
            "table's rounding"
            if ops_fig.printed.reads(b18.bnn.ops, "truncate")
            and ops_fig.printed.value
            not in {ops_fig.printed.at_precision(v, readings["bireal"]) for v in (ops_lo, ops_hi)}
            else ""
        )
    )
    gross, net = one_bit_shortcuts(x18)
    see = "see 'XNOR-Net ResNet-18: the shortcuts'"
    e_text = (
        f"e in {_span(chosen.common)} real-valued operations that are not MACs of a "
        "convolution or FC, which neither paper itemizes"
        if chosen
        else "no single unitemized amount e"
    )
    ops_bireal = fits[real.name].needs["bireal ops"]
    no_alpha = b34.memory_bits - 32 * b34.scales
    return {
        ("birealnet18", "reactnet", "flops"): (
            f"xncost: first convolution {b18.float_parts['first convolution']:,}, the three "
            f"downsampling 1x1 convolutions {b18.float_parts['downsampling shortcuts']:,}, FC "
            f"{b18.float_parts['FC']:,} real-valued MACs. The printed row does not add up: "
            "1.68 x 10^9/64 + 1.39 x 10^8 = 1.65 x 10^8, not its printed OPs 1.63 x 10^8; "
            "xncost's FLOPs and OPs satisfy the formula exactly"
        ),
        ("birealnet18", "reactnet", "ops"): f"the Bi-Real table's figure (below): {ops18}",
        ("birealnet18", "bireal", "ops"): ops18,
        ("xnor-resnet18", "reactnet", "bops"): (
            f"only binary downsampling shortcuts give it: {real.bops:,} + their {down:,} MACs "
            f"= {binary.bops:,} ({_g(binary.bops, 9, 2)}); xncost's model keeps them "
            f"real-valued, as the Bi-Real table's memory does ({see})"
        ),
        ("xnor-resnet18", "reactnet", "flops"): (
            f"real-valued shortcuts give {_num(real.flops)}, binary ones "
            f"{_num(binary.flops)}: neither alone. With binary shortcuts in the BOPs and "
            "the OPs below, OPs - BOPs/64 = "
            f"{_num(chosen.counting.flops) if chosen else '-'} + e: "
            f"{e_text} ({see})"
        ),
        ("xnor-resnet18", "reactnet", "ops"): (
            f"the Bi-Real table's figure (the same 1.67 x 10^8): real-valued shortcuts, "
            f"{_num(real.ops)}, plus {e_text} ({see})"
        ),
        ("xnor-resnet18", "bireal", "ops"): (
            f"real-valued shortcuts, as the memory below shows, give {_num(real.ops)}; the printed "
            f"figure holds e in {_span(ops_bireal)} more real-valued operations that are not "
            f"MACs of a convolution or FC, which the paper does not itemize ({see})"
        ),
        ("xnor-resnet18", "bireal", "speedup"): (
            f"xncost: {x18.float_counterpart_macs:,} / OPs; the printed 10.86 is the same "
            "ratio with the printed OPs 1.67 x 10^8 (1.814 x 10^9 / 1.67 x 10^8 = 10.86)"
        ),
        ("xnor-resnet18", "bireal", "memory_mbit"): (
            f"xncost stores {x18.params_1bit:,} 1-bit weights, {x18.scales:,} 32-bit alphas "
            f"and every other parameter, the shortcuts' included, at 32 bits: "
            f"{_g(real.memory_bits, 6, 2)} bits. 1-bit shortcut weights ({x18.shortcut_weights:,}, "
            f"the convolutions only: their batch norms stay real-valued) would take "
            f"{gross:,} bits off, {net:,} net of one 32-bit alpha for each of their "
            f"{x18.shortcut_filters:,} filters, leaving {_g(binary.memory_bits, 6, 2)}: the "
            f"printed figure fits real-valued shortcuts; its "
            f"{float(fits[real.name].memory_gap):.2f} Mbit more (some "
            f"{round(fits[real.name].memory_gap * 10**6 / 32):,} 32-bit values) the paper does "
            "not itemize"
        ),
        ("birealnet18", "bireal", "memory_saving"): (
            "the printed 33.6 Mbit stands for 33.55 to 33.65 Mbit; the printed saving "
            "puts it at 374.1 / 11.14 = 33.58 Mbit, about 0.06 Mbit below xncost's "
            "figure, a difference the paper does not itemize"
        ),
        ("xnor-resnet18", "bireal", "memory_saving"): "follows from the memory above",
        ("birealnet34", "bireal", "memory_mbit"): (
            f"not explained: the rule that gives Bi-Real Net-18's printed 33.6 Mbit (1-bit "
            "weights, one 32-bit alpha per binary filter, every real-valued parameter at 32 "
            f"bits) gives {_g(b34.memory_bits, 6, 2)} bits here; without the alphas (batch "
            f"norm absorbs them after its retraining) {_g(no_alpha, 6, 2)} bits"
        ),
        ("birealnet34", "bireal", "memory_saving"): "follows from the memory above",
    }


TABLES = {
    "reactnet": "ReActNet (Liu et al. 2020), comparison table",
    "bireal": "Bi-Real Net (Liu et al. 2018), memory and FLOPs table",
}


def _printed_rows(figs: tuple[Figure, ...], readings: dict[str, Reading], notes: dict,
                  used: set) -> list[str]:  # fmt: skip
    out = [
        "| network (printed row) | quantity | printed | xncost (exact) | xncost at the printed "
        "precision | status | why they differ |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for f in figs:
        reading = readings[f.source]
        status = f.printed.status(f.exact, reading)
        note = notes.get((f.model, f.source, f.key), "")
        if note:
            used.add((f.model, f.source, f.key))
        elif status == "differs":
            raise XncostError(f"no explanation for {f.model} {f.source} {f.key}")
        mark = "" if f.checked else " *"
        out.append(
            f"| `{f.model}` ({f.row}) | {QUANTITIES[f.key][0]} | {f.printed.render()}{mark} | "
            f"{_num(f.exact)} | {f.printed.format(f.exact, reading)} | {status} | {note} |"
        )
    return out


def _reading_section(figs: tuple[Figure, ...], verdicts: dict[str, ReadingVerdict]) -> list[str]:
    out = [
        "## How each table reads its figures",
        "",
        "Each printed figure read both ways, rounded half up and truncated to its printed "
        "decimals; a table follows the reading under which more of its figures are xncost's "
        "exact values (`xncost.paper.ReadingVerdict`), and its statuses use that reading.",
        "",
        "| table | figures | rounded | truncated | only rounding gives | only truncation gives | "
        "reading |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for src, v in verdicts.items():
        t = v.tests[0]
        out.append(
            f"| {TABLES[src]} | {len(t.items)} | {t.count('round')} | {t.count('truncate')} | "
            + " | ".join("; ".join(t.only(r)) or "-" for r in READINGS)
            + f" | {READING_WORDS[v.reading] if v.reading else 'undecided: rounding'} |"
        )
    return out


def _shortcut_section(
    x: Measured, figs: tuple[Figure, ...], readings: dict[str, Reading]
) -> list[str]:
    fits = shortcut_fits(x, figs, readings)
    chosen = chosen_fit(fits)
    by = {(f.source, f.key): f for f in figs if f.model == "xnor-resnet18" and not f.counterpart}
    bops, memory = by[("reactnet", "bops")], by[("bireal", "memory_mbit")]
    keys = [k for k in fits[0].needs]
    gives_bops = [f.counting.name for f in fits if f.bops_reads] or ["no counting"]
    nearest = min(fits, key=lambda f: f.memory_gap).counting.name
    out = [
        "## XNOR-Net ResNet-18: the shortcuts",
        "",
        f"The ReActNet row's BOPs ({bops.printed.render()}) read as printed with: "
        f"{'; '.join(gives_bops)}. The Bi-Real table's memory ({memory.printed.render()} "
        f"Mbit) is nearest {nearest}. Each counting below predicts BOPs, FLOPs, OPs and "
        "memory together; e is the real-valued work that is not a MAC of a convolution or FC "
        "(which the `bnn` convention leaves out) that a printed FLOPs or OPs figure would need "
        "on top of the counting, under its table's reading (integers, both ends included).",
        "",
        "| counting | BOPs | FLOPs before e | OPs before e | memory (Mbit) | "
        + " | ".join(f"e for {k}" for k in keys)
        + " | one e for all |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(keys) + "---:|",
    ]
    for f in fits:
        c = f.counting
        out.append(
            f"| {c.name} | {c.bops:,} ({bops.printed.format(Fraction(c.bops))}"
            f"{'' if f.bops_reads else ', differs'}) | {_num(c.flops)} | {_num(c.ops)} | "
            f"{float(Fraction(c.memory_bits, 10**6)):.2f} ({float(f.memory_gap):.2f} from "
            f"{memory.printed.render()}) | "
            + " | ".join(_span(iv) if iv.hi > 0 else "none" for iv in f.needs.values())
            + f" | {_span(f.common) if f.common else 'none'} |"
        )
    out.append("")
    if chosen is None:
        out.append(
            "No counting gives the printed BOPs and, with one e, every printed FLOPs and OPs "
            "figure: the row stays unexplained."
        )
    else:
        others = [f for f in fits if f is not chosen and f.bops_reads and f.common is not None]
        out.append(
            f"The counting the figures support: **{chosen.counting.name}**. Its BOPs read as "
            f"printed and one e in {_span(chosen.common)} gives every printed FLOPs and OPs "
            "figure of both tables"
            + "".join(
                f"; {o.counting.name} does too, with e in {_span(o.common)}, but its memory is "
                f"{float(o.memory_gap):.2f} Mbit from the printed {memory.printed.render()} "
                f"against {float(chosen.memory_gap):.2f}"
                for o in others
            )
            + ". So the ReActNet row counts the shortcuts binary in its BOPs and takes its OPs "
            "from the Bi-Real table (real-valued shortcuts), its FLOPs being OPs - BOPs/64. "
            f"Unexplained: e, {_span(chosen.common)} real-valued operations neither paper "
            f"itemizes, and the memory's {float(chosen.memory_gap):.2f} Mbit."
        )
    return out


def literature_markdown(measured: dict[str, Measured] | None = None) -> str:
    """reports/literature.md (byte-identical across runs: no dates, no timings)."""
    m = measured or {name: measure(name) for name in MODELS}
    sources, rows, counterparts = load_published()
    figs = figures(m, rows, counterparts)
    verdicts = source_readings(figs)
    readings = {src: v.used for src, v in verdicts.items()}
    notes = explanations(m, figs, readings)
    used: set = set()
    out = [
        "# Published binary networks: printed figures beside xncost's",
        "",
        "Generated by `python -m xncost.models.literature --out reports/literature.md`.",
        "",
        "The BNN literature's convention (`bnn`): FLOPs = multiply-accumulates of the "
        "real-valued convolutions and FC layers; BOPs = 1-bit multiply-accumulates of the binary "
        f"convolutions; OPs = FLOPs + BOPs/{LITERATURE_WORD}. Batch norm, activations, pooling, "
        "the shortcuts' additions, signs and scaling factors are not counted. xncost reads "
        "FLOPs and BOPs from `xncost summary MODEL --convention bnn` ("
        "`xncost.models.literature.bnn_figures`), counted on one forward pass of the networks "
        "in `xncost.models` at 3x224x224 with 1000 classes. Memory: 1 bit per binary weight, "
        "32 bits per other parameter and per scale (one alpha per binary filter); memory "
        "saving = 32 bits x parameters / memory; speed-up = MACs of the same network with "
        "every convolution real-valued / OPs (the Bi-Real table's definition).",
        "",
        "Status: `equal` when xncost's exact figure reads as the printed one under the reading "
        "its table follows (rounding half up or truncation, decided from the table's own "
        "figures below), else `differs` (explained in the last column). A printed figure "
        "marked * was transcribed from the paper and not compared with a second copy; see "
        "Sources (and docs/attributions.md).",
        "",
        "## xncost's figures",
        "",
        "| network | FLOPs | BOPs | OPs | float counterpart MACs | speed-up | params (1-bit) | "
        "memory (bits) | saving |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in MODELS:
        x = m[name]
        out.append(
            f"| `{name}` | {x.bnn.flops:,} | {x.bnn.bops:,} | {_num(x.bnn.ops)} | "
            f"{x.float_counterpart_macs:,} | {float(x.value('speedup')):.2f} | "
            f"{x.params:,} ({x.params_1bit:,}) | {x.memory_bits:,} | "
            f"{float(x.value('memory_saving')):.2f} |"
        )
    out += [
        "",
        "Where the FLOPs run (real-valued MACs):",
        "",
        "| network | " + " | ".join(next(iter(m.values())).float_parts) + " |",
        "|---|" + "---:|" * len(next(iter(m.values())).float_parts),
    ]
    for name in MODELS:
        out.append(
            f"| `{name}` | " + " | ".join(f"{v:,}" for v in m[name].float_parts.values()) + " |"
        )
    out += [""] + _reading_section(figs, verdicts)
    for key, title in TABLES.items():
        out += ["", f"## {title}", ""]
        out += _printed_rows(
            tuple(f for f in figs if f.source == key and not f.counterpart), readings, notes, used
        )
    out += [
        "",
        "## Real-valued counterparts (Bi-Real table)",
        "",
        "| printed row | quantity | printed | xncost | status |",
        "|---|---|---:|---:|---|",
    ]
    for f in figs:
        if f.counterpart:
            out.append(
                f"| {f.row} (`{f.model}` with real-valued convolutions) | "
                f"{QUANTITIES[f.key][0]} | {f.printed.render()} * | {_num(f.exact)} | "
                f"{f.printed.status(f.exact, readings[f.source])} |"
            )
    unused = set(notes) - used
    if unused:
        raise XncostError(f"explanations without a printed figure: {sorted(unused)}")
    out += [""] + _shortcut_section(m["xnor-resnet18"], figs, readings)
    out += [
        "",
        "## The networks",
        "",
        "- `birealnet18`, `birealnet34` (`xncost.models.bireal`): the authors' PyTorch code; "
        "real-valued first convolution, downsampling shortcuts (2x2 average pool, 1x1 "
        "convolution, BN) and FC; every 3x3 convolution binary (`SignConv2d`).",
        "- `xnor-resnet18` (`xncost.models.xnor_resnet`): ResNet-18 basic blocks with BN -> "
        "`XnorConv2d` (binary input and weights, scales K and alpha); real-valued first "
        "convolution, downsampling shortcuts and FC.",
        "- `reactnet-a` (`xncost.models.reactnet`): the authors' code; real-valued first "
        "convolution and FC, every other convolution binary, RSign and RPReLU as learnable "
        "shifts around sign and PReLU.",
        "",
        "## Sources",
        "",
    ]
    for key, src in sources.items():
        out.append(f"- **{key}**: {src['cite']}; {src['table']}. Checked: {src['verified']}.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print reports/literature.md, or write it with `--out PATH`."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and (args[0] != "--out" or len(args) != 2):
            raise XncostError("usage: python -m xncost.models.literature [--out PATH]")
        text = literature_markdown()
        if args:
            from xncost.files import write_atomic

            write_atomic(args[1], text)
        else:
            sys.stdout.write(text)
    except XncostError as e:
        print(f"xncost: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
