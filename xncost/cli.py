"""`xncost` command line: a thin shell over the Python API.

Bad input of any kind (a usage error or an `XncostError`) prints one line on stderr and
exits with code 2, without a traceback and without writing a partial file.
"""

from __future__ import annotations

import importlib
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import click
import typer
from typer.core import TyperGroup

from xncost.commands.common import Fmt, breakdown_from_options, emit, emit_result, emit_rich
from xncost.errors import XncostError
from xncost.layers import choices_text, layer_names

_CLICK_ERRORS: tuple[type[Exception], ...] = (click.ClickException,)
try:  # typer >= 0.26 vendors its own click
    from typer._click.exceptions import ClickException as _VendoredClickException

    _CLICK_ERRORS += (_VendoredClickException,)
except ImportError:
    pass


class OneLineErrors(TyperGroup):
    """Turn click usage errors and XncostError into `xncost: error: ...` and exit code 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            _fail("aborted")
        except click.exceptions.NoArgsIsHelpError as e:
            click.echo(e.ctx.get_help() if e.ctx else str(e))
            sys.exit(2)
        except _CLICK_ERRORS as e:
            _fail(e.format_message().replace("\n", " "))
        except XncostError as e:
            _fail(str(e))
        except BrokenPipeError:
            sys.exit(1)
        except OSError as e:  # a backstop: file errors should already be XncostErrors
            _fail(f"{e.filename or 'I/O'}: {e.strerror or e}")
        sys.exit(rv if isinstance(rv, int) else 0)


def _fail(message: str) -> None:
    click.echo(f"xncost: error: {message}", err=True)
    sys.exit(2)


app = typer.Typer(
    cls=OneLineErrors,
    help="Analytical cost model and profiler for XnODR, XnIDR, dynamic routing and XNOR-Net.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


Layer = Enum("Layer", {name: name for name in layer_names()}, type=str)  # type: ignore[misc]


class Conv(str, Enum):
    paper = "paper"
    ops = "ops"


def _table_command(number: int, fmt: Fmt, out: Path, measure: bool) -> None:
    from xncost import render
    from xncost.api import table
    from xncost.files import write_atomic_many

    t = table(number, measure=measure)
    md, csv_text = render.table_markdown(t), render.table_csv(t)
    write_atomic_many({out / f"table{number}.md": md, out / f"table{number}.csv": csv_text})
    if fmt is Fmt.table:
        emit_rich(render.table_rich(t))
    else:
        emit({Fmt.md: md, Fmt.csv: csv_text}.get(fmt) or render.table_json(t))


FORMAT_OPT = typer.Option(Fmt.table, "--format", "-f", help="Output format.")
OUT_OPT = typer.Option(Path("reports"), "--out", help="Directory for tableN.md and tableN.csv.")
MEASURE_OPT = typer.Option(False, "--measure", help="Measure reference models (thop + dispatch).")


@app.command("table5")
def table5_cmd(fmt: Fmt = FORMAT_OPT, out: Path = OUT_OPT, measure: bool = MEASURE_OPT) -> None:
    """Table 5: FLOPs of FC heads vs XnODR/XnIDR, beside the paper's values."""
    _table_command(5, fmt, out, measure)


@app.command("table7")
def table7_cmd(fmt: Fmt = FORMAT_OPT, out: Path = OUT_OPT, measure: bool = MEASURE_OPT) -> None:
    """Table 7: Speed Up of XnODR and XnIDR (Eqs. 12, 15), beside the paper's values."""
    _table_command(7, fmt, out, measure)


@app.command("table9")
def table9_cmd(fmt: Fmt = FORMAT_OPT, out: Path = OUT_OPT, measure: bool = MEASURE_OPT) -> None:
    """Table 9: FLOPs of FC heads vs dynamic routing, beside the paper's values."""
    _table_command(9, fmt, out, measure)


def _positive(name: str, default: int | None = None) -> Any:
    return typer.Option(default, f"--{name}", min=1, help=f"{name.replace('-', '_')} (> 0).")


@app.command("cost")
def cost_cmd(
    layer: Layer = typer.Argument(..., help=f"{choices_text()}."),
    caps_in: int | None = _positive("caps-in"),
    caps_out: int | None = _positive("caps-out"),
    dim_in: int | None = _positive("dim-in"),
    dim_out: int | None = _positive("dim-out"),
    iterations: int | None = _positive("iterations"),
    batch: int = typer.Option(1, "--batch", min=1, help="Batch size B (> 0)."),
    dims: str | None = typer.Option(None, "--dims", help="FC sizes, e.g. 1280,512,256,128,10."),
    preset: str = typer.Option(
        "mobilenet",
        "--preset",
        help="Defaults for unset capsule sizes: mobilenet (N=160), "
        "resnet (N=256), mobilenet-code (N=128).",
    ),
    convention: Conv = typer.Option(Conv.paper, "--convention", help="paper or ops."),
    word_bits: int = typer.Option(64, "--word-bits", min=1, help="Packed word size (power of 2)."),
    measure: bool = typer.Option(False, "--measure", help="Also measure the reference layer."),
    fmt: Fmt = FORMAT_OPT,
    out: Path | None = typer.Option(None, "--out", help="Also write the output to this file."),
) -> None:
    """Per-step cost of one layer at your shape (FLOPs, BOPs, XNOR FLOPs, parameters)."""
    from xncost import render
    from xncost.api import measure_layer_totals

    b = breakdown_from_options(
        layer.value,
        caps_in=caps_in,
        caps_out=caps_out,
        dim_in=dim_in,
        dim_out=dim_out,
        iterations=iterations,
        batch=batch,
        dims=dims,
        preset=preset,
        convention=convention.value,
        word_bits=word_bits,
    )
    measured = measure_layer_totals(b) if measure else None
    if fmt is Fmt.table:
        text = render.breakdown_markdown(b, measured)
        emit_result(text, out, rich=render.breakdown_rich(b, measured))
        return
    writers = {Fmt.md: render.breakdown_markdown, Fmt.json: render.breakdown_json}
    text = writers[fmt](b, measured) if fmt in writers else render.breakdown_csv(b, measured)
    emit_result(text, out)


@app.command("formulas")
def formulas_cmd(
    latex: bool = typer.Option(False, "--latex", help="LaTeX instead of pretty-printed text."),
) -> None:
    """The paper's equations 9-15, as printed and corrected, with limits in caps_in."""
    from xncost.api import formulas_text

    emit(formulas_text(latex=latex))


COMMAND_MODULES = ("models", "train", "bench", "analysis", "summary", "profile")


def _register_plugins() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"xncost.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"xncost.commands.{name}":
                raise
            continue
        module.register(app)


_register_plugins()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
