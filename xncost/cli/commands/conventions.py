"""`xncost conventions`: the registered counting conventions, their scope and every price
(docs/conventions.md). Torch-free."""

from __future__ import annotations

from typing import Any

import typer

from xncost.cli.commands.common import Fmt, emit, emit_rich, examples, format_option


def convention_records() -> list[dict[str, Any]]:
    """One record per registered convention, in registry order: name, description, scopes
    and its prices (`Convention.table_fields`), exact ints."""
    from xncost.conventions import ALL_CONVENTIONS, Convention

    return [
        {
            "name": c.name,
            "description": c.description,
            "scopes": list(c.scopes),
            "prices": {f: getattr(c, f) for f in Convention.table_fields()},
        }
        for c in ALL_CONVENTIONS.values()
    ]


def price_table(records: list[dict[str, Any]]) -> Any:
    """A `TableBlock`: one row per price (scope first), one column per convention."""
    from xncost.report.model import plain_table

    header = ["price", *(r["name"] for r in records)]
    rows = [["scope", *(", ".join(r["scopes"]) for r in records)]]
    rows += [[f, *(str(r["prices"][f]) for r in records)] for f in records[0]["prices"]]
    return plain_table(header, rows, align="right")


def register(app: typer.Typer) -> None:
    """Add the `conventions` command to the CLI."""

    @app.command(
        "conventions", epilog=examples("xncost conventions", "xncost conventions --format json")
    )
    def conventions(fmt: Fmt = format_option()) -> None:
        """List the counting conventions: what each counts, its scope (layer tables, whole
        models) and every price (docs/conventions.md)."""
        from xncost.report.to_csv import to_csv
        from xncost.report.to_json import dumps
        from xncost.report.to_markdown import table_lines

        records = convention_records()
        if fmt is Fmt.json:
            emit(dumps(records))
            return
        table = price_table(records)
        if fmt is Fmt.csv:
            emit(to_csv(table))
            return
        described = [f"- `{r['name']}`: {r['description']}." for r in records]
        if fmt is Fmt.md:
            emit("\n".join([*table_lines(table), "", *described]) + "\n")
            return
        from xncost.report.to_rich import whole_table

        emit_rich(whole_table(table))
        emit("\n".join(d.replace("`", "") for d in described) + "\n")
