"""Column widths within a terminal's width: headers wrap before values do, words before
numbers are folded, nothing is cut (the rich writer and the summary's tables)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def fit_widths(
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


def lines_of(text: str) -> list[str]:
    return text.splitlines() or [""]


def column_floors(columns: list[list[str]]) -> tuple[list[int], list[int], list[int]]:
    """Per column (its header, then its cells): the natural width (longest line), what its
    cells need (their longest line) and its longest word."""
    natural = [max(len(x) for t in col for x in lines_of(t)) for col in columns]
    cells = [max((len(x) for t in col[1:] for x in lines_of(t)), default=0) for col in columns]
    words = [max((len(w) for t in col for w in t.split()), default=0) for col in columns]
    return natural, cells, words


def measured_width(renderable: Any) -> int:
    """The width `renderable` takes when nothing limits it."""
    from rich.console import Console

    return int(Console(width=10_000).measure(renderable).maximum)


def fit_table(
    columns: list[list[str]], build: Callable[[list[int]], Any], width: int | None
) -> Any:
    """`build(widths)`: at the columns' natural widths, or (given `width`) narrowed so that
    the table fits in `width`. `columns`: each column's header, then its cells."""
    natural, cells, words = column_floors(columns)
    table = build(natural)
    if width is None:
        return table
    overhead = measured_width(table) - sum(natural)
    return build(fit_widths(natural, words, width - overhead, cells))
