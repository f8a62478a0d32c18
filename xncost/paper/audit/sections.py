"""Pieces the audit's sections share: a section's lines and findings, the rows of its cell
and inverse tables (written by `xncost.report.to_markdown.pipe_table`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from xncost.paper.audit.inverse import Inverse
from xncost.paper.audit.numbers import exact_text
from xncost.paper.cells import Cell, Table, value_text
from xncost.paper.labels import model_label as label


@dataclass
class Section:
    lines: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)


def join(items: list[str]) -> str:
    return ", ".join(items) if items else "none"


# ----------------------------------------------------------------------------- shared tables

INVERSE_HEADER = ["symbol", "paper's value", "exact solution", "integers that print so",
                  "paper's value prints so"]  # fmt: skip
CELL_HEADER = ["setting", "model", "metric", "printed", "xncost (printed style)", "xncost exact",
               "status"]  # fmt: skip


def inverse_rows(invs: list[Inverse] | tuple[Inverse, ...]) -> list[list[str]]:
    rows = []
    for inv in invs:
        roots = ", ".join(exact_text(r) for r in inv.roots) or "-"
        rows.append(
            [
                inv.symbol,
                f"{inv.paper_value:,}",
                inv.note or roots,
                "-" if inv.note else inv.integers,
                "-" if inv.note else ("yes" if inv.explains(inv.paper_value) else "no"),
            ]
        )
    return rows


def cell_rows(table: Table) -> list[list[str]]:
    return [
        [
            c.setting,
            label(c.model),
            c.metric,
            c.paper.text if c.paper else "",
            c.shown,
            value_text(c.metric, c.xncost),
            c.status,
        ]  # fmt: skip
        for c in table.cells
    ]


def counts(table: Table) -> str:
    n = table.counts()
    return f"{len(table.cells)} cells: {n['match']} match, {n['mismatch']} mismatch"


def all_match_sentence(table: Table) -> str:
    """Which (model kind, metric) groups match in every cell, from the statuses."""
    groups: dict[str, list[Cell]] = {}
    for c in table.cells:
        kind = c.model.split("_")[1] if "_" in c.model else "FC head"
        groups.setdefault(f"{kind} {c.metric}", []).append(c)
    ok = sorted(k for k, cs in groups.items() if all(c.status == "match" for c in cs))
    return "Groups matching in every setting: " + join(ok) + "."
