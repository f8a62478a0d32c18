"""A rebuilt paper table: its cells (one CSV row each), each beside the printed figure.

Every cell carries the paper's printed figure, xncost's exact value, the measured value (filled
by `--measure`, or the count itself for Tables 4 and 8), a status (`match`, `mismatch`, `n/a`)
and a note. Built by `xncost.paper.tables` (5, 7, 9) and `xncost.paper.wholemodel` (4, 8);
rendered by `xncost.paper.views`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from xncost.exact import exact_str
from xncost.paper.printed import Printed, Reading

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
