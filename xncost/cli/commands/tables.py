"""`xncost table4|5|7|8|9` and `xncost reports`: the paper's tables rebuilt, and the one
command that regenerates the committed reports/ (Tables 4, 5, 7, 8, 9, the audit and the
whole-model summaries).

A table command prints; with `--out DIR` it also writes DIR/tableN.md and DIR/tableN.csv.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import typer

from xncost.cli.commands.common import (
    QUIET_OPT,
    Fmt,
    emit,
    emit_rich,
    examples,
    format_option,
    out_option,
    rich_width,
    write_outputs,
)
from xncost.errors import XncostError
from xncost.io.progress import Progress

SUMMARY_REPORTS = ("nin", "nin-xnor", "alexnet-xnor")  # reports/summary_<model>.md
REPORT_PARTS = ("4", "5", "7", "8", "9", "audit", "literature", "summaries")
WHOLE_TABLES = (4, 8)  # every paper model measured: about a minute each

OUT_TABLE = out_option("tableN.md and tableN.csv")
MEASURE_OPT = typer.Option(False, "--measure", help="Also measure the reference layers (slow).")


def layer_table_files(number: int, measure: bool = False, quiet: bool = True) -> Any:
    """Table 5, 7 or 9: (table, {file name: text})."""
    from xncost.paper import views
    from xncost.paper.tables import build_table

    if measure:
        from xncost.paper.measured import table_measurer

        with Progress(f"table{number} --measure", quiet=quiet) as p:
            t = build_table(number, table_measurer(number, progress=p.advance))
    else:
        t = build_table(number)
    files = {
        f"table{number}.md": views.table_markdown(t),
        f"table{number}.csv": views.table_csv(t),
    }
    return t, files


def whole_table_files(number: int, quiet: bool = True) -> Any:
    """Table 4 or 8 (every paper model measured): (whole table, {file name: text})."""
    from xncost.paper import views
    from xncost.paper import wholemodel as wm

    with Progress(f"table{number}: models measured", quiet=quiet) as p:

        def measure(model: str, up: bool, side: int) -> Any:
            count = wm.measure_model(model, up, side)
            p.advance(1, f"{model} at {side}x{side}")
            return count

        wt = wm.build_whole_table(number, measure=measure)
    md, csv_text = views.whole_table_markdown(wt), views.table_csv(wt.table)
    return wt, {f"table{number}.md": md, f"table{number}.csv": csv_text}


def _table_command(
    number: int, fmt: Fmt, out: Path | None, measure: bool = False, quiet: bool = True
) -> None:
    """Build table `number`, write its files if asked, print it in `fmt`."""
    from xncost.paper import views

    if number in WHOLE_TABLES:
        wt, files = whole_table_files(number, quiet)
        as_json, as_rich = (
            (lambda: views.whole_table_json(wt)),
            (lambda: views.whole_table_rich(wt, rich_width())),
        )
    else:
        t, files = layer_table_files(number, measure, quiet)
        as_json, as_rich = (
            (lambda: views.table_json(t)),
            (lambda: views.table_rich(t, rich_width())),
        )
    write_outputs(out, files)
    if fmt is Fmt.table:
        emit_rich(as_rich())
    else:
        emit(
            {Fmt.md: files[f"table{number}.md"], Fmt.csv: files[f"table{number}.csv"]}.get(fmt)
            or as_json()
        )


# number -> (help, options beside --format and --out, a second example's options)
TABLE_COMMANDS: dict[int, tuple[str, tuple[str, ...], str]] = {
    4: (
        "Table 4: parameters and FLOPs of the twelve models, measured, beside the paper "
        "(about a minute).",
        ("quiet",),
        "--format csv -q",
    ),
    5: (
        "Table 5: FLOPs of FC heads vs XnODR/XnIDR, beside the paper's values.",
        ("measure", "quiet"),
        "--format csv --out reports",
    ),
    7: (
        "Table 7: Speed Up of XnODR and XnIDR (Eqs. 12, 15), beside the paper's values "
        "(ratios of formulas: nothing to measure).",
        (),
        "--format md",
    ),
    8: (
        "Table 8: parameters and FLOPs of the DR models, measured, beside the paper "
        "(about a minute).",
        ("quiet",),
        "--format md -q",
    ),
    9: (
        "Table 9: FLOPs of FC heads vs dynamic routing, beside the paper's values.",
        ("measure", "quiet"),
        "--format json",
    ),
}


def _add_table_command(app: typer.Typer, number: int) -> None:
    """`tableN` with exactly the options it can honour (a signature built per table)."""
    doc, extra, example = TABLE_COMMANDS[number]
    options: dict[str, tuple[Any, Any]] = {
        "fmt": (Fmt, format_option()),
        "out": (Path | None, OUT_TABLE),
        "measure": (bool, MEASURE_OPT),
        "quiet": (bool, QUIET_OPT),
    }
    names = ("fmt", "out", *extra)

    def command(**given: Any) -> None:
        _table_command(number, **given)

    kind = inspect.Parameter.KEYWORD_ONLY
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, kind, default=options[n][1], annotation=options[n][0]) for n in names]
    )
    command.__doc__ = doc
    epilog = examples(f"xncost table{number}", f"xncost table{number} {example}")
    short = doc.split(", beside")[0].split(" (")[0]  # click would cut at "Eqs."
    app.command(f"table{number}", epilog=epilog, short_help=short)(command)


def summary_report(model: str) -> str:
    """reports/summary_<model>.md: the model's default input, `ops` float FLOPs."""
    from xncost.paper.comparisons import annotate
    from xncost.profile import summary as sm

    return sm.summary_markdown(annotate(sm.summarize_model(model)))


def report_files(parts: tuple[str, ...], quiet: bool = True) -> dict[str, str]:
    """The committed reports named by `parts` (see REPORT_PARTS), as {file name: text}."""
    files: dict[str, str] = {}
    for part in parts:
        if part in ("5", "7", "9"):
            files |= layer_table_files(int(part))[1]
        elif part in ("4", "8"):
            files |= whole_table_files(int(part), quiet)[1]
        elif part == "audit":
            from xncost.paper.audit import audit_markdown

            files["audit.md"] = audit_markdown()
        elif part == "literature":
            from xncost.paper.literature_report import literature_markdown

            files["literature.md"] = literature_markdown()
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

    for number in TABLE_COMMANDS:
        _add_table_command(app, number)

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
