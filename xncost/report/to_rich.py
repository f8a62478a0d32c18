"""The terminal writer (rich): a `TableBlock` within a width, its footnotes and notes below it.

Layouts are tried in order until one fits: the whole table (title and caption in its frame);
one table per group (row groups, or column groups where the columns have them: TableBlock 4's data
sets), each fitted to the width with the paper's figure under the value; the same transposed;
and last a listing, one cell a line, which folds but never cuts. The writer imports rich only
when called.
"""

from __future__ import annotations

from typing import Any

from xncost.report.fit import fit_table, measured_width
from xncost.report.model import (
    STATUS_STYLES,
    Column,
    Entry,
    Heading,
    Notes,
    Paragraph,
    Report,
    Row,
    TableBlock,
)


def _styled(cell: Entry, numbers: dict[str, int], stacked: bool) -> Any:
    from rich.text import Text

    text = cell.stacked(numbers) if stacked else cell.wide(numbers)
    return Text(text, style=STATUS_STYLES.get(cell.status, ""))


def _justify(column: Column) -> str:
    return "left" if column.align == "left" else "right"


def whole_table(table: TableBlock) -> Any:
    """The table as one rich table: group column (bold) if any, label column, value columns;
    a section per row group."""
    from rich.table import Table as RichTable
    from rich.text import Text

    numbers = table.numbers
    rt = RichTable(title=table.title or None, caption=table.caption or None)
    if table.group_head is not None:
        rt.add_column(Text(table.group_head), style="bold")
    rt.add_column(Text(table.label_head), style="" if table.group_head is not None else "bold")
    for c in table.columns:
        rt.add_column(Text(c.full_head), justify=_justify(c))
    last = None
    for row in table.rows:
        if last is not None and row.group != last:
            rt.add_section()
        values = [_styled(c, numbers, False) for c in row.cells]
        group = [Text(row.group if row.group != last else "")] if table.group_head else []
        rt.add_row(*group, Text(row.label), *values)
        last = row.group
    return rt


def _parts(table: TableBlock, transpose: bool) -> list[tuple[str, list[Column], list[Row]]]:
    """(title, columns, rows) per part: a part per column group where the columns have groups,
    else per row group; transposed, rows and columns swap."""
    if len(table.column_groups()) > 1:
        parts = []
        for g in table.column_groups():
            idx = [j for j, c in enumerate(table.columns) if c.group == g]
            cols = [Column(table.columns[j].head, table.columns[j].align) for j in idx]
            rows = [Row(r.label, tuple(r.cells[j] for j in idx), r.group) for r in table.rows]
            parts.append((g, cols, rows))
    else:
        parts = [
            (g, list(table.columns), [r for r in table.rows if r.group == g])
            for g in table.groups()
        ]
    if not transpose:
        return parts
    return [
        (
            g,
            [Column(r.label) for r in rows],
            [Row(c.head, tuple(r.cells[j] for r in rows)) for j, c in enumerate(cols)],
        )
        for g, cols, rows in parts
    ]


def _part_table(
    title: str, cols: list[Column], rows: list[Row], numbers: dict[str, int], width: int | None
) -> Any:
    """One part as a rich table fitted to `width`: headers wrap before values, values fold at
    spaces, the paper's figure goes under the value."""
    from rich import box
    from rich.table import Table as RichTable
    from rich.text import Text

    body = [[_styled(c, numbers, True) for c in r.cells] for r in rows]
    columns = [["", *(r.label for r in rows)]]
    columns += [[c.head, *(line[j].plain for line in body)] for j, c in enumerate(cols)]

    def build(widths: list[int]) -> Any:
        rt = RichTable(title=title or None, title_justify="left", box=box.SIMPLE_HEAD,
                       show_edge=False)  # fmt: skip
        rt.add_column("", width=widths[0], overflow="fold")
        for c, w in zip(cols, widths[1:], strict=True):
            rt.add_column(Text(c.head), justify=_justify(c), width=w, overflow="fold")
        last = None
        for r, line in zip(rows, body, strict=True):
            if last is not None and r.group != last:
                rt.add_section()
            rt.add_row(Text(r.label), *line)
            last = r.group
        return rt

    return fit_table(columns, build, width)


def listing(table: TableBlock) -> list[Any]:
    """The cells as lines under their group (bold) and row (italic) headings."""
    from rich.text import Text

    numbers = table.numbers
    out, last = [], None
    for row in table.rows:
        if row.group != last and row.group:
            out.append(Text(row.group, style="bold"))
        last = row.group
        out.append(Text(row.label, style="italic"))
        for col, cell in zip(table.columns, row.cells, strict=True):
            if cell.text or cell.paper is not None:
                out.append(Text(f"  {col.full_head}: ").append_text(_styled(cell, numbers, False)))
    return out


def note_lines(table: TableBlock, notes: tuple[str, ...] = ()) -> list[Any]:
    """The footnotes ([n] text) and the notes (- text), dimmed."""
    from rich.text import Text

    lines = [Text(f"[{i}] {n}", style="dim") for n, i in table.numbers.items()]
    return lines + [Text(f"- {n}", style="dim") for n in notes]


def table_rich(table: TableBlock, notes: tuple[str, ...] = (), width: int | None = None) -> Any:
    """`table` and its notes within `width` (the first layout that fits; see the module
    docstring); unlimited when `width` is None."""
    from rich.console import Group
    from rich.text import Text

    lines = note_lines(table, notes)
    whole = whole_table(table)
    if width is None or measured_width(whole) <= width:
        return Group(whole, *lines)
    numbers = table.numbers
    for transpose in (False, True):
        parts = [_part_table(*p, numbers, width) for p in _parts(table, transpose)]
        if max(measured_width(p) for p in parts) <= width:
            break
    else:  # no table fits: a listing, which folds but never cuts
        parts = listing(table)
    head = [Text(table.title, style="bold"), Text(table.caption + ".")]
    return Group(*head, *parts, *lines)


def report_rich(report: Report, width: int | None = None) -> Any:
    """A whole report: its title, paragraphs, headings, tables (each as `table_rich`) and
    notes."""
    from rich.console import Group
    from rich.text import Text

    out: list[Any] = [Text(report.title, style="bold")]
    for block in report.blocks:
        if isinstance(block, Paragraph):
            out.append(Text(block.text))
        elif isinstance(block, Heading):
            out.append(Text(block.text, style="bold"))
        elif isinstance(block, TableBlock):
            out.append(table_rich(block, (), width))
        elif isinstance(block, Notes):
            out += [Text(f"- {n}", style="dim") for n in block.notes]
    return Group(*out)
