"""The benchmark's rows as JSON, CSV, markdown and a rich table (`xncost bench`,
reports/speed.md)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from xncost.kernels.cases import (
    ROW_KEYS,
)


def human_seconds(s: float) -> str:
    """A duration with a unit: 12.3 µs, 4.56 ms, 1.23 s."""
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    cols = list(ROW_KEYS)
    for row in rows:
        cols += [k for k in row if k not in cols]
    return cols


def rows_json(rows: list[dict[str, Any]]) -> str:
    """The rows as a JSON list (floats in seconds and ratios)."""
    return json.dumps(rows, indent=2) + "\n"


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV: the `ROW_KEYS` columns first, then the extra keys."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


DISPLAY_COLUMNS = (
    "layer",
    "shape",
    "k",
    "backend",
    "float (numpy)",
    "binary",
    "binary + packing",
    "inference",
    "measured speed-up [min, max]",
    "with packing",
    "inference speed-up [min, max]",
    "theoretical",
    "Eq. 9 corrected",
    "word bound",
)


def display_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    """Human-readable cells for `DISPLAY_COLUMNS` (plus torch columns when measured)."""
    out = []
    for r in rows:
        cells = [
            r["layer"],
            r["shape"],
            str(r["dot_length"]),
            r.get("backend", ""),
            f"{human_seconds(r['float_s'])} ± {human_seconds(r['float_iqr_s'] / 2)}",
            f"{human_seconds(r['binary_s'])} ± {human_seconds(r['binary_iqr_s'] / 2)}",
            human_seconds(r["binary_with_packing_s"]),
            human_seconds(r["inference_s"]),
            f"{r['measured_speedup']:.2f} [{r['speedup_min']:.2f}, {r['speedup_max']:.2f}]",
            f"{r['measured_speedup_with_packing']:.2f}",
            f"{r['inference_speedup']:.2f} [{r['inference_speedup_min']:.2f}, "
            f"{r['inference_speedup_max']:.2f}]",
            f"{r['theoretical_speedup']:.2f} ({r['theoretical_equation']})",
            f"{r['corrected_speedup']:.2f}",
            f"{r['word_bound']:.2f}",
        ]
        if "torch_float_s" in r:
            cells += [
                human_seconds(r["torch_float_s"]),
                f"{r['torch_speedup']:.2f}",
                f"{r['torch_inference_speedup']:.2f} [{r['torch_inference_speedup_min']:.2f}, "
                f"{r['torch_inference_speedup_max']:.2f}]",
            ]
        if "torch1_float_s" in r:
            cells += [
                human_seconds(r["torch1_float_s"]),
                f"{r['torch1_inference_speedup']:.2f} [{r['torch1_inference_speedup_min']:.2f}, "
                f"{r['torch1_inference_speedup_max']:.2f}]",
            ]
        out.append(cells)
    return out


def display_columns(rows: list[dict[str, Any]]) -> list[str]:
    cols = list(DISPLAY_COLUMNS)
    if any("torch_float_s" in r for r in rows):
        cols += ["float (torch)", "torch / binary", "torch / inference [min, max]"]
    if any("torch1_float_s" in r for r in rows):
        cols += ["float (torch, 1 thread)", "torch 1 thread / inference [min, max]"]
    return cols


TABLE_TITLE = (
    "Packed XNOR kernels vs float32 (median of interleaved samples; ± half IQR; "
    "speed-up = float / binary)"
)


def rows_rich(rows: list[dict[str, Any]], width: int | None = None) -> Any:
    """The rows as one rich table; when that is wider than `width`, one two-column table
    (column, value) per row, so that it reads at 80 columns."""
    from rich.console import Console, Group
    from rich.table import Table
    from rich.text import Text

    from xncost.io.streams import for_stdout

    cols = display_columns(rows)  # plain text: "[min, max]" is no markup
    title = for_stdout(TABLE_TITLE)
    shown = [[for_stdout(c) for c in cells] for cells in display_rows(rows)]
    wide = Table(title=title)
    for col in cols:
        wide.add_column(Text(col), justify="left" if col in ("layer", "shape") else "right")
    for cells in shown:
        wide.add_row(*map(Text, cells))
    if width is None or Console(width=10_000).measure(wide).maximum <= width:
        return wide
    cards: list[Any] = []
    for cells in shown:
        card = Table(title=Text(f"{cells[0]} {cells[1]}"), show_header=False, title_justify="left")
        card.add_column("column", style="dim")
        card.add_column("value", justify="right", overflow="fold")
        for col, cell in zip(cols[2:], cells[2:], strict=False):
            card.add_row(Text(col), Text(cell))
        cards.append(card)
    return Group(Text(title), *cards)


def rows_markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table (± is half the interquartile range)."""
    cols = display_columns(rows)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for cells in display_rows(rows):
        cells += [""] * (len(cols) - len(cells))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
