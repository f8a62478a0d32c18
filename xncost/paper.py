"""The paper's printed numbers (`reference/tableN.csv`) and how to compare with them.

A printed figure such as "68.17M", "740.16K", "15,360", "5.22%" or "63.99" is parsed into an
exact value, a unit scale and its number of decimals. xncost's value *matches* a printed one
when it rounds (half up) to the printed digits at the printed precision.
"""

from __future__ import annotations

import csv
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


@cache
def load_table(number: int | str) -> tuple[PaperCell, ...]:
    """Read `reference/table{number}.csv`."""
    path = reference_dir() / f"table{number}.csv"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise XncostError(f"cannot read {path}: {e.strerror}") from None
    cells = []
    for i, r in enumerate(rows, start=2):
        try:
            printed = parse_printed(r["paper_text"])
            if r["paper"] != printed.value_text:
                raise XncostError(
                    f"{path}:{i}: paper={r['paper']!r} is not the value of "
                    f"{r['paper_text']!r} ({printed.value_text})"
                )
            cells.append(PaperCell(r["table"], r["setting"], r["model"], r["metric"], printed,
                                   r["source"]))
        except KeyError as e:
            raise XncostError(f"{path}: missing column {e}") from None
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
