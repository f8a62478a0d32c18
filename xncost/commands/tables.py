"""`xncost table4|5|7|8|9` and `xncost reports`: the paper's tables rebuilt, and the one
command that regenerates the committed reports/ (Tables 4, 5, 7, 8, 9, the audit and the
whole-model summaries).

A table command prints; with `--out DIR` it also writes DIR/tableN.md and DIR/tableN.csv.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from xncost.commands.common import (
    QUIET_OPT,
    Fmt,
    Progress,
    emit,
    emit_rich,
    examples,
    format_option,
    out_option,
    rich_width,
    write_outputs,
)
from xncost.errors import XncostError

SUMMARY_REPORTS = ("nin", "nin-xnor", "alexnet-xnor")  # reports/summary_<model>.md
REPORT_PARTS = ("4", "5", "7", "8", "9", "audit", "summaries")
SLOW_PARTS = ("4", "8")  # every paper model measured: about a minute each

OUT_TABLE = out_option("tableN.md and tableN.csv")
MEASURE_OPT = typer.Option(False, "--measure", help="Also measure the reference layers (slow).")


def _print_table(number: int, fmt: Fmt, md: str, csv_text: str, json_text: Any, rich: Any):
    if fmt is Fmt.table:
        emit_rich(rich())
    else:
        emit({Fmt.md: md, Fmt.csv: csv_text}.get(fmt) or json_text())


def layer_table_files(number: int, measure: bool = False, quiet: bool = True) -> Any:
    """Table 5, 7 or 9: (table, {file name: text})."""
    from xncost import render
    from xncost.tables import build_table

    if measure:
        from xncost.profile.tables import table_measurer

        with Progress(f"table{number} --measure", quiet=quiet) as p:
            t = build_table(number, table_measurer(number, progress=p.advance))
    else:
        t = build_table(number)
    files = {
        f"table{number}.md": render.table_markdown(t),
        f"table{number}.csv": render.table_csv(t),
    }
    return t, files


def whole_table_files(number: int, quiet: bool = True) -> Any:
    """Table 4 or 8 (every paper model measured): (whole table, {file name: text})."""
    from xncost import render
    from xncost.profile import wholemodel as wm

    with Progress(f"table{number}", quiet=quiet) as p:

        def measure(model: str, up: bool, side: int) -> Any:
            count = wm.measure_model(model, up, side)
            p.advance(1, f"{model} at {side}x{side}")
            return count

        wt = wm.build_whole_table(number, measure=measure)
    md, csv_text = wm.whole_table_markdown(wt), render.table_csv(wt.table)
    return wt, {f"table{number}.md": md, f"table{number}.csv": csv_text}


def _layer_table(number: int, fmt: Fmt, out: Path | None, measure: bool, quiet: bool) -> None:
    from xncost import render

    t, files = layer_table_files(number, measure, quiet)
    write_outputs(out, files)
    _print_table(
        number,
        fmt,
        files[f"table{number}.md"],
        files[f"table{number}.csv"],
        lambda: render.table_json(t),
        lambda: render.table_rich(t, rich_width()),
    )


def _whole_table(number: int, fmt: Fmt, out: Path | None, quiet: bool) -> None:
    from xncost.profile import wholemodel as wm

    wt, files = whole_table_files(number, quiet)
    write_outputs(out, files)
    _print_table(
        number,
        fmt,
        files[f"table{number}.md"],
        files[f"table{number}.csv"],
        lambda: wm.whole_table_json(wt),
        lambda: wm.whole_table_rich(wt),
    )


def summary_report(model: str) -> str:
    """reports/summary_<model>.md: the model's default input, `ops` float FLOPs."""
    from xncost.profile import summary as sm

    return sm.summary_markdown(sm.summarize_model(model))


