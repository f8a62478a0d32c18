"""The one store of printed numbers: `reference/` (reference/README.md), read here only.

- `table{4,5,7,8,9}.csv`: the paper's tables, one row per printed cell (`load_table`);
- `figures.csv`: every other figure the paper's text, its authors' README and code, and the
  sources xncost compares with print, one row each with its source (`sourced`, `figure`);
- `published_bnn.json`: the BNN papers' tables (`load_published`).

Every source is an id of docs/attributions.md. Computed values never go here. Each file is
checked on load (a malformed one raises `XncostError`, naming the file).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from xncost.errors import XncostError
from xncost.paper.printed import Printed, parse_printed

TABLE_COLUMNS = ("table", "setting", "model", "metric", "paper_text", "paper", "source")
FIGURE_COLUMNS = ("key", "source", "where", "paper_text", "quote")
BNN_FILE = "published_bnn.json"


def reference_dir() -> Path:
    """The store: $XNCOST_REFERENCE, else `reference/` of the source tree (editable installs),
    else `<prefix>/share/xncost/reference` (where a wheel installs it)."""
    env = os.environ.get("XNCOST_REFERENCE")
    if env:
        return Path(env)
    source = Path(__file__).resolve().parents[2] / "reference"
    if source.is_dir():
        return source
    return Path(sys.prefix) / "share" / "xncost" / "reference"


MAX_FILE_BYTES = 1 << 20  # a file of the store: a few kB ($XNCOST_REFERENCE may be anything)


def _read_text(path: Path) -> str:
    """The UTF-8 text of a file of the store, read only up to MAX_FILE_BYTES."""
    with open(path, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise XncostError(f"{path}: more than {MAX_FILE_BYTES:,} bytes, not a file of the store")
    return data.decode("utf-8")


def _rows(name: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of `reference/NAME`, every one holding `columns`; at least one."""
    path = reference_dir() / name
    try:
        rows = list(csv.DictReader(io.StringIO(_read_text(path), newline="")))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise XncostError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    if not rows:
        raise XncostError(f"{path}: no rows")
    for i, r in enumerate(rows, start=2):
        missing = [c for c in columns if r.get(c) is None]
        if missing:
            raise XncostError(f"{path}:{i}: missing column {missing[0]!r}")
    return rows


# ----------------------------------------------------------------------------- the tables


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
    """Read `reference/table{number}.csv`; each `paper` must be the value of its `paper_text`."""
    name = f"table{number}.csv"
    cells = []
    for i, r in enumerate(_rows(name, TABLE_COLUMNS), start=2):
        printed = parse_printed(r["paper_text"])
        if r["paper"] != printed.value_text:
            raise XncostError(
                f"{reference_dir() / name}:{i}: paper={r['paper']!r} is not the value of "
                f"{r['paper_text']!r} ({printed.value_text})"
            )
        cells.append(
            PaperCell(r["table"], r["setting"], r["model"], r["metric"], printed, r["source"])
        )
    return tuple(cells)


def printed_lookup(number: int | str) -> dict[tuple[str, str, str], PaperCell]:
    """(setting, model, metric) -> printed cell of one table."""
    return {(c.setting, c.model, c.metric): c for c in load_table(number)}


# ----------------------------------------------------------------------------- other figures


@dataclass(frozen=True)
class SourcedFigure:
    """A figure printed outside the paper's tables: where, its source, the words around it."""

    key: str
    source: str
    where: str
    printed: Printed
    quote: str


@cache
def load_figures() -> dict[str, SourcedFigure]:
    """`reference/figures.csv` by key (keys unique)."""
    out: dict[str, SourcedFigure] = {}
    for r in _rows("figures.csv", FIGURE_COLUMNS):
        if r["key"] in out:
            raise XncostError(f"{reference_dir() / 'figures.csv'}: key {r['key']!r} twice")
        out[r["key"]] = SourcedFigure(
            r["key"], r["source"], r["where"], parse_printed(r["paper_text"]), r["quote"]
        )
    return out


def sourced(key: str) -> SourcedFigure:
    """The figure stored under `key` in `reference/figures.csv`."""
    figures = load_figures()
    if key not in figures:
        raise XncostError(f"no figure {key!r} in {reference_dir() / 'figures.csv'}")
    return figures[key]


def figure(key: str) -> Printed:
    """The printed figure stored under `key` (`sourced(key).printed`)."""
    return sourced(key).printed


# ----------------------------------------------------------------------------- BNN papers

BNN_META = ("model", "source", "row", "checked")


@dataclass(frozen=True)
class PrintedRow:
    """One printed row of a BNN paper's table: the network, its figures by quantity, and the
    quantities compared with a second copy (`checked`)."""

    model: str
    source: str
    row: str
    figures: dict[str, Printed]
    checked: tuple[str, ...]


def _bnn_figure(text: Any, where: str) -> Printed:
    p = parse_printed(str(text)) if isinstance(text, str) else None
    if p is None or p.unit or p.text != str(text).strip() or " " in p.text:
        raise XncostError(f"{where}: not a decimal figure: {text!r}")
    return p


@cache
def load_published(
    path: Path | None = None,
) -> tuple[dict[str, dict[str, str]], tuple[PrintedRow, ...], tuple[PrintedRow, ...]]:
    """(sources, figure rows, float-counterpart rows) of `reference/published_bnn.json` (or
    `path`); malformed: XncostError."""
    path = path or reference_dir() / BNN_FILE
    try:
        data = json.loads(_read_text(path))
        sources = data["sources"]
        groups = []
        for group in ("figures", "float_counterparts"):
            rows = []
            for i, rec in enumerate(data[group]):
                where = f"{path.name} {group}[{i}]"
                if rec["source"] not in sources:
                    raise XncostError(f"{where}: unknown source {rec['source']!r}")
                figs = {k: _bnn_figure(v, where) for k, v in rec.items() if k not in BNN_META}
                rows.append(
                    PrintedRow(rec["model"], rec["source"], rec["row"], figs, tuple(rec["checked"]))
                )
            groups.append(tuple(rows))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise XncostError(f"cannot read {path}: {e}") from None
    return sources, groups[0], groups[1]
