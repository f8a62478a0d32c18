"""The markdown writer: a `Report` as a document, a `TableBlock` as a pipe table."""

from __future__ import annotations

from xncost.report.model import Heading, Notes, Paragraph, Report, TableBlock, plain_table

_RULES = {"right": "---:", "left": "---", "": "---"}


def table_lines(table: TableBlock) -> list[str]:
    """The pipe table: the group column (each group once), the label column, then the value
    columns under their full headings; each cell on one line with its footnote number."""
    numbers = table.numbers
    heads = [table.label_head, *(c.full_head for c in table.columns)]
    rules = ["---", *(_RULES[c.align] for c in table.columns)]
    if table.group_head is not None:
        heads, rules = [table.group_head, *heads], ["---", *rules]
    out = ["| " + " | ".join(heads) + " |", "|" + "".join(f"{r}|" for r in rules)]
    last = None
    for row in table.rows:
        line = [row.label, *(c.wide(numbers) for c in row.cells)]
        if table.group_head is not None:
            line = [row.group if row.group != last else "", *line]
        out.append("| " + " | ".join(line) + " |")
        last = row.group
    return out


def pipe_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A pipe table of plain text (every column markdown's default alignment)."""
    return table_lines(plain_table(header, rows))


def notes_lines(notes: Notes) -> list[str]:
    return [
        "Notes:",
        "",
        *(f"{i}. {n}" for i, n in enumerate(notes.footnotes, start=1)),
        *(f"- {n}" for n in notes.notes),
    ]


def block_lines(block: Paragraph | Heading | TableBlock | Notes) -> list[str]:
    if isinstance(block, Paragraph):
        return [block.text]
    if isinstance(block, Heading):
        return [f"{'#' * block.level} {block.text}"]
    if isinstance(block, TableBlock):
        return table_lines(block)
    return notes_lines(block)


def to_markdown(report: Report) -> str:
    """`# title`, then each block followed by a blank line (none after the last)."""
    out = [f"# {report.title}"]
    for block in report.blocks:
        out += ["", *block_lines(block)]
    return "\n".join(out) + "\n"
