"""Tables 5, 7 and 9 rebuilt from the formulas, beside the printed values.

Every cell carries the paper's printed text, xncost's exact value, the measured value (filled
by `--measure`), a status (`match`, `mismatch`, `n/a`) and a note. A mismatch's note names the
cause the numbers establish (docs/paper.md); matching cells state their caveats.
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
from xncost.paper import (
    MODEL_LABELS,
    PaperCell,
    Printed,
    load_table,
    printed_lookup,
    ratio_cause,
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

    @property
    def xncost_text(self) -> str:
        return value_text(self.metric, self.xncost)

    @property
    def shown(self) -> str:
        """xncost's value in the paper's style (unit and precision)."""
        if self.paper is None:
            return self.xncost_text
        return self.paper.format(self.xncost)

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


def residual_interval(value: Any, printed: Printed, pairs: int) -> tuple[Fraction, Fraction]:
    """[lo, hi) of (printed total - xncost total) per capsule pair, given the print rounding."""
    per_pair = (printed.interval - Fraction(value)).scaled(Fraction(1, pairs))
    return per_pair.lo, per_pair.hi


def _xnidr_residuals() -> dict[str, tuple[Fraction, Fraction]]:
    """Per-pair residual intervals of the printed XnIDR totals, per capsule preset."""
    out = {}
    for pc in load_table(5):
        if pc.model.endswith("xnidr") and pc.metric == "total_flops":
            b = caps_breakdown(pc.model)
            pairs = b.shape.N * b.shape.M * b.shape.B
            out[pc.model] = residual_interval(b.totals["flops"], pc.printed, pairs)
    return out


def _residual_note(model: str, value: Any, printed: Printed, b: Breakdown) -> str:
    pairs = b.shape.N * b.shape.M * b.shape.B
    res = printed.value - Fraction(value)
    intervals = _xnidr_residuals()
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
        f"{float(here[1]):.1f}) per capsule pair given the print rounding; {both} (per pair: "
        f"{per_step}); cause: unexplained, see `xncost audit` (residual search) and "
        "docs/paper.md"
    )


def speedup_range(
    printed: Printed, k: int, per_n: int, word: int = 64
) -> tuple[int, int, Fraction]:
    """Integer N for which S = x/(x/64 + k), x = per_n·N, rounds to the printed value; and the
    exact N that gives the printed value (Eq. 12 with k = D, per_n = M·E²·D; Eq. 15 with k = E,
    per_n = M·E²)."""
    step = Fraction(1, 10**printed.decimals)
    lo, hi = Fraction(printed.digits) - step / 2, Fraction(printed.digits) + step / 2

    def x_at(s: Fraction) -> Fraction:
        return s * k / (1 - s / word)

    n_lo = math.ceil(x_at(lo) / per_n)
    n_hi = math.ceil(x_at(hi) / per_n) - 1
    return n_lo, n_hi, x_at(Fraction(printed.digits)) / per_n


KNOWN_CAPS_IN = {
    128: "the authors' code's MobileNet head",
    160: "MobileNetV2's 1280 channels / 8",
    256: "ResNet-50's 2048 channels / 8",
}


def _speedup_note(model: str, printed: Printed, b: Breakdown) -> str:
    s = b.shape
    if b.layer == "xnodr":
        eq, k, per_n = "Eq. 12", s.D, s.M * s.E**2 * s.D
    else:
        eq, k, per_n = "Eq. 15", s.E, s.M * s.E**2
    n_lo, n_hi, exact_n = speedup_range(printed, k, per_n)
    where = f"N in [{n_lo}, {n_hi}]" if n_lo <= n_hi else "no integer N"
    known = [f"{n} ({why})" for n, why in KNOWN_CAPS_IN.items() if n_lo <= n <= n_hi]
    if known:
        hint = f"; includes {', '.join(known)}"
    else:
        near = round(exact_n)
        hint = (
            f"; none is a capsule count of either network (128, 160, 256): the integer nearest "
            f"the exact solve, N = {near} (8·N = {8 * near:,} channels), is a fit, not a shape"
        )
    return (
        f"{eq} gives {printed.text} for {where} (exact solve N = {float(exact_n):.1f}){hint}; "
        f"the paper's N={s.N} gives {float(b.speedup.printed):.4f}"
    )


# ----------------------------------------------------------------------------- tables


def _status(printed: Printed | None, value: Any) -> str:
    if printed is None or value is None:
        return "n/a"
    return "match" if printed.matches(value) else "mismatch"


def _ratio_note(cell: PaperCell, lookup: dict, fc_model: str, total: Any, fc: Any) -> str:
    """The ratio cell's note: the cause `ratio_cause` establishes, with its numbers."""
    t = lookup[(cell.setting, cell.model, "total_flops")].printed
    f = lookup[(cell.setting, fc_model, "total_flops")].printed
    why = ratio_cause(cell.printed, t, total, f, fc)
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


