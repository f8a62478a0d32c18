"""Rendering: rich tables, markdown in the paper's layout, long CSV, exact JSON.

JSON keeps every number exact: ints stay ints, BOPs/word fractions (always dyadic, word sizes
being powers of two) are written as exact decimal literals such as 400.640625, and other
ratios (speed-ups, ratios to the FC head) as exact "p/q" strings.
"""

from __future__ import annotations

import csv
import io
import json
import re
from fractions import Fraction
from typing import Any

from xncost.accounting import Breakdown
from xncost.exact import all_digits_in, exact_str, normalize
from xncost.paper import METRIC_LABELS, MODEL_LABELS
from xncost.shapes import SETTINGS
from xncost.tables import COUNT_METRICS, CSV_COLUMNS, Cell, Table

_RAW = "\x00raw:"
_RAW_RE = re.compile(r'"\\u0000raw:([^"]*)"')


# ----------------------------------------------------------------------------- files


# ----------------------------------------------------------------------------- JSON


def jsonable(value: Any) -> Any:
    """Exact JSON-ready form: a Fraction becomes a raw exact decimal when it has one (a
    dyadic one: BOPs / word), else the exact string "p/q" (a ratio; `fractions.Fraction(s)`
    reads it back)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Fraction):
        value = normalize(value)
        if isinstance(value, int):
            return value
        text = exact_str(value)
        return _RAW + text if "/" not in text else text
    return value


@all_digits_in
def dumps(value: Any) -> str:
    """json.dumps with exact numbers (see module docstring)."""
    return _RAW_RE.sub(r"\1", json.dumps(jsonable(value), indent=2)) + "\n"


# ----------------------------------------------------------------------------- tables


def _group_row_col(table: Table, c: Cell) -> tuple[str, str, str]:
    if table.number == 5:
        return SETTINGS[c.setting].label, METRIC_LABELS[c.metric], MODEL_LABELS[c.model]
    up, ds = c.setting.split("-", 1)
    group = "With upsampling" if up == "up" else "Without upsampling"
    if table.number == 7:
        names = {"mnist": "MNIST", "cifar10": "CIFAR-10", "multimnist": "MultiMNIST"}
        return group, MODEL_LABELS[c.model], names[ds]
    names = {"mnist-cifar10": "MNIST and CIFAR-10", "multimnist": "MultiMNIST"}
    return group, names[ds], MODEL_LABELS[c.model]


def _grid(table: Table) -> tuple[list[str], list[tuple[str, str]], dict]:
    cols: list[str] = []
    rows: list[tuple[str, str]] = []
    grid: dict[tuple[str, str, str], Cell] = {}
    for c in table.cells:
        g, r, k = _group_row_col(table, c)
        if k not in cols:
            cols.append(k)
        if (g, r) not in rows:
            rows.append((g, r))
        grid[(g, r, k)] = c
    return cols, rows, grid


def _footnotes(table: Table) -> dict[str, int]:
    notes: dict[str, int] = {}
    for c in table.cells:
        if c.note and c.note not in notes:
            notes[c.note] = len(notes) + 1
    return notes


def _cell_text(c: Cell, notes: dict[str, int]) -> str:
    text = c.shown
    if c.status == "mismatch":
        text += f" (paper {c.paper.text})"
    if c.measured is not None and Fraction(c.measured) != Fraction(c.xncost):
        text += " MEASURED-DIFFERS"
    if c.note:
        text += f" [{notes[c.note]}]"
    return text


def _summary(table: Table) -> str:
    n = table.counts()
    measured = sum(c.measured is not None for c in table.cells)
    text = f"{n['match']} match, {n['mismatch']} mismatch, {n['n/a']} n/a"
    if measured:
        agree = sum(
            c.measured is not None and Fraction(c.measured) == Fraction(c.xncost)
            for c in table.cells
        )
        text += f"; measured {measured} cells, {agree} equal to xncost"
    return text


@all_digits_in
def table_markdown(table: Table) -> str:
    """The paper's layout; each cell is xncost's value, the paper's beside it where they differ."""
    cols, rows, grid = _grid(table)
    notes = _footnotes(table)
    first = "Datasets" if table.number != 7 else "Setting"
    second = "Details" if table.number == 5 else ("Models" if table.number == 7 else "Datasets")
    out = [
        f"# {table.title}",
        "",
        "Values are xncost's (its formulas, `paper` convention) in the paper's units; "
        "where the paper prints another value it follows in parentheses. "
        f"{_summary(table)}.",
        "",
        "| " + " | ".join([first, second, *cols]) + " |",
        "|" + "---|" * (len(cols) + 2),
    ]
    last_group = None
    for g, r in rows:
        cells = [_cell_text(grid[(g, r, k)], notes) if (g, r, k) in grid else "" for k in cols]
        out.append("| " + " | ".join([g if g != last_group else "", r, *cells]) + " |")
        last_group = g
    if notes or table.notes:
        out += ["", "Notes:", ""]
        out += [f"{i}. {n}" for n, i in notes.items()]
        out += [f"- {n}" for n in table.notes]
    return "\n".join(out) + "\n"


