"""The CSV writer: a `TableBlock` as rows (label, then one field per value column)."""

from __future__ import annotations

import csv
import io

from xncost.exact import all_digits_in
from xncost.report.model import TableBlock


@all_digits_in
def to_csv(table: TableBlock) -> str:
    """Header (label heading, value headings), then one line per row; `\\n` line ends."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([table.label_head, *(c.full_head for c in table.columns)])
    for row in table.rows:
        w.writerow([row.label, *(c.text for c in row.cells)])
    return buf.getvalue()
