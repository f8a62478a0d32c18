"""The rebuilt paper tables (5, 7, 9 and 4, 8) as reports: one layout per table, written by
the report writers (`xncost.report`) in markdown, CSV, exact JSON and the terminal.

A table is laid out as the paper prints it: rows under groups (Tables 5, 7, 9: a setting per
group; Tables 4, 8: with and without upsampling) and columns (Tables 4, 8: grouped by data set);
each cell is xncost's value in the paper's style, the paper's beside it where they differ.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from xncost.core.shapes import SETTINGS
from xncost.paper.cells import COUNT_METRICS, CSV_COLUMNS, Cell, Table
from xncost.paper.labels import METRIC_LABELS, MODEL_LABELS
from xncost.paper.wholemodel import (
    ACCURACY_NOTE,
    CONVENTION_LABELS,
    DATASET_LABELS,
    DATASETS,
    FLOP_CONVENTIONS,
    METRIC_HEADS,
    METRICS,
    TOP,
    WholeTable,
    convention_rows,
    relative,
    setting_input,
)
from xncost.report import to_rich
from xncost.report.model import (
    Column,
    Entry,
    Heading,
    Notes,
    Paragraph,
    Report,
    Row,
    TableBlock,
    cells,
)
from xncost.report.to_csv import to_csv
from xncost.report.to_json import dumps
from xncost.report.to_markdown import to_markdown

MEASURED_DIFFERS = "MEASURED-DIFFERS"


def entry(c: Cell) -> Entry:
    """A rebuilt cell as a report entry: xncost's value in the paper's style ('n/a' when it
    has none), the printed figure, the status, the note, a flag when the measured value
    differs from xncost's."""
    differs = c.measured is not None and Fraction(c.measured) != Fraction(c.xncost)
    return Entry(
        "n/a" if c.xncost is None else c.shown,
        None if c.paper is None else c.paper.text,
        c.status,
        c.note,
        MEASURED_DIFFERS if differs else "",
    )