@all_digits_in
def table_csv(table: Table) -> str:
    """Long format, one row per cell (the columns the README lists)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    w.writeheader()
    for c in table.cells:
        w.writerow(c.row())
    return buf.getvalue()


def _cell_json(c: Cell) -> dict[str, Any]:
    """A cell with exact numbers: counts as JSON integers, ratios as exact decimals or "p/q"
    strings (see jsonable), no value -> null."""
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


def _rich_cell(c: Cell | None, notes: dict[str, int], narrow: bool) -> Any:
    from rich.text import Text

    if c is None:
        return Text("")
    style = {"match": "green", "mismatch": "red"}.get(c.status, "")
    if not narrow:
        return Text(_cell_text(c, notes), style=style)
    text = c.shown + (f" [{notes[c.note]}]" if c.note else "")
    if c.measured is not None and Fraction(c.measured) != Fraction(c.xncost):
        text += " MEASURED-DIFFERS"
    if c.status == "mismatch":
        text += f"\n(paper {c.paper.text})"
    return Text(text, style=style)


def _rich_grid(table: Table, title: str, caption: str | None, narrow: bool) -> list[Any]:
    """The paper's layout: one table, groups as the first column."""
    from rich.table import Table as RichTable

    cols, rows, grid = _grid(table)
    notes = _footnotes(table)
    rt = RichTable(title=title, caption=caption)
    rt.add_column("Setting", style="bold")
    rt.add_column("")
    for k in cols:
        rt.add_column(k, justify="right")
    last_group = None
    for g, r in rows:
        if last_group is not None and g != last_group:
            rt.add_section()
        cells = [_rich_cell(grid.get((g, r, k)), notes, narrow) for k in cols]
        rt.add_row(g if g != last_group else "", r, *cells)
        last_group = g
    return [rt]


def _fit_widths(
    natural: list[int], least: list[int], budget: int, first: list[int] | None = None
) -> list[int]:
    """Column widths within `budget`: the widest column gives a character at a time, first
    down to `first` (e.g. what its cells need, so that a header wraps before a value),
    then down to `least` (its longest word)."""
    widths = list(natural)
    floors = [[max(f, m) for f, m in zip(first, least, strict=True)]] if first else []
    for floor in [*floors, least]:
        while sum(widths) > budget:
            slack = [w - f for w, f in zip(widths, floor, strict=True)]
            j = max(range(len(widths)), key=lambda i: (slack[i] > 0, widths[i]))
            if slack[j] <= 0:
                break
            widths[j] -= 1
    return widths


