"""Tables 5, 7 and 9 rebuilt from the formulas, beside the printed values.

Every cell carries the paper's printed text, xncost's exact value, the measured value (filled
by `--measure`), a status (`match`, `mismatch`, `n/a`) and a note. A mismatch's note names the
cause the numbers establish (docs/paper.md); matching cells state their caveats. Each table is
compared under the reading (rounding or truncation) its own cells establish
(`reading_verdict`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cache
from typing import Any

from xncost.accounting import Breakdown, breakdown
from xncost.errors import XncostError
from xncost.exact import exact_str
from xncost.formulas import eq12_speedup, eq15_speedup
from xncost.paper import (
    MODEL_LABELS,
    READING_WORDS,
    READINGS,
    PaperCell,
    Printed,
    Reading,
    ReadingVerdict,
    load_table,
    printed_lookup,
    ratio_cause,
    reading_test,
)
from xncost.shapes import (
    CAPS_PRESETS,
    MOBILENET_FC_DIMS,
    RESNET_CHANNELS,
    RESNET_FC_HIDDEN,
    SETTINGS,
    FCShape,
    resnet_fc_dims,
)

TABLES = (5, 7, 9)
CSV_COLUMNS = (
    "table",
    "setting",
    "model",
    "metric",
    "paper_text",
    "paper",
    "xncost",
    "measured",
    "status",
    "note",
)
COUNT_METRICS = ("total_flops", "binarization_flops", "xnor_bops", "xnor_flops", "params")


@dataclass(frozen=True)
class Cell:
    """One cell of a rebuilt table (one CSV row)."""

    table: str
    setting: str
    model: str
    metric: str
    paper: Printed | None
    xncost: Any
    measured: Any = None
    status: str = "n/a"
    note: str = ""
    reading: Reading = "round"

    @property
    def xncost_text(self) -> str:
        return value_text(self.metric, self.xncost)

    @property
    def shown(self) -> str:
        """xncost's value in the paper's style (unit and precision, the table's reading)."""
        if self.paper is None:
            return self.xncost_text
        return self.paper.format(self.xncost, self.reading)

    def row(self) -> dict[str, str]:
        return {
            "table": self.table,
            "setting": self.setting,
            "model": self.model,
            "metric": self.metric,
            "paper_text": "" if self.paper is None else self.paper.text,
            "paper": "" if self.paper is None else value_text(self.metric, self.paper.value),
            "xncost": self.xncost_text,
            "measured": "" if self.measured is None else value_text(self.metric, self.measured),
            "status": self.status,
            "note": self.note,
        }


def value_text(metric: str, value: Any) -> str:
    """Counts exact; ratios (percent) and speed-ups to 6 decimals, rounded half even."""
    if value is None:
        return ""
    if metric in COUNT_METRICS:
        return exact_str(value)
    q = Fraction(value)
    return f"{round(q * 10**6) / 10**6:.6f}" if q.denominator != 1 else f"{q.numerator}.000000"


@dataclass(frozen=True)
class Table:
    """A rebuilt paper table: its cells and a title."""

    number: int
    title: str
    cells: tuple[Cell, ...]
    notes: tuple[str, ...] = field(default=())

    def counts(self) -> dict[str, int]:
        out = {"match": 0, "mismatch": 0, "n/a": 0}
        for c in self.cells:
            out[c.status] += 1
        return out

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([c.row() for c in self.cells], columns=list(CSV_COLUMNS))


# ----------------------------------------------------------------------------- model figures


def fc_flops(dims: tuple[int, ...]) -> int:
    """FLOPs of an FC head with layer widths `dims` (`paper` convention)."""
    return breakdown("fc", FCShape(dims)).totals["flops"]


def keras_resnet50_map_side(input_side: int, upsampling: bool) -> int:
    """ResNet-50's last map side if the stem keeps Keras' ZeroPadding2D(3) and (1) layers.

    Keras' ResNet50 pads 3 before the 7x7/2 stem and 1 before the 3x3/2 max-pool (both
    `valid`) and strides its stages with 1x1/2 convolutions. Without upsampling the paper
    changes the stem to 3x3/1 and the pool to 1x1/1 (Section 4.3.2); whether the paddings stay
    is not stated: this is one reading, `resnet50_map_side` (size-keeping padding) the other.
    """
    kernel, stride, pool, pool_stride = (7, 2, 3, 2) if upsampling else (3, 1, 1, 1)
    side = (input_side + 6 - kernel) // stride + 1
    side = (side + 2 - pool) // pool_stride + 1
    for _ in range(3):
        side = -(-side // 2)
    return side


def fc_head(model: str, setting: str) -> tuple[int, str]:
    """FC head FLOPs of resnet50 / mobilenetv2 in a Table 5/9 setting, and its caveat note."""
    if model == "mobilenetv2":
        return fc_flops(MOBILENET_FC_DIMS), "FC head 1280-512-256-128-10 after global pooling"
    s = SETTINGS[table5_setting(setting)]
    side, real = s.paper_map_side, s.real_map_side
    keras = keras_resnet50_map_side(s.input_side, s.upsampling)
    gap_flops = fc_flops((RESNET_CHANNELS, *RESNET_FC_HIDDEN))
    if keras == real:
        real_text = f"gives {real}x{real} ({fc_flops(resnet_fc_dims(real)):,} FLOPs)"
    else:
        real_text = (
            f"gives {real}x{real} ({fc_flops(resnet_fc_dims(real)):,} FLOPs) if the modified "
            f"stem keeps the input size, {keras}x{keras} "
            f"({fc_flops(resnet_fc_dims(keras)):,} FLOPs) if it keeps Keras' ZeroPadding2D "
            "layers (the paper does not say which)"
        )
    note = (
        f"FC head on a flattened {side}x{side}x2048 map (the side the printed figure implies); "
        f"ResNet-50 at {s.input_side}x{s.input_side} {real_text}; the authors' code pools "
        f"first ({gap_flops:,} FLOPs; docs/paper.md)"
    )
    return fc_flops(resnet_fc_dims(side)), note


def table5_setting(setting: str) -> str:
    """Map a Table 7 setting (per data set) to the Table 5/9 setting with the same shapes."""
    if setting in SETTINGS:
        return setting
    up, ds = setting.split("-", 1)
    return f"{up}-{'multimnist' if ds == 'multimnist' else 'mnist-cifar10'}"


def _layer(model: str) -> tuple[str, str]:
    """model name -> (capsule layer, preset)."""
    backbone, _, layer = model.partition("_")
    preset = "resnet" if backbone == "resnet" else "mobilenet"
    return layer, preset


def caps_breakdown(model: str) -> Breakdown:
    layer, preset = _layer(model)
    return breakdown(layer, CAPS_PRESETS[preset], "paper")


# ----------------------------------------------------------------------------- notes


def residual_interval(
    value: Any, printed: Printed, pairs: int, reading: Reading = "round"
) -> tuple[Fraction, Fraction]:
    """[lo, hi) of (printed total - xncost total) per capsule pair, given the print reading."""
    per_pair = (printed.interval_for(reading) - Fraction(value)).scaled(Fraction(1, pairs))
    return per_pair.lo, per_pair.hi


def _xnidr_residuals(reading: Reading) -> dict[str, tuple[Fraction, Fraction]]:
    """Per-pair residual intervals of the printed XnIDR totals, per capsule preset."""
    out = {}
    for pc in load_table(5):
        if pc.model.endswith("xnidr") and pc.metric == "total_flops":
            b = caps_breakdown(pc.model)
            pairs = b.shape.N * b.shape.M * b.shape.B
            out[pc.model] = residual_interval(b.totals["flops"], pc.printed, pairs, reading)
    return out


def _residual_note(model: str, value: Any, printed: Printed, b: Breakdown, reading: Reading) -> str:
    pairs = b.shape.N * b.shape.M * b.shape.B
    res = printed.value - Fraction(value)
    intervals = _xnidr_residuals(reading)
    lo = max(i[0] for i in intervals.values())
    hi = min(i[1] for i in intervals.values())
    here = intervals[model]
    per_step = ", ".join(
        f"{s.name} {float(Fraction(s.flops) / pairs):.0f}" for s in b.steps if s.flops
    )
    both = (
        f"one extra cost in [{float(lo):.1f}, {float(hi):.1f}) FLOPs per pair would explain "
        "every printed XnIDR total"
        if lo < hi
        else "no single extra cost per pair explains every printed XnIDR total"
    )
    return (
        f"paper - xncost = {float(res):,.0f} FLOPs, i.e. [{float(here[0]):.1f}, "
        f"{float(here[1]):.1f}) per capsule pair given the print {READING_WORDS[reading]}; "
        f"{both} (per pair: {per_step}); cause: unexplained, see `xncost audit` (residual "
        "search) and docs/paper.md"
    )


# ----------------------------------------------------------------------------- Table 7

# Capsule counts with a source, per backbone: the paper's (channels / 8) and the authors'
# code's (docs/paper.md).
SOURCED_CAPS_IN: dict[str, dict[int, str]] = {
    "mobilenet": {
        160: "the paper's N (1280 channels / 8)",
        128: "the authors' code's N (a 1x1 conv 1280 -> 1024)",
    },
    "resnet": {256: "the paper's N (2048 channels / 8)"},
}
SPEEDUP_CAUSES = ("paper", "sourced", "shared", "fit", "none")


def speedup_equation(model: str) -> tuple[str, int, int]:
    """(equation, k, per_n) with Eq. 12 / 15 = x/(x/64 + k), x = per_n·N (Eq. 12: k = D,
    per_n = M·E²·D; Eq. 15: k = E, per_n = M·E²), at the model's preset M, D, E."""
    layer, preset = _layer(model)
    s = CAPS_PRESETS[preset]
    if layer == "xnodr":
        return "Eq. 12", s.D, s.M * s.E**2 * s.D
    return "Eq. 15", s.E, s.M * s.E**2


def speedup_at(model: str, n: int) -> Fraction:
    """Eq. 12 (XnODR) or Eq. 15 (XnIDR) as printed, at N = n and the preset M, D, E."""
    layer, preset = _layer(model)
    s = CAPS_PRESETS[preset]
    if layer == "xnodr":
        return Fraction(eq12_speedup(n, s.M, s.D, s.E))
    return Fraction(eq15_speedup(n, s.M, s.E))


def speedup_range(
    printed: Printed, k: int, per_n: int, word: int = 64, reading: Reading = "round"
) -> tuple[int, int | None, Fraction]:
    """Integers N (lo, hi) for which S = x/(x/64 + k), x = per_n·N, reads as the printed value
    under `reading` (empty when lo > hi; hi None when every N >= lo does, S < word always);
    and the exact N at which S equals the printed value."""
    iv = printed.interval_for(reading)

    def x_at(s: Fraction) -> Fraction:
        return s * k / (1 - s / word)

    n_lo = max(1, math.ceil(x_at(iv.lo) / per_n))
    n_hi = math.ceil(x_at(iv.hi) / per_n) - 1 if iv.hi < word else None
    return n_lo, n_hi, x_at(Fraction(printed.digits)) / per_n


@dataclass(frozen=True)
class SpeedupReading:
    """One printed Table 7 cell under one reading: the value at the paper's N read at the
    printed decimals, the integers N that give the printed figure, the sourced capsule counts
    among them, and the N that also give the same setting's other capsule layer (`partner`)."""

    reading: Reading
    shown: Fraction
    matches: bool
    n_range: tuple[int, int | None] | None
    exact_n: Fraction
    sourced: tuple[int, ...]
    partner: str
    shared: tuple[int, int | None] | None

    @property
    def cause(self) -> str:
        """`paper` (the paper's N gives it), `sourced` (another sourced capsule count does),
        `shared` (no sourced count, but one N gives this cell and its partner), `fit` (N that
        give this cell alone), `none` (no integer N)."""
        if self.matches:
            return "paper"
        if self.sourced:
            return "sourced"
        if self.shared:
            return "shared"
        return "fit" if self.n_range else "none"


NRange = tuple[int, int | None]  # lo, hi (None: unbounded)


def _n_range(printed: Printed, model: str, reading: Reading) -> tuple[NRange | None, Fraction]:
    _, k, per_n = speedup_equation(model)
    lo, hi, exact = speedup_range(printed, k, per_n, reading=reading)
    return ((lo, hi) if hi is None or lo <= hi else None), exact


def _in_range(n: int, rng: NRange | None) -> bool:
    return rng is not None and rng[0] <= n and (rng[1] is None or n <= rng[1])


def _common(a: NRange | None, b: NRange | None) -> NRange | None:
    """The integers two ranges share."""
    if a is None or b is None:
        return None
    lo = max(a[0], b[0])
    his = [h for h in (a[1], b[1]) if h is not None]
    hi = min(his) if his else None
    return (lo, hi) if hi is None or lo <= hi else None


def range_text(rng: NRange | None) -> str:
    """'N in [lo, hi]', 'N >= lo' or 'no integer N'."""
    if rng is None:
        return "no integer N"
    return f"N >= {rng[0]:,}" if rng[1] is None else f"N in [{rng[0]:,}, {rng[1]:,}]"


def _partner(model: str) -> str:
    backbone, layer = model.split("_")
    return f"{backbone}_{'xnidr' if layer == 'xnodr' else 'xnodr'}"


@cache
def speedup_readings() -> dict[tuple[str, str], dict[Reading, SpeedupReading]]:
    """(setting, model) -> reading -> the cell under that reading (Eqs. 12, 15)."""
    printed = {(c.setting, c.model): c.printed for c in load_table(7)}
    out: dict[tuple[str, str], dict[Reading, SpeedupReading]] = {}
    for (setting, model), p in printed.items():
        _, preset = _layer(model)
        paper_n = CAPS_PRESETS[preset].N
        partner = _partner(model)
        out[(setting, model)] = {}
        for r in READINGS:
            rng, exact = _n_range(p, model, r)
            other, _ = _n_range(printed[(setting, partner)], partner, r)
            shared = _common(rng, other)
            value = speedup_at(model, paper_n)
            sourced = tuple(n for n in SOURCED_CAPS_IN[preset] if _in_range(n, rng))
            out[(setting, model)][r] = SpeedupReading(
                r, p.shown(value, r), p.matches(value, r), rng, exact, sourced, partner, shared
            )
    return out


def _exact_n(x: Fraction) -> str:
    """'79.975', or '3197/120 (~26.64)' where the decimal does not end."""
    text = exact_str(x)
    return text if "/" not in text else f"{text} (~{float(x):.2f})"


def _speedup_note(model: str, printed: Printed, sr: SpeedupReading) -> str:
    eq, _, _ = speedup_equation(model)
    _, preset = _layer(model)
    paper_n = CAPS_PRESETS[preset].N
    word = READING_WORDS[sr.reading]
    head = (
        f"{eq} at the paper's N = {paper_n} gives {float(speedup_at(model, paper_n)):.4f}; "
        f"under {word} {printed.text} needs {range_text(sr.n_range)} (exact N = "
        f"{_exact_n(sr.exact_n)})"
    )
    partner = model_label(sr.partner)
    if sr.cause == "sourced":
        names = ", ".join(
            f"N = {n}, {SOURCED_CAPS_IN[preset][n]}, gives {float(speedup_at(model, n)):.4f}"
            for n in sr.sourced
        )
        return f"{head}; {names}; cause: a sourced capsule count"
    if sr.cause == "shared":
        lo = sr.shared[0]
        counts = ", ".join(map(str, SOURCED_CAPS_IN[preset]))
        return (
            f"{head}; no capsule count with a source ({counts}) does, but "
            f"{range_text(sr.shared)} also gives this setting's {partner} cell (the smallest, "
            f"N = {lo:,}, needs 8·N = {8 * lo:,} channels); cause: one N for both capsule "
            "layers, a fit, not a capsule count either network has"
        )
    return (
        f"{head}; no capsule count with a source does, and no N also gives this setting's "
        f"{partner} cell; cause: unexplained (a fit of this cell alone)"
    )


# ----------------------------------------------------------------------------- readings


def _item(pc: PaperCell, with_metric: bool = True) -> str:
    return f"{pc.setting} {model_label(pc.model)}" + (f" {pc.metric}" if with_metric else "")


@cache
def reading_verdict(number: int) -> ReadingVerdict:
    """Which reading (rounding or truncation) Table `number`'s printed figures follow, from
    the cells each reading reproduces (docs/paper.md)."""
    if number == 7:
        an = speedup_readings()
        cells = {_item(pc, False): an[(pc.setting, pc.model)] for pc in load_table(7)}
        pairs = {
            f"{pc.setting} {model_label(pc.model).split('_')[0]}": an[(pc.setting, pc.model)]
            for pc in load_table(7)
            if pc.model.endswith("xnodr")
        }
        tests = (
            reading_test(
                "cells Eq. 12 / 15 gives at the paper's N (160, 256)",
                {i: {r: a[r].matches for r in READINGS} for i, a in cells.items()},
            ),
            reading_test(
                "cells a capsule count with a source gives (MobileNetV2: the paper's 160, the "
                "authors' code's 128; ResNet-50: 256)",
                {i: {r: bool(a[r].sourced) for r in READINGS} for i, a in cells.items()},
            ),
            reading_test(
                "(setting, backbone) pairs whose XnODR and XnIDR cells one N gives",
                {i: {r: a[r].shared is not None for r in READINGS} for i, a in pairs.items()},
            ),
        )
        return ReadingVerdict("7", tests)
    values = _values(number)
    tests = [
        reading_test(
            "cells xncost's exact value gives at the paper's shapes",
            {_item(pc): {r: pc.printed.matches(v, r) for r in READINGS} for pc, v in values},
        )
    ]
    if number == 5:
        lookup = printed_lookup(5)
        ratio_cells = {}
        for pc, _ in values:
            if pc.metric != "ratio_to_fc":
                continue
            t = lookup[(pc.setting, pc.model, "total_flops")].printed
            f = lookup[(pc.setting, _fc_model(pc.model), "total_flops")].printed
            of_printed = t.value / f.value * 100
            ratio_cells[_item(pc)] = {r: pc.printed.matches(of_printed, r) for r in READINGS}
        tests.append(
            reading_test("ratio cells the ratio of the two printed totals gives", ratio_cells)
        )
    return ReadingVerdict(str(number), tuple(tests))


# ----------------------------------------------------------------------------- tables


def _status(printed: Printed | None, value: Any, reading: Reading = "round") -> str:
    if printed is None or value is None:
        return "n/a"
    return "match" if printed.matches(value, reading) else "mismatch"


def _fc_model(model: str) -> str:
    return "resnet50" if model.startswith("resnet") else "mobilenetv2"


def _ratio_note(
    cell: PaperCell, lookup: dict, fc_model: str, total: Any, fc: Any, reading: Reading
) -> str:
    """The ratio cell's note: the cause `ratio_cause` establishes, with its numbers."""
    t = lookup[(cell.setting, cell.model, "total_flops")].printed
    f = lookup[(cell.setting, fc_model, "total_flops")].printed
    why = ratio_cause(cell.printed, t, total, f, fc, reading)
    p = cell.printed.text
    note = f"exact ratio {float(why.exact):.2f}%; cause: {why.cause}"
    rounded = f"{t.text} / {f.text} = {float(why.of_printed):.4f}%"
    if why.cause == "rounding":
        return (
            f"{note}: both exact totals print as {t.text} and {f.text}, and the printed {p} is "
            f"the ratio of those rounded totals ({rounded}), which the exact ratio is not"
        )
    if why.cause == "total":
        return (
            f"{note}: xncost's total {total:,} does not print as {t.text}; totals that do give "
            f"[{float(why.from_total.lo):.4f}%, {float(why.from_total.hi):.4f}%) of the exact "
            f"FC head, which holds {p}; the gap to the exact ratio is the total's residual "
            f"(the ratio of the rounded totals, {rounded}, "
            + ("also prints so" if why.of_printed_matches else "does not print so")
            + ")"
        )
    return f"{note}: neither the exact totals nor the printed totals give {p} ({rounded})"


@cache
def _values(number: int) -> tuple[tuple[PaperCell, Any], ...]:
    """Each printed cell of Table 5 or 9 with xncost's exact value (no reading involved)."""
    out = []
    for pc in load_table(number):
        if pc.model in ("resnet50", "mobilenetv2"):
            value, _ = fc_head(pc.model, pc.setting)
        else:
            b = caps_breakdown(pc.model)
            if pc.metric == "ratio_to_fc":
                fc_total, _ = fc_head(_fc_model(pc.model), pc.setting)
                value = Fraction(b.totals["flops"]) / fc_total * 100
            else:
                value = b.totals["flops" if pc.metric == "total_flops" else pc.metric]
        out.append((pc, value))
    return tuple(out)


def _reading_note(number: int) -> str:
    """The table's reading and the evidence that decides it."""
    v = reading_verdict(number)
    counts = "; ".join(
        f"{t.what}: "
        + ", ".join(f"{READING_WORDS[r]} {t.count(r)}" for r in READINGS)
        + f" of {len(t.items)}"
        for t in v.tests
    )
    if v.reading is None:
        return f"Compared under rounding: neither reading reproduces more ({counts})"
    return f"Compared under {READING_WORDS[v.reading]}, which the table's cells follow ({counts})"


def _cell(pc: PaperCell, value: Any, status: str, note: str, reading: Reading) -> Cell:
    """A printed cell rebuilt: xncost's value, its status and note under `reading`."""
    return Cell(pc.table, pc.setting, pc.model, pc.metric, pc.printed, value, status=status,
                note=note, reading=reading)  # fmt: skip


def table5() -> Table:
    """Table 5: FLOPs of the original FC heads and of XnODR / XnIDR (Tables 2, 3, 10)."""
    lookup = printed_lookup(5)
    reading = reading_verdict(5).used
    cells = []
    for pc, value in _values(5):
        model, metric = pc.model, pc.metric
        status = _status(pc.printed, value, reading)
        note = ""
        if model in ("resnet50", "mobilenetv2"):
            _, note = fc_head(model, pc.setting)
        else:
            b = caps_breakdown(model)
            if metric == "ratio_to_fc" and status == "mismatch":
                fc_total, _ = fc_head(_fc_model(model), pc.setting)
                note = _ratio_note(pc, lookup, _fc_model(model), b.totals["flops"], fc_total,
                                   reading)  # fmt: skip
            elif metric == "total_flops" and status == "mismatch":
                note = _residual_note(model, value, pc.printed, b, reading)
        cells.append(_cell(pc, value, status, note, reading))
    return Table(5, "Table 5: FLOPs of the original FC layers and of XnODR/XnIDR", tuple(cells),
                 (_reading_note(5),))  # fmt: skip


def table7() -> Table:
    """Table 7: Speed Up (Eqs. 12 and 15 as printed) of the xnorized linear projectors."""
    reading = reading_verdict(7).used
    an = speedup_readings()
    cells = []
    for pc in load_table(7):
        b = caps_breakdown(pc.model)
        value = b.speedup.printed
        sr = an[(pc.setting, pc.model)][reading]
        status = "match" if sr.matches else "mismatch"
        note = "" if status == "match" else _speedup_note(pc.model, pc.printed, sr)
        cells.append(_cell(pc, value, status, note, reading))
    eq9 = (
        "Eq. 9 applied to the projectors themselves (dot products of D = 8 and E = 16 bits) "
        "gives 64D/(D+64) = 7.11 for XnODR and 64E/(E+64) = 12.80 for XnIDR, independent of N; "
        "packed 64-bit words bound them by 8 and 16 (see `xncost formulas`, docs/paper.md)"
    )
    return Table(7, "Table 7: Speed Up of XnODR / XnIDR", tuple(cells), (_reading_note(7), eq9))


def table9() -> Table:
    """Table 9: FLOPs of the original FC heads and of dynamic routing."""
    t5 = printed_lookup(5)
    reading = reading_verdict(9).used
    cells = []
    for pc, value in _values(9):
        note = ""
        if pc.model in ("resnet50", "mobilenetv2"):
            _, note = fc_head(pc.model, pc.setting)
        status = _status(pc.printed, value, reading)
        if status == "mismatch":
            twin = t5.get((pc.setting, pc.model, pc.metric))
            note = (
                f"{value:,} reads as {pc.printed.format(value, reading)} under "
                f"{READING_WORDS[reading]}"
                + (
                    f"; Table 5 prints {twin.printed.text} for the same head, so "
                    f"{pc.printed.text} looks like a typo"
                    if twin and twin.printed.matches(value, reading_verdict(5).used)
                    else ""
                )
                + "; "
                + note
            )
        cells.append(_cell(pc, value, status, note, reading))
    return Table(9, "Table 9: FLOPs of the original FC layers and of DR", tuple(cells),
                 (_reading_note(9),))  # fmt: skip


BUILDERS: dict[int, Callable[[], Table]] = {5: table5, 7: table7, 9: table9}


@cache
def _built(number: int) -> Table:
    return BUILDERS[number]()


def build_table(number: int, measure: Callable[[Cell], Any] | None = None) -> Table:
    """Table `number` (5, 7 or 9); `measure(cell)` fills the measured column when given."""
    if number not in BUILDERS:
        raise XncostError(f"unknown table {number} (known: {', '.join(map(str, BUILDERS))})")
    table = _built(number)
    if measure is None:
        return table
    cells = []
    for c in table.cells:
        m = measure(c)
        cell = replace(c, measured=m)
        if m is not None and Fraction(m) != Fraction(c.xncost):
            flag = f"MEASURED {value_text(c.metric, m)} != xncost {c.xncost_text}"
            cell = replace(cell, note=f"{flag}; {c.note}" if c.note else flag)
        cells.append(cell)
    return replace(table, cells=tuple(cells))


def model_label(model: str) -> str:
    return MODEL_LABELS.get(model, model)
