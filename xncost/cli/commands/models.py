"""`xncost models`: the registered reference models with their inputs and parameter counts."""

from __future__ import annotations

import json
from typing import Any

import typer

from xncost.cli.commands.common import Fmt, emit, emit_rich, examples, format_option


def model_rows() -> list[dict[str, Any]]:
    """One row per model and upsampling setting: name, upsampling, description, input, params.

    Models are built on the meta device (no weights allocated), so this is quick.
    """
    from xncost.models.registry import MODELS, parameter_count

    rows: list[dict[str, Any]] = []
    for name, spec in MODELS.items():
        settings: tuple[bool | None, ...] = (True, False) if spec.has_noup else (None,)
        for up in settings:
            side = spec.default_input_side(up is not False)
            rows.append(
                {
                    "name": name,
                    "upsampling": up,
                    "description": spec.description,
                    "input": [3, side, side],
                    "classes": spec.num_classes,
                    "params": parameter_count(name, upsampling=up is not False),
                }
            )
    return rows


COLUMNS = ("name", "upsampling", "input", "classes", "params", "description")


def _rows_text(rows: list[dict[str, Any]], fmt: Fmt) -> str:
    """The rows as markdown or CSV (input as CxHxW)."""
    import csv
    import io

    cells = [
        [str(r[c]) if c != "input" else "x".join(map(str, r[c])) for c in COLUMNS] for r in rows
    ]
    if fmt is Fmt.csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerows([list(COLUMNS), *cells])
        return buf.getvalue()
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|---|---|---:|---:|---|"]
    return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells]) + "\n"


def register(app: typer.Typer) -> None:
    """Add the `models` command to the CLI."""

    @app.command("models", epilog=examples("xncost models", "xncost models --format csv"))
    def models(fmt: Fmt = format_option()) -> None:
        """List the reference models: name, description, default input size, parameters."""
        rows = model_rows()
        if fmt is Fmt.json:
            emit(json.dumps(rows, indent=2) + "\n")
            return
        if fmt in (Fmt.md, Fmt.csv):
            emit(_rows_text(rows, fmt))
            return
        from rich.table import Table

        table = Table(title="xncost reference models (variant 'paper')")
        for col, justify in (
            ("model", "left"),
            ("upsampling", "left"),
            ("input", "left"),
            ("classes", "right"),
            ("params", "right"),
            ("description", "left"),
        ):
            table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for r in rows:
            up = "-" if r["upsampling"] is None else ("yes" if r["upsampling"] else "no")
            table.add_row(
                r["name"],
                up,
                "x".join(str(v) for v in r["input"]),
                str(r["classes"]),
                f"{r['params']:,}",
                r["description"],
            )
        emit_rich(table)
