"""`xncost models`: the registered reference models with their inputs and parameter counts."""

from __future__ import annotations

import json
from typing import Any

import typer

FORMATS = ("table", "json")


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
                    "params": parameter_count(name, upsampling=up is not False),
                }
            )
    return rows


def register(app: typer.Typer) -> None:
    """Add the `models` command to the CLI."""

    @app.command("models")
    def models(
        fmt: str = typer.Option("table", "--format", help="Output format: table or json."),
    ) -> None:
        """List the reference models: name, description, default input size, parameters."""
        from xncost.errors import XncostError

        if fmt not in FORMATS:
            raise XncostError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        rows = model_rows()
        if fmt == "json":
            typer.echo(json.dumps(rows, indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="xncost reference models (variant 'paper', 10 classes)")
        for col, justify in (
            ("model", "left"),
            ("upsampling", "left"),
            ("input", "left"),
            ("params", "right"),
            ("description", "left"),
        ):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for r in rows:
            up = "-" if r["upsampling"] is None else ("yes" if r["upsampling"] else "no")
            table.add_row(
                r["name"],
                up,
                "x".join(str(v) for v in r["input"]),
                f"{r['params']:,}",
                r["description"],
            )
        Console().print(table)
