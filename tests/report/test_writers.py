"""The report model and its writers (xncost/report/): each format from one model, a table within
any terminal width (whole, split by group, transposed, listed) and never a digit cut."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from xncost.exact import all_digits
from xncost.report.fit import fit_widths
from xncost.report.model import (
    Column,
    Entry,
    Heading,
    Notes,
    Paragraph,
    Report,
    Row,
    TableBlock,
    plain_table,
)
from xncost.report.to_csv import to_csv
from xncost.report.to_json import dumps
from xncost.report.to_markdown import pipe_table, to_markdown
from xncost.report.to_rich import table_rich

NOTE_A, NOTE_B = "a note on a mismatch", "a note on a match"


def _table(group_head: str | None = "Setting", groups: bool = False) -> TableBlock:
    """Two row groups of two rows under three value columns (optionally in column groups)."""
    col_group = (lambda i: "left" if i < 2 else "right") if groups else (lambda i: "")
    columns = tuple(Column(f"c{i}", "right", col_group(i)) for i in range(3))
    rows = []
    for g in ("first group", "second group"):
        for r in ("row one", "row two"):
            rows.append(
                Row(
                    r,
                    (
                        Entry("1,234.5M", "1,000.0M", "mismatch", NOTE_A),
                        Entry("99", "99", "match", NOTE_B),
                        Entry("n/a", "12.5%", "n/a", flag="MEASURED-DIFFERS"),
                    ),
                    g,
                )
            )
    return TableBlock(columns, tuple(rows), "Row", group_head, (NOTE_A, NOTE_B), "Title", "cap")


def test_entry_text_wide_and_stacked():
    numbers = {NOTE_A: 1}
    e = Entry("5", "6", "mismatch", NOTE_A, "FLAG")
    assert e.wide(numbers) == "5 (paper 6) FLAG [1]"
    assert e.stacked(numbers) == "5 [1] FLAG\n(paper 6)"
    assert Entry("5", "5", "match", "not numbered").wide(numbers) == "5"  # paper not beside
    assert Entry("n/a", "7%", "n/a").stacked({}) == "n/a\n(paper 7%)"


def test_markdown_document_and_table():
    t = _table()
    report = Report("Title", (Paragraph("Intro."), t, Notes(t.footnotes, ("general",)),
                              Heading("More"), Paragraph("a\nb")))  # fmt: skip
    lines = to_markdown(report).splitlines()
    assert lines[:4] == ["# Title", "", "Intro.", ""]
    assert lines[4] == "| Setting | Row | c0 | c1 | c2 |"
    assert lines[5] == "|---|---|---:|---:|---:|"
    assert lines[6] == (
        "| first group | row one | 1,234.5M (paper 1,000.0M) [1] | 99 [2] | "
        "n/a (paper 12.5%) MEASURED-DIFFERS |"
    )
    assert lines[7].startswith("|  | row two |")  # a group named once
    assert lines[8].startswith("| second group | row one |")
    assert lines[10:] == ["", "Notes:", "", f"1. {NOTE_A}", f"2. {NOTE_B}", "- general", "",
                          "## More", "", "a", "b"]  # fmt: skip
    assert to_markdown(report).endswith("b\n")


def test_markdown_column_groups_and_plain_tables():
    t = _table(group_head=None, groups=True)
    head = to_markdown(Report("T", (t,))).splitlines()[2:4]
    assert head == ["| Row | left c0 | left c1 | right c2 |", "|---|---:|---:|---:|"]
    assert pipe_table(["a", "b"], [["1", "2"]]) == ["| a | b |", "|---|---|", "| 1 | 2 |"]


def test_csv_quotes_and_keeps_every_digit():
    with all_digits():
        big = str(10**5000)
    t = plain_table(["name", "value", "note"], [["x", big, 'says "hi", twice']])
    text = to_csv(t)
    assert text.splitlines()[0] == "name,value,note"
    assert text.splitlines()[1] == f'x,{big},"says ""hi"", twice"'


def test_json_is_exact():
    value = {
        "int": 10**5000,
        "dyadic": Fraction(3, 8),
        "ratio": Fraction(1, 3),
        "f": [Fraction(4, 2)],
    }
    text = dumps(value)
    assert '"dyadic": 0.375' in text and '"ratio": "1/3"' in text
    with all_digits():
        back = json.loads(text, parse_float=Fraction)
    assert back["int"] == 10**5000 and back["f"] == [2]
    assert Fraction(back["ratio"]) == Fraction(1, 3) and back["dyadic"] == Fraction(3, 8)


def test_fit_widths_gives_from_the_widest_down_to_the_floors():
    widths = fit_widths([20, 10, 5], [4, 4, 4], 25, [8, 8, 5])
    assert widths == [10, 10, 5]  # the widest gave first, to what its cells need
    assert fit_widths([20, 10, 5], [4, 4, 4], 12, [8, 8, 5]) == [4, 4, 4]
    assert fit_widths([20, 10, 5], [4, 4, 4], 100) == [20, 10, 5]


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


@pytest.mark.parametrize("groups", [False, True])
def test_rich_layouts_in_order_and_within_the_width(printed, groups):
    t = _table(group_head=None if groups else "Setting", groups=groups)
    wide = printed(table_rich(t, (), None), 400)
    assert "┃ Setting" in wide or "┃ Row" in wide  # the whole table, in its frame
    everything = _digits(printed(table_rich(t, (), 400), 400))
    seen = set()
    for width in range(12, 120, 3):
        text = printed(table_rich(t, (), width), width)
        assert max(len(line) for line in text.splitlines()) <= width
        assert "…" not in text and _digits(text) >= everything, width
        if "c0: " in text:
            seen.add("listing")
        elif "┃" in text:
            seen.add("whole")
        else:
            seen.add("parts")
    assert seen == {"whole", "parts", "listing"}
    split = printed(table_rich(t, (), 60), 60)
    titles = ("left", "right") if groups else ("first group", "second group")
    assert all(f"\n{title}" in split for title in titles)  # a table per group, titled
    assert "(paper 1,000.0M)" in split and "[1] " + NOTE_A in split


def test_rich_listing_names_every_cell(printed):
    text = printed(table_rich(_table(), ("general",), 14), 14)
    assert text.count("c0: ") == 4 and "first group" in text and "- general" in text
