"""The report model: what every report of xncost is made of, before any format.

A `Report` is a title and blocks: `Paragraph` (lines kept together), `Heading`, `TableBlock`
and `Notes`. A table block has value columns, rows (each a label, its entries and the group it
belongs to) and footnotes; an `Entry` beside a printed figure carries the paper's figure, a
status (`match`, `mismatch`, `n/a`) and a note, which becomes a numbered footnote. The writers
(`to_markdown`, `to_csv`, `to_json`, `to_rich`) turn the same report into each format; the
model holds text only, already in the units and precision the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STATUS_STYLES = {"match": "green", "mismatch": "red", "n/a": "dim"}


@dataclass(frozen=True)
class Entry:
    """One cell: its text and, beside a printed figure, the paper's figure, the status and a
    note (a footnote); `flag` is a warning written after the value (e.g. MEASURED-DIFFERS)."""

    text: str
    paper: str | None = None
    status: str = ""
    note: str = ""
    flag: str = ""

    @property
    def paper_beside(self) -> bool:
        """The paper's figure is shown beside the value: they differ, or there is no value."""
        return self.paper is not None and self.status in ("mismatch", "n/a")

    def wide(self, footnotes: dict[str, int]) -> str:
        """One line: 'value (paper p) FLAG [n]'."""
        text = self.text + (f" (paper {self.paper})" if self.paper_beside else "")
        text += f" {self.flag}" if self.flag else ""
        return text + (f" [{footnotes[self.note]}]" if self.note in footnotes else "")

    def stacked(self, footnotes: dict[str, int]) -> str:
        """The paper's figure on a line of its own: 'value [n] FLAG' then '(paper p)'."""
        text = self.text + (f" [{footnotes[self.note]}]" if self.note in footnotes else "")
        text += f" {self.flag}" if self.flag else ""
        return text + (f"\n(paper {self.paper})" if self.paper_beside else "")


def cells(*texts: str) -> tuple[Entry, ...]:
    """Plain cells from texts."""
    return tuple(Entry(t) for t in texts)


@dataclass(frozen=True)
class Column:
    """A value column: its heading, alignment (`left`, `right`, or `` for the format's own:
    markdown's default, right-justified in a terminal) and an optional group heading that
    spans several columns (a data set over Top1, FLOPs and PARA)."""

    head: str
    align: str = ""
    group: str = ""

    @property
    def full_head(self) -> str:
        return f"{self.group} {self.head}" if self.group else self.head


@dataclass(frozen=True)
class Row:
    """A row: its label, its cells (one per value column) and its group (a section)."""

    label: str
    cells: tuple[Entry, ...]
    group: str = ""


@dataclass(frozen=True)
class TableBlock:
    """Rows under value columns, after a label column (`label_head`, alignment `label_align`)
    and, when `group_head` is given, a group column showing each row's group once; otherwise
    groups only separate sections. `footnotes`: the notes of the cells, in numbering order.
    `title` and `caption` frame the table where it stands alone (a terminal)."""

    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    label_head: str = ""
    group_head: str | None = None
    footnotes: tuple[str, ...] = ()
    title: str = ""
    caption: str = ""

    @property
    def numbers(self) -> dict[str, int]:
        """Footnote -> its number."""
        return {n: i for i, n in enumerate(self.footnotes, start=1)}

    def groups(self) -> list[str]:
        """The row groups in order."""
        return list(dict.fromkeys(r.group for r in self.rows))

    def column_groups(self) -> list[str]:
        """The column groups in order ([''] when the columns have none)."""
        return list(dict.fromkeys(c.group for c in self.columns))


def plain_table(header: list[str], rows: list[list[str]], align: str = "") -> TableBlock:
    """A table of plain text: the first header and cell of each row are the label column."""
    return TableBlock(
        tuple(Column(h, align) for h in header[1:]),
        tuple(Row(r[0], cells(*r[1:])) for r in rows),
        label_head=header[0],
    )


@dataclass(frozen=True)
class Paragraph:
    """A paragraph (lines kept together when it holds newlines)."""

    text: str


@dataclass(frozen=True)
class Heading:
    """A section heading of `level` (2: `##`)."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Notes:
    """The notes under a table: its footnotes numbered, then general notes as a list."""

    footnotes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


Block = Paragraph | Heading | TableBlock | Notes


@dataclass(frozen=True)
class Report:
    """A titled document of blocks."""

    title: str
    blocks: tuple[Block, ...] = field(default=())
