"""Rich tables of the profile reports (summary, Tables 4 and 8) fitted to a terminal width:
headers wrap before values do and values fold rather than being cut (xncost/render.py's
column fitting, used for the layer tables)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def fit_table(
    columns: list[list[str]], build: Callable[[list[int]], Any], width: int | None
) -> Any:
    """`build(widths)`: at the columns' natural widths, or (given `width`) narrowed so that
    the table fits in `width`. `columns`: each column's header, then its cells."""
    from rich.console import Console

    from xncost.report.fit import fit_widths

    natural = [max(len(x) for x in col) for col in columns]
    table = build(natural)
    if width is None:
        return table
    overhead = Console(width=10_000).measure(table).maximum - sum(natural)
    return build(
        fit_widths(
            natural,
            [max(len(w) for x in col for w in x.split() or [""]) for col in columns],
            width - overhead,
            [max(len(x) for x in col[1:]) for col in columns],
        )
    )


def measured_width(renderable: Any) -> int:
    """The width `renderable` takes when nothing limits it."""
    from rich.console import Console

    return int(Console(width=10_000).measure(renderable).maximum)