def report_files(parts: tuple[str, ...], quiet: bool = True) -> dict[str, str]:
    """The committed reports named by `parts` (see REPORT_PARTS), as {file name: text}."""
    files: dict[str, str] = {}
    for part in parts:
        if part in ("5", "7", "9"):
            files |= layer_table_files(int(part))[1]
        elif part in SLOW_PARTS:
            files |= whole_table_files(int(part), quiet)[1]
        elif part == "audit":
            from xncost.audit import audit_markdown

            files["audit.md"] = audit_markdown()
        else:
            files |= {f"summary_{m}.md": summary_report(m) for m in SUMMARY_REPORTS}
    return files


def _parse_parts(only: str | None) -> tuple[str, ...]:
    if only is None:
        return REPORT_PARTS
    parts = tuple(p.strip() for p in only.split(","))
    bad = [p for p in parts if p not in REPORT_PARTS]
    if bad or not parts:
        raise XncostError(f"--only takes a comma list of {', '.join(REPORT_PARTS)}, got {only!r}")
    return tuple(dict.fromkeys(parts))


def register(app: typer.Typer) -> None:
    """Add `table4`, `table5`, `table7`, `table8`, `table9` and `reports` to the CLI."""

    @app.command(
        "table5", epilog=examples("xncost table5", "xncost table5 --format csv --out reports")
    )
    def table5_cmd(
        fmt: Fmt = format_option(),
        out: Path | None = OUT_TABLE,
        measure: bool = MEASURE_OPT,
        quiet: bool = QUIET_OPT,
    ) -> None:
        """Table 5: FLOPs of FC heads vs XnODR/XnIDR, beside the paper's values."""
        _layer_table(5, fmt, out, measure, quiet)

    @app.command("table7", epilog=examples("xncost table7", "xncost table7 --format md"))
    def table7_cmd(fmt: Fmt = format_option(), out: Path | None = OUT_TABLE) -> None:
        """Table 7: Speed Up of XnODR and XnIDR (Eqs. 12, 15), beside the paper's values
        (ratios of formulas: nothing to measure)."""
        _layer_table(7, fmt, out, False, True)

    @app.command("table9", epilog=examples("xncost table9", "xncost table9 --format json"))
    def table9_cmd(
        fmt: Fmt = format_option(),
        out: Path | None = OUT_TABLE,
        measure: bool = MEASURE_OPT,
        quiet: bool = QUIET_OPT,
    ) -> None:
        """Table 9: FLOPs of FC heads vs dynamic routing, beside the paper's values."""
        _layer_table(9, fmt, out, measure, quiet)

    @app.command("table4", epilog=examples("xncost table4", "xncost table4 --format csv -q"))
    def table4_cmd(
        fmt: Fmt = format_option(), out: Path | None = OUT_TABLE, quiet: bool = QUIET_OPT
    ) -> None:
        """Table 4: parameters and FLOPs of the twelve models, measured, beside the paper
        (about a minute)."""
        _whole_table(4, fmt, out, quiet)

    @app.command("table8", epilog=examples("xncost table8", "xncost table8 --format md -q"))
    def table8_cmd(
        fmt: Fmt = format_option(), out: Path | None = OUT_TABLE, quiet: bool = QUIET_OPT
    ) -> None:
        """Table 8: parameters and FLOPs of the DR models, measured, beside the paper
        (about a minute)."""
        _whole_table(8, fmt, out, quiet)

    @app.command(
        "reports",
        epilog=examples("xncost reports --out reports", "xncost reports --out /tmp/r --only 5,7,9"),
    )
    def reports_cmd(
        out: Path = typer.Option(..., "--out", help="Output directory (e.g. reports)."),
        only: str | None = typer.Option(
            None, "--only", help=f"Comma list among {','.join(REPORT_PARTS)} (default: all)."
        ),
        quiet: bool = QUIET_OPT,
    ) -> None:
        """Regenerate the committed reports: tables 4, 5, 7, 8, 9 (.md, .csv), audit.md and
        summary_MODEL.md, all or nothing (Tables 4 and 8 take about a minute each)."""
        for path in write_outputs(out, report_files(_parse_parts(only), quiet)):
            emit(f"wrote {path}\n")