def footnotes(table: Table, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The cells' notes in cell order (each once), but those in `skip`."""
    return tuple(dict.fromkeys(c.note for c in table.cells if c.note and c.note not in skip))


def counts_text(table: Table) -> str:
    n = table.counts()
    return f"{n['match']} match, {n['mismatch']} mismatch, {n['n/a']} n/a"


def long_block(table: Table) -> TableBlock:
    """One row per cell, the columns of CSV_COLUMNS (the long CSV format)."""
    rows = [list(c.row().values()) for c in table.cells]
    return TableBlock(
        tuple(Column(h) for h in CSV_COLUMNS[1:]),
        tuple(Row(r[0], cells(*r[1:])) for r in rows),
        label_head=CSV_COLUMNS[0],
    )


def table_csv(table: Table) -> str:
    """Long format, one row per cell (the columns the README lists)."""
    return to_csv(long_block(table))


# ----------------------------------------------------------------------------- Tables 5, 7, 9


def _place(number: int, c: Cell) -> tuple[str, str, str]:
    """(group, row, column) of a cell in the paper's layout of Table `number`."""
    if number == 5:
        return SETTINGS[c.setting].label, METRIC_LABELS[c.metric], MODEL_LABELS[c.model]
    up, ds = c.setting.split("-", 1)
    group = "With upsampling" if up == "up" else "Without upsampling"
    if number == 7:
        return group, MODEL_LABELS[c.model], DATASET_LABELS[ds]
    names = {"mnist-cifar10": "MNIST and CIFAR-10", "multimnist": "MultiMNIST"}
    return group, names[ds], MODEL_LABELS[c.model]


def summary_text(table: Table) -> str:
    """'N match, N mismatch, N n/a', and how many measured cells equal xncost's value."""
    text = counts_text(table)
    measured = [c for c in table.cells if c.measured is not None]
    if measured:
        agree = sum(Fraction(c.measured) == Fraction(c.xncost) for c in measured)
        text += f"; measured {len(measured)} cells, {agree} equal to xncost"
    return text


def layer_block(table: Table) -> TableBlock:
    """Table 5, 7 or 9 in the paper's layout."""
    places = {id(c): _place(table.number, c) for c in table.cells}
    cols = list(dict.fromkeys(k for _, _, k in places.values()))
    keys = list(dict.fromkeys((g, r) for g, r, _ in places.values()))
    grid = {places[id(c)]: entry(c) for c in table.cells}
    rows = tuple(Row(r, tuple(grid.get((g, r, k), Entry("")) for k in cols), g) for g, r in keys)
    n = table.number
    return TableBlock(
        tuple(Column(k) for k in cols),
        rows,
        label_head="Details" if n == 5 else ("Models" if n == 7 else "Datasets"),
        group_head="Setting" if n == 7 else "Datasets",
        footnotes=footnotes(table),
        title=table.title,
        caption=summary_text(table),
    )


def layer_report(table: Table) -> Report:
    block = layer_block(table)
    blocks: list[Any] = [
        Paragraph(
            "Values are xncost's (its formulas, `paper` convention) in the paper's units; where "
            f"the paper prints another value it follows in parentheses. {block.caption}."
        ),
        block,
    ]
    if block.footnotes or table.notes:
        blocks.append(Notes(block.footnotes, table.notes))
    return Report(table.title, tuple(blocks))


def table_markdown(table: Table) -> str:
    """The paper's layout; each cell is xncost's value, the paper's beside it where they differ."""
    return to_markdown(layer_report(table))


def _cell_json(c: Cell) -> dict[str, Any]:
    """A cell with exact numbers: counts as JSON integers, ratios as exact decimals or "p/q"
    strings (see `xncost.report.to_json`), no value -> null."""
    row: dict[str, Any] = dict(c.row())
    row["table"] = int(c.table)
    row["paper"] = None if c.paper is None else Fraction(c.paper.value)
    row["xncost"] = c.xncost if c.metric in COUNT_METRICS else Fraction(c.xncost)
    row["measured"] = c.measured
    return row


def table_json(table: Table) -> str:
    return dumps(
        {
            "table": table.number,
            "title": table.title,
            "summary": table.counts(),
            "cells": [_cell_json(c) for c in table.cells],
            "notes": list(table.notes),
        }
    )


def table_rich(table: Table, width: int | None = None) -> Any:
    """The paper's layout in the terminal, within `width` (see `xncost.report.to_rich`)."""
    return to_rich.table_rich(layer_block(table), table.notes, width)


# ----------------------------------------------------------------------------- Tables 4, 8


def _row_label(model: str, up: bool) -> str:
    return f"{MODEL_LABELS[model]} ({'with' if up else 'without'} upsampling)"


def whole_block(wt: WholeTable) -> TableBlock:
    """Table 4 or 8 in the paper's layout: a row per model and input, a column per data set
    and metric (Top1 or Top2, FLOPs, PARA)."""
    grid: dict[tuple[str, bool, str, str], Cell] = {}
    for c in wt.table.cells:
        up, _, ds = c.setting.partition("-")
        grid[(c.model, up == "up", ds, c.metric)] = c
    keys = list(dict.fromkeys((m, up) for m, up, _, _ in grid))
    cols = [(ds, m) for ds in DATASETS for m in METRICS]
    rows = tuple(
        Row(
            _row_label(model, up),
            tuple(
                entry(grid[k]) if k in grid else Entry("")
                for k in ((model, up, ds, m) for ds, m in cols)
            ),  # fmt: skip
            "With upsampling" if up else "Without upsampling",
        )
        for model, up in keys
    )
    columns = tuple(
        Column(TOP[ds] if m == "accuracy" else METRIC_HEADS[m], "right", DATASET_LABELS[ds])
        for ds, m in cols
    )
    return TableBlock(
        columns,
        rows,
        label_head="Models",
        footnotes=footnotes(wt.table, (ACCURACY_NOTE,)),
        title=wt.table.title,
        caption=counts_text(wt.table),
    )


def conventions_block(wt: WholeTable) -> TableBlock:
    """The FLOPs of every convention beside each printed figure."""
    rows = []
    for r in convention_rows(wt):
        p = next(
            c.paper
            for c in wt.table.cells
            if c.model == r["model"]
            and c.metric == "total_flops"
            and setting_input(c.setting) == (r["upsampling"], r["input"])
        )
        values = [
            f"{float(r[k]):,.0f} ({'=' if p.matches(r[k]) else f'{relative(r[k], p):+.2f}%'})"
            for k in FLOP_CONVENTIONS
        ]
        label = _row_label(r["model"], r["upsampling"])
        rows.append(Row(label, cells(f"{r['input']}x{r['input']}", r["paper_text"], *values)))
    columns = (Column("input"), Column("paper", "right"))
    columns += tuple(Column(k, "right") for k in FLOP_CONVENTIONS)
    return TableBlock(columns, tuple(rows), label_head="Model")


def whole_report(wt: WholeTable) -> Report:
    """The paper's layout (rows: models, columns: data set x Top1/FLOPs/PARA), then the FLOPs
    of every convention beside the printed figures."""
    block = whole_block(wt)
    return Report(
        wt.table.title,
        (
            Paragraph(
                "Values are xncost's, measured on the registry's models (FLOPs: `ops` "
                "convention; PARA: trainable parameters) in the paper's units; where the paper "
                f"prints another value it follows in parentheses. {block.caption}."
            ),
            block,
            Notes(block.footnotes, wt.table.notes),
            Heading("FLOPs by convention"),
            Paragraph(
                "Each convention prices the same forward pass; percentages are relative to the "
                "printed figure, `=` marks a value that rounds to it."
            ),
            conventions_block(wt),
            Paragraph("\n".join(f"- {CONVENTION_LABELS[k]}" for k in FLOP_CONVENTIONS)),
        ),
    )


def whole_table_markdown(wt: WholeTable) -> str:
    return to_markdown(whole_report(wt))


def whole_table_json(wt: WholeTable) -> str:
    return dumps(
        {
            "table": wt.number,
            "title": wt.table.title,
            "summary": wt.table.counts(),
            "cells": [c.row() for c in wt.table.cells],
            "notes": list(wt.table.notes),
            "convention_matches": wt.convention_matches(),
            "flops_by_convention": convention_rows(wt),
        }
    )


def whole_table_rich(wt: WholeTable, width: int | None = None) -> Any:
    """The paper's layout in the terminal; when wider than `width`, one table per data set."""
    return to_rich.table_rich(whole_block(wt), wt.table.notes, width)
