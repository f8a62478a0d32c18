"""The paper's printed numbers (`reference/tableN.csv`) and how to compare with them.

A printed figure such as "68.17M", "740.16K", "15,360", "5.22%" or "63.99" is parsed into an
exact value, a unit scale and its number of decimals. xncost's value *matches* a printed one
when it rounds (half up) to the printed digits at the printed precision.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

from xncost.errors import XncostError

SCALES = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9}


@dataclass(frozen=True)
class Interval:
    """An interval of exact values, each end open or closed (a printed figure, or sums and
    differences of printed figures and exact values)."""

    lo: Fraction
    hi: Fraction
    lo_closed: bool = True
    hi_closed: bool = False

    @classmethod
    def point(cls, x: Any) -> Interval:
        return cls(Fraction(x), Fraction(x), True, True)

    def __add__(self, other: Interval | Any) -> Interval:
        o = other if isinstance(other, Interval) else Interval.point(other)
        return Interval(
            self.lo + o.lo,
            self.hi + o.hi,
            self.lo_closed and o.lo_closed,
            self.hi_closed and o.hi_closed,
        )

    def __neg__(self) -> Interval:
        return Interval(-self.hi, -self.lo, self.hi_closed, self.lo_closed)

    def __sub__(self, other: Interval | Any) -> Interval:
        o = other if isinstance(other, Interval) else Interval.point(other)
        return self + (-o)

    def scaled(self, k: Any) -> Interval:
        """self * k for k > 0."""
        k = Fraction(k)
        return Interval(self.lo * k, self.hi * k, self.lo_closed, self.hi_closed)

    def __contains__(self, x: Any) -> bool:
        x = Fraction(x)
        above = x > self.lo or (self.lo_closed and x == self.lo)
        below = x < self.hi or (self.hi_closed and x == self.hi)
        return above and below

    def intersect(self, other: Interval) -> Interval | None:
        """The common part, or None when there is none."""
        lo, lo_closed = max((self.lo, not self.lo_closed), (other.lo, not other.lo_closed))
        hi, hi_closed = min((self.hi, self.hi_closed), (other.hi, other.hi_closed))
        lo_closed = not lo_closed
        if lo > hi or (lo == hi and not (lo_closed and hi_closed)):
            return None
        return Interval(lo, hi, lo_closed, hi_closed)

    def overlaps(self, other: Interval) -> bool:
        return self.intersect(other) is not None


@dataclass(frozen=True)
class Printed:
    """A number as printed in the paper."""

    text: str
    digits: Decimal
    scale: int
    percent: bool

    @property
    def decimals(self) -> int:
        return max(0, -self.digits.as_tuple().exponent)

    @property
    def value(self) -> Fraction:
        """Exact value in base units (a percentage stays in percent)."""
        return Fraction(self.digits) * self.scale

    @property
    def value_text(self) -> str:
        """The exact value as a plain decimal: '68170000', '135.98', '740160'."""
        return format((self.digits * self.scale).normalize(), "f")

    def shown(self, x: Any) -> Fraction:
        """x expressed in the printed unit, rounded half up to the printed decimals."""
        q = Fraction(x) / self.scale * 10**self.decimals
        rounded = (q.numerator * 2 + q.denominator) // (2 * q.denominator)
        return Fraction(rounded, 10**self.decimals)

    def matches(self, x: Any) -> bool:
        return self.shown(x) == Fraction(self.digits)

    @property
    def interval(self) -> Interval:
        """The exact values that print as this figure: [p - u/2, p + u/2), u the last unit."""
        half = Fraction(self.scale, 2 * 10**self.decimals)
        return Interval(self.value - half, self.value + half)

    def format(self, x: Any) -> str:
        """x in the printed style: same unit, same decimals, thousands separators if printed."""
        shown = self.shown(x)
        text = (
            f"{float(shown):,.{self.decimals}f}"
            if "," in self.text
            else (f"{float(shown):.{self.decimals}f}")
        )
        suffix = next((k for k, v in SCALES.items() if v == self.scale and k), "")
        return text + suffix + ("%" if self.percent else "")


def parse_printed(text: str) -> Printed:
    """Parse '68.17M', '740.16K', '15,360', '135.98%', '3.93B', '63.99'."""
    t = text.strip()
    percent = t.endswith("%")
    if percent:
        t = t[:-1]
    scale = 1
    if t and t[-1] in SCALES and t[-1]:
        scale = SCALES[t[-1]]
        t = t[:-1]
    try:
        digits = Decimal(t.replace(",", ""))
    except ArithmeticError:
        raise XncostError(f"cannot parse printed number {text!r}") from None
    if not digits.is_finite():
        raise XncostError(f"cannot parse printed number {text!r}")
    return Printed(text.strip(), digits, scale, percent)


def reference_dir() -> Path:
    """The transcribed tables: $XNCOST_REFERENCE, else `reference/` of the source tree (editable
    installs), else `<prefix>/share/xncost/reference` (where a wheel installs them)."""
    env = os.environ.get("XNCOST_REFERENCE")
    if env:
        return Path(env)
    source = Path(__file__).resolve().parent.parent / "reference"
    if source.is_dir():
        return source
    return Path(sys.prefix) / "share" / "xncost" / "reference"


@dataclass(frozen=True)
class PaperCell:
    """One transcribed cell: which table, setting, model and metric, and the printed text."""

    table: str
    setting: str
    model: str
    metric: str
    printed: Printed
    source: str


MAX_TABLE_BYTES = 1 << 20  # a transcribed table: a few kB
TABLE_COLUMNS = ("table", "setting", "model", "metric", "paper", "paper_text", "source")


@cache
def load_table(number: int | str) -> tuple[PaperCell, ...]:
    """Read `reference/table{number}.csv` ($XNCOST_REFERENCE may point elsewhere: whatever
    it holds is one clear error if it is not such a table)."""
    path = reference_dir() / f"table{number}.csv"
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TABLE_BYTES + 1)
    except OSError as e:
        raise XncostError(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > MAX_TABLE_BYTES:
        raise XncostError(f"{path}: more than {MAX_TABLE_BYTES:,} bytes, not a transcribed table")
    try:
        text = data.decode("utf-8")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except (UnicodeDecodeError, csv.Error) as e:
        raise XncostError(f"{path}: not a transcribed table ({e})") from None
    cells = []
    for i, r in enumerate(rows, start=2):
        missing = [c for c in TABLE_COLUMNS if not isinstance(r.get(c), str)]
        if missing:
            raise XncostError(f"{path}:{i}: missing column {missing[0]!r}")
        printed = parse_printed(r["paper_text"])
        if r["paper"] != printed.value_text:
            raise XncostError(
                f"{path}:{i}: paper={r['paper']!r} is not the value of "
                f"{r['paper_text']!r} ({printed.value_text})"
            )
        cells.append(
            PaperCell(r["table"], r["setting"], r["model"], r["metric"], printed, r["source"])
        )
    if not cells:
        raise XncostError(f"{path}: no rows, not a transcribed table")
    return tuple(cells)


def printed_lookup(number: int | str) -> dict[tuple[str, str, str], PaperCell]:
    """(setting, model, metric) -> printed cell of one table."""
    return {(c.setting, c.model, c.metric): c for c in load_table(number)}


MODEL_LABELS = {
    "resnet50": "ResNet-50",
    "resnet_xnodr": "ResNet_XnODR",
    "resnet_xnidr": "ResNet_XnIDR",
    "resnet_dr": "ResNet_DR",
    "mobilenetv2": "MobileNet V2",
    "mobilenet_xnodr": "MobileNet_XnODR",
    "mobilenet_xnidr": "MobileNet_XnIDR",
    "mobilenet_dr": "MobileNet_DR",
}

METRIC_LABELS = {
    "total_flops": "Total",
    "binarization_flops": "Binarization",
    "xnor_bops": "XNOR BOPs",
    "xnor_flops": "XNOR FLOPs",
    "ratio_to_fc": "Ratio to original FC",
    "speedup": "Speed Up",
    "accuracy": "Accuracy",
    "params": "PARA",
}


@dataclass(frozen=True)
class RatioCause:
    """Why a printed ratio (percent) of two printed totals differs from the exact ratio.

    `cause` is what the numbers prove: `exact` (no difference), `rounding` (both exact totals
    print as the paper's totals, the ratio of the printed totals reproduces the printed ratio
    and the exact ratio does not), `total` (the numerator's exact value does not print as the
    paper's total, and a numerator inside the printed total's interval reproduces the printed
    ratio: the gap is the total's own residual) or `unexplained`.
    """

    cause: str
    exact: Fraction
    of_printed: Fraction
    of_printed_matches: bool
    from_total: Interval


def ratio_cause(
    ratio: Printed, total: Printed, total_exact: Any, fc: Printed, fc_exact: Any
) -> RatioCause:
    """The cause the numbers establish for a printed `ratio` = total / fc (in percent)."""
    exact = Fraction(total_exact) / Fraction(fc_exact) * 100
    of_printed = total.value / fc.value * 100
    from_total = total.interval.scaled(Fraction(100) / Fraction(fc_exact))
    of_printed_matches = ratio.matches(of_printed)
    if ratio.matches(exact):
        cause = "exact"
    elif total.matches(total_exact) and fc.matches(fc_exact) and of_printed_matches:
        cause = "rounding"
    elif not total.matches(total_exact) and from_total.overlaps(ratio.interval):
        cause = "total"
    else:
        cause = "unexplained"
    return RatioCause(cause, exact, of_printed, of_printed_matches, from_total)