def _rich_groups(table: Table, transpose: bool, width: int | None) -> list[Any]:
    """One table per group (the group its title), paper rows and columns swapped if asked."""
    from rich import box
    from rich.table import Table as RichTable

    cols, rows, grid = _grid(table)
    notes = _footnotes(table)
    out = []
    for g in dict.fromkeys(g for g, _ in rows):
        keys = [r for gg, r in rows if gg == g]
        heads, lines = (keys, cols) if transpose else (cols, keys)
        rt = RichTable(title=g, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
        rt.add_column("", no_wrap=True)
        body = [
            [
                _rich_cell(grid.get((g, h, line) if transpose else (g, line, h)), notes, True)
                for h in heads
            ]
            for line in lines
        ]
        columns = [[h, *(row[j].plain for row in body)] for j, h in enumerate(heads)]
        widths = _fit_widths(
            [max(len(x) for t in col for x in t.splitlines()) for col in columns],
            [max(len(w) for t in col for w in t.split()) for col in columns],
            (width or 10_000) - max(len(x) for x in lines) - 3 * len(heads) - 2,
            [max(len(x) for t in col[1:] for x in t.splitlines()) for col in columns],
        )
        for h, w in zip(heads, widths, strict=True):
            rt.add_column(h, justify="right", width=w, overflow="fold")
        for line, cells in zip(lines, body, strict=True):
            rt.add_row(line, *cells)
        out.append(rt)
    return out


def table_rich(table: Table, width: int | None = None) -> Any:
    """A rich renderable: the paper's layout with match/mismatch colours and notes. When the
    layout is wider than `width`, one table per group, transposed if still too wide (the
    paper's value goes under xncost's), so that it reads at 80 columns."""
    from rich.console import Console, Group
    from rich.text import Text

    notes = _footnotes(table)
    lines = [Text(f"[{i}] {n}", style="dim") for n, i in notes.items()]
    lines += [Text(f"- {n}", style="dim") for n in table.notes]
    layouts = [
        _rich_grid(table, table.title, _summary(table), narrow=False),
        _rich_groups(table, transpose=False, width=width),
        _rich_groups(table, transpose=True, width=width),
    ]
    if width is None:
        return Group(*layouts[0], *lines)
    measure = Console(width=10_000)
    for parts in layouts:
        natural = max(measure.measure(p).maximum for p in parts)
        if natural <= width:
            break
    else:  # no table fits: a listing, which folds but never cuts
        parts = _table_listing(table)
    if parts is layouts[0]:
        return Group(*parts, *lines)
    head = [Text(table.title, style="bold"), Text(_summary(table) + ".")]
    return Group(*head, *parts, *lines)


def _table_listing(table: Table) -> list[Any]:
    """The cells of `table` as lines under their group and row headings."""
    from rich.text import Text

    cols, rows, grid = _grid(table)
    notes = _footnotes(table)
    out, last_group = [], None
    for g, r in rows:
        if g != last_group:
            out.append(Text(g, style="bold"))
            last_group = g
        out.append(Text(r, style="italic"))
        cells = [(k, _rich_cell(grid[(g, r, k)], notes, False)) for k in cols if (g, r, k) in grid]
        out += [Text(f"  {k}: ").append_text(c) for k, c in cells]
    return out


# ----------------------------------------------------------------------------- breakdowns

READABLE_COLUMN = 14  # a column narrowed no further while others can give, then
TIGHT_COLUMN = 4  # the narrowest a folding column gets before the table becomes a listing

STEP_COLUMNS = (
    "layer",
    "step",
    "ref",
    "kind",
    "repeats",
    "flops",
    "bops",
    "xnor_flops",
    "params",
    "params_1bit",
    "params_32bit",
    "memory_bits",
)


def measured_differences(b: Breakdown, measured: dict[str, Any]) -> list[str]:
    """The totals whose measured value differs from the formula's."""
    t = b.totals
    return [k for k, v in measured.items() if Fraction(v) != Fraction(t[k])]


def _measured_verdict(b: Breakdown, measured: dict[str, Any]) -> str:
    diffs = measured_differences(b, measured)
    if not diffs:
        return "equal to the formula"
    return "DIFFERS from the formula: " + ", ".join(
        f"{k} (formula {exact_str(b.totals[k])}, measured {exact_str(measured[k])})" for k in diffs
    )


def breakdown_json(b: Breakdown, measured: dict[str, Any] | None = None) -> str:
    d = b.to_dict()
    d["measured"] = measured
    d["measured_differs"] = None if measured is None else measured_differences(b, measured)
    return dumps(d)


@all_digits_in
def breakdown_csv(b: Breakdown, measured: dict[str, Any] | None = None) -> str:
    """One row per step, a `total` row and, when measured, a `measured` row whose `kind`
    says whether it equals the formula."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(STEP_COLUMNS)
    for s in b.steps:
        w.writerow(
            [
                b.layer,
                s.name,
                s.ref,
                s.kind,
                s.repeats,
                *map(
                    exact_str,
                    (
                        s.flops,
                        s.bops,
                        s.xnor_flops,
                        s.params,
                        s.params_1bit,
                        s.params_32bit,
                        s.memory_bits,
                    ),
                ),
            ]
        )
    t, m = b.totals, b.memory
    w.writerow(
        [
            b.layer,
            "total",
            "",
            "",
            "",
            exact_str(t["flops"]),
            exact_str(t["xnor_bops"]),
            exact_str(t["xnor_flops"]),
            exact_str(t["params"]),
            exact_str(m["params_1bit"]),
            exact_str(m["params_32bit"]),
            exact_str(m["memory_bits"]),
        ]
    )
    if measured is not None:
        diffs = measured_differences(b, measured)
        w.writerow(
            [b.layer, "measured", "", "differs: " + " ".join(diffs) if diffs else "equal", ""]
            + [exact_str(measured[k]) for k in ("flops", "xnor_bops", "xnor_flops", "params")]
            + ["", "", ""]
        )
    return buf.getvalue()


def _shape_text(b: Breakdown) -> str:
    return ", ".join(f"{k}={v}" for k, v in b.shape.as_dict().items())


def _speedup_lines(b: Breakdown) -> list[str]:
    if b.speedup is None:
        return []
    s = b.speedup.as_dict()
    eq = s.pop("equation")
    labels = {
        "printed": f"{eq} as printed",
        "eq9": "Eq. 9 applied to the dot products",
        "word_bound": "64-bit word utilisation bound",
        "from_steps": "float step / xnorized step (this convention)",
        "from_steps_with_binarization": "... including binarization",
    }
    return [f"{labels[k]}: {'n/a' if v is None else f'{float(v):.4f}'}" for k, v in s.items()]


@all_digits_in
def breakdown_markdown(b: Breakdown, measured: dict[str, Any] | None = None) -> str:
    out = [
        f"# {b.layer}: {_shape_text(b)}",
        "",
        f"Convention `{b.convention.name}`: {b.convention.description}.",
        "",
        "| step | ref | kind | repeats | FLOPs | BOPs | XNOR FLOPs | params |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for s in b.steps:
        out.append(
            f"| {s.name} | {s.ref} | {s.kind} | {s.repeats} | {exact_str(s.flops)} | "
            f"{exact_str(s.bops)} | {exact_str(s.xnor_flops)} | {exact_str(s.params)} |"
        )
    t = b.totals
    out += ["", "Totals: " + ", ".join(f"{k} = {exact_str(v)}" for k, v in t.items())]
    m = b.memory
    out.append(
        f"Inference storage: {exact_str(m['params_32bit'])} 32-bit + "
        f"{exact_str(m['params_1bit'])} 1-bit parameters = {exact_str(m['memory_bits'])} "
        f"bits (float: {exact_str(m['float_memory_bits'])} bits)"
    )
    out += [f"Speed-up, {line}" for line in _speedup_lines(b)]
    if measured is not None:
        out.append(
            "Measured: "
            + ", ".join(f"{k} = {exact_str(v)}" for k, v in measured.items())
            + f" ({_measured_verdict(b, measured)})"
        )
    return "\n".join(out) + "\n"


@all_digits_in
def breakdown_rich(
    b: Breakdown, measured: dict[str, Any] | None = None, width: int | None = None
) -> Any:
    """The steps as a rich table; below 110 columns each step's reference goes under its
    name instead of in a column of its own."""
    from rich.console import Group
    from rich.table import Table as RichTable
    from rich.text import Text

    narrow = width is not None and width < 110
    rt = RichTable(title=f"{b.layer}: {_shape_text(b)} (convention {b.convention.name})")
    t = b.totals
    rows: list[list[Any]] = []
    for s in [*b.steps, None]:
        v = (
            (t["flops"], t["xnor_bops"], t["xnor_flops"], t["params"])
            if s is None
            else (s.flops, s.bops, s.xnor_flops, s.params)
        )
        counts = [_count_text(x) for x in v]
        if s is None:
            rows.append(["total", *([] if narrow else [""]), "", "", *counts])
            continue
        name: Any = s.name
        if narrow:
            name = Text(s.name)
            name.append(f"\n{s.ref}", style="dim")
        rows.append([name, *([] if narrow else [s.ref]), s.kind, str(s.repeats), *counts])
    heads = [
        ("step", "left"),
        ("ref", "left"),
        ("kind", "left"),
        ("x", "right"),
        ("FLOPs", "right"),
        ("BOPs", "right"),
        ("XNOR FLOPs", "right"),
        ("params", "right"),
    ]
    heads = [h for h in heads if not (narrow and h[0] == "ref")]
    cols = [[h, *(str(r[j]) for r in rows)] for j, (h, _) in enumerate(heads)]
    words = [max(len(w) for c in col for w in c.split()) for col in cols]
    budget = (width or 10_000) - 3 * len(heads) - 1
    widths = _fit_widths(
        [max(len(x) for c in col for x in c.splitlines()) for col in cols],
        [min(w, TIGHT_COLUMN) for w in words],
        budget,
        [min(w, READABLE_COLUMN) for w in words],
    )
    if sum(widths) > budget:  # no table fits: a listing, which folds but never cuts
        return Group(*_breakdown_listing(rt.title, heads, rows), *_breakdown_lines(b, measured))
    for (name, just), w in zip(heads, widths, strict=True):
        rt.add_column(name, justify=just, width=w, overflow="fold")
    for r in rows[:-1]:
        rt.add_row(*r)
    rt.add_section()
    rt.add_row(*rows[-1], style="bold")
    return Group(rt, *_breakdown_lines(b, measured))


def _breakdown_listing(
    title: Any, heads: list[tuple[str, str]], rows: list[list[Any]]
) -> list[Any]:
    """The rows of `breakdown_rich` as lines: each step's name, then one count a line."""
    from rich.text import Text

    out = [Text(str(title), style="italic")]
    for r in rows:
        named = [(h, str(v)) for (h, _), v in zip(heads, r, strict=True) if str(v)]
        out.append(Text(" ".join(v for _, v in named[:1]), style="bold"))
        out += [Text(f"  {'repeats' if h == 'x' else h}: {v}") for h, v in named[1:]]
    return out


def _count_text(x: Any) -> str:
    """A count as the tables print it: ints with thousands separators, fractions exact."""
    return f"{x:,}" if isinstance(x, int) else exact_str(x)


def _breakdown_lines(b: Breakdown, measured: dict[str, Any] | None) -> list[Any]:
    """The lines under the breakdown table: binarization, speed-ups, measured totals."""
    from rich.text import Text

    t = b.totals
    lines = [Text(f"binarization FLOPs: {_count_text(t['binarization_flops'])}")]
    lines += [Text(f"speed-up, {line}") for line in _speedup_lines(b)]
    if measured is not None:
        same = not measured_differences(b, measured)
        lines.append(
            Text(
                "measured: "
                + ", ".join(f"{k}={_count_text(v)}" for k, v in measured.items())
                + f" ({_measured_verdict(b, measured)})",
                style="green" if same else "bold red",
            )
        )
    return lines