def table5() -> Table:
    """Table 5: FLOPs of the original FC heads and of XnODR / XnIDR (Tables 2, 3, 10)."""
    lookup = printed_lookup(5)
    cells = []
    for pc in load_table(5):
        model, metric = pc.model, pc.metric
        note = ""
        if model in ("resnet50", "mobilenetv2"):
            value, note = fc_head(model, pc.setting)
        else:
            b = caps_breakdown(model)
            fc_model = "resnet50" if model.startswith("resnet") else "mobilenetv2"
            if metric == "ratio_to_fc":
                fc_total, _ = fc_head(fc_model, pc.setting)
                value = Fraction(b.totals["flops"]) / fc_total * 100
                if not pc.printed.matches(value):
                    note = _ratio_note(pc, lookup, fc_model, b.totals["flops"], fc_total)
            else:
                value = b.totals["flops" if metric == "total_flops" else metric]
                if metric == "total_flops" and not pc.printed.matches(value):
                    note = _residual_note(model, value, pc.printed, b)
        cells.append(
            Cell(
                "5",
                pc.setting,
                model,
                metric,
                pc.printed,
                value,
                status=_status(pc.printed, value),
                note=note,
            )
        )
    return Table(5, "Table 5: FLOPs of the original FC layers and of XnODR/XnIDR", tuple(cells))


def table7() -> Table:
    """Table 7: Speed Up (Eqs. 12 and 15 as printed) of the xnorized linear projectors."""
    cells = []
    for pc in load_table(7):
        b = caps_breakdown(pc.model)
        value = b.speedup.printed
        status = _status(pc.printed, value)
        note = "" if status == "match" else _speedup_note(pc.model, pc.printed, b)
        cells.append(
            Cell("7", pc.setting, pc.model, pc.metric, pc.printed, value, status=status, note=note)
        )
    eq9 = (
        "Eq. 9 applied to the projectors themselves (dot products of D = 8 and E = 16 bits) "
        "gives 64D/(D+64) = 7.11 for XnODR and 64E/(E+64) = 12.80 for XnIDR, independent of N; "
        "packed 64-bit words bound them by 8 and 16 (see `xncost formulas`, docs/paper.md)"
    )
    return Table(7, "Table 7: Speed Up of XnODR / XnIDR", tuple(cells), (eq9,))


def table9() -> Table:
    """Table 9: FLOPs of the original FC heads and of dynamic routing."""
    t5 = printed_lookup(5)
    cells = []
    for pc in load_table(9):
        note = ""
        if pc.model in ("resnet50", "mobilenetv2"):
            value, note = fc_head(pc.model, pc.setting)
        else:
            value = caps_breakdown(pc.model).totals["flops"]
        status = _status(pc.printed, value)
        if status == "mismatch":
            twin = t5.get((pc.setting, pc.model, pc.metric))
            note = (
                f"{value:,} rounds to {pc.printed.format(value)}"
                + (
                    f"; Table 5 prints {twin.printed.text} for the same head, so "
                    f"{pc.printed.text} looks like a typo"
                    if twin and twin.printed.matches(value)
                    else ""
                )
                + "; "
                + note
            )
        cells.append(
            Cell("9", pc.setting, pc.model, pc.metric, pc.printed, value, status=status, note=note)
        )
    return Table(9, "Table 9: FLOPs of the original FC layers and of DR", tuple(cells))


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
