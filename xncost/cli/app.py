"""`xncost` command line: a thin shell over the Python API.

Bad input of any kind (a usage error or an `XncostError`) prints one line on stderr and
exits with code 2, without a traceback and without writing a partial file; SIGINT and
SIGTERM print `xncost: error: interrupted` and exit with 130 (`xncost.io.signals`). Under a
torchrun job an error is printed once: by rank 0, or by the rank it concerns (`RankError`).
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Any

import click
import typer
from typer.core import TyperGroup

from xncost import __version__
from xncost.cli.commands.common import (
    BATCH_OPT,
    CAPS_IN_OPT,
    CAPS_OUT_OPT,
    DIM_IN_OPT,
    DIM_OUT_OPT,
    DIMS_OPT,
    FILE_EXT,
    ITERATIONS_OPT,
    PRESET_OPT,
    WORD_BITS_OPT,
    Conv,
    Fmt,
    breakdown_from_options,
    convention_option,
    emit,
    emit_result,
    examples,
    format_option,
    out_option,
    rich_width,
)
from xncost.core.layers import choices_text, layer_names
from xncost.errors import RankError, XncostError
from xncost.exact import unlimit_int_digits
from xncost.io import progress, signals

_CLICK_ERRORS: tuple[type[Exception], ...] = (click.ClickException,)
try:  # typer >= 0.26 vendors its own click
    from typer._click.exceptions import ClickException as _VendoredClickException

    _CLICK_ERRORS += (_VendoredClickException,)
except ImportError:
    pass


INTERRUPTED = signals.INTERRUPTED


class OneLineErrors(TyperGroup):
    """Turn click usage errors and XncostError into `xncost: error: ...` and exit code 2;
    refuse empty option and argument values (an empty value never means "the default")."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name, cmd, rest = super().resolve_command(ctx, args)
        if cmd is not None:
            _refuse_empty_values(cmd, click.Context(cmd, parent=ctx, info_name=name), rest)
        return name, cmd, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # SIGINT or SIGTERM (typer would make it a silent Exit)
            _interrupted()

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        unlimit_int_digits()  # shape values are bounded instead (exact.MAX_INPUT_DIGITS)
        since = signals.received()
        try:
            with signals.handled():  # SIGTERM, like SIGINT: one line, exit 130
                rv = super().main(*args, **kwargs)
        except KeyboardInterrupt:  # SIGINT or SIGTERM
            _interrupted()
        except click.exceptions.Abort:
            _fail("aborted")
        except click.exceptions.NoArgsIsHelpError as e:
            click.echo(e.ctx.get_help() if e.ctx else str(e))
            sys.exit(2)
        except _CLICK_ERRORS as e:  # click's own line breaks and tabs are layout
            _fail(_one_suggestion(" ".join(e.format_message().split())))
        except XncostError as e:
            if signals.received() > since:  # a signal some code turned into another error
                _interrupted()
            _fail(str(e), own=isinstance(e, RankError))
        except BrokenPipeError:
            sys.exit(1)
        except OSError as e:  # a backstop: file errors should already be XncostErrors
            if signals.received() > since:
                _interrupted()
            _fail(f"{e.filename or 'I/O'}: {e.strerror or e}")
        except Exception:  # a signal turned into another error (an import it cut short)
            if signals.received() > since:
                _interrupted()
            raise
        # typer's own catch of a KeyboardInterrupt, or a signal some code caught and dropped
        if rv == INTERRUPTED or signals.received() > since:
            _interrupted()
        progress.release(show=True)
        sys.exit(rv if isinstance(rv, int) else 0)


def _refuse_empty_values(cmd: click.Command, ctx: click.Context, args: list[str]) -> None:
    """A usage error for any option or argument given as the empty string."""
    if any(a in ("--help", "-h") for a in args):
        return
    try:
        opts, _, _ = cmd.make_parser(ctx).parse_args(list(args))
    except click.exceptions.UsageError:
        return  # the real parse reports it
    for param in cmd.params:
        value = opts.get(param.name) if param.name else None
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, str) and not v.strip() for v in values):
            shown = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
            raise click.BadParameter("an empty value is not allowed", ctx=ctx, param_hint=shown)


def one_line(message: str) -> str:
    """`message` on one line: newlines and other unprintable characters escaped; an
    undecodable byte of a path (a lone surrogate, `os.fsdecode`) kept, for the stream to
    write as that byte (`xncost.io.streams`)."""
    return "".join(
        ch if ch.isprintable() or "\udc80" <= ch <= "\udcff" else repr(ch)[1:-1]
        for ch in message
    )


def _one_suggestion(message: str) -> str:
    """click and typer both suggest close command names: keep the first suggestion."""
    first = message.find("Did you mean")
    second = message.find(" (Did you mean", first + 1) if first >= 0 else -1
    return message[:second] if second > 0 else message


def _interrupted() -> None:
    progress.release(show=False)
    sys.exit(signals.report())


def torchrun_rank() -> int | None:
    """This process's rank in a torchrun job of several processes, else None (read from the
    environment without importing torch)."""
    world, rank = os.environ.get("WORLD_SIZE", ""), os.environ.get("RANK", "")
    if not (world.isdigit() and rank.isdigit() and len(world) < 7 and len(rank) < 7):
        return None
    return int(rank) if int(world) > 1 else None


def _fail(message: str, own: bool = False) -> None:
    """One error line and exit code 2. In a torchrun job, only rank 0 prints what every
    rank hits alike (a usage error); another rank prints only an error of its own (`own`)."""
    progress.release(show=False)
    rank = torchrun_rank()
    if own or rank in (None, 0):
        click.echo(f"xncost: error: {one_line(message)}", err=True)
    sys.exit(2)


def _one_line_warning(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
    """Python warnings as one held-back note each (`progress.note`), not source excerpts."""
    progress.note(f"xncost: warning: {category.__name__}: {one_line(str(message))[:300]}")


def _version(value: bool) -> None:
    if value:
        click.echo(f"xncost {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=OneLineErrors,
    help="Analytical cost model and profiler for XnODR, XnIDR, dynamic routing and XNOR-Net.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    epilog=examples(
        "xncost table5",
        "xncost cost xnidr --caps-in 1152 --dim-out 32 --format json",
        "xncost summary nin-xnor --convention bnn",
    ),
)


Layer = Enum("Layer", {name: name for name in layer_names()}, type=str)  # type: ignore[misc]


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Analytical cost model and profiler for XnODR, XnIDR, dynamic routing and XNOR-Net."""


@app.command(
    "cost",
    epilog=examples(
        "xncost cost xnodr --caps-in 256",
        "xncost cost fc --dims 1280,512,256,128,10 --format json",
    ),
)
def cost_cmd(
    layer: Layer = typer.Argument(..., help=f"{choices_text()}."),
    caps_in: int | None = CAPS_IN_OPT,
    caps_out: int | None = CAPS_OUT_OPT,
    dim_in: int | None = DIM_IN_OPT,
    dim_out: int | None = DIM_OUT_OPT,
    iterations: int | None = ITERATIONS_OPT,
    batch: int = BATCH_OPT,
    dims: str | None = DIMS_OPT,
    preset: str = PRESET_OPT,
    convention: Conv = convention_option(),
    word_bits: int = WORD_BITS_OPT,
    measure: bool = typer.Option(False, "--measure", help="Also measure the reference layer."),
    fmt: Fmt = format_option(),
    out: Path | None = out_option("cost_LAYER.EXT (EXT: md, csv or json, as --format)"),
) -> None:
    """Per-step cost of one layer at your shape (FLOPs, BOPs, XNOR FLOPs, parameters)."""
    from xncost.api import measure_layer_totals
    from xncost.core import render

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
    name = f"cost_{layer.value}.{FILE_EXT[fmt]}"
    if fmt is Fmt.table:
        text = render.breakdown_markdown(b, measured)
        emit_result(text, out, rich=render.breakdown_rich(b, measured, rich_width()), name=name)
        return
    writers = {Fmt.md: render.breakdown_markdown, Fmt.json: render.breakdown_json}
    text = writers[fmt](b, measured) if fmt in writers else render.breakdown_csv(b, measured)
    emit_result(text, out, name=name)


SYMBOL_KEY = (
    "N = caps_in (input capsules), M = caps_out (output capsules), D = dim_in (input capsule "
    "dimension), E = dim_out (output capsule dimension), r = iterations (routing), B = batch; "
    "Eq. 9: c = channels, N_W = weight filter size (width x height), N_I = input size "
    "(width x height)"
)


@app.command("formulas", epilog=examples("xncost formulas", "xncost formulas --latex"))
def formulas_cmd(
    latex: bool = typer.Option(False, "--latex", help="LaTeX instead of pretty-printed text."),
) -> None:
    """The paper's equations 9-15, as printed and corrected, with limits in caps_in, after
    the key to their symbols."""
    import textwrap

    from xncost.api import formulas_text

    lead = "% " if latex else ""
    key = textwrap.fill(
        f"Symbols: {SYMBOL_KEY}", width=rich_width(), initial_indent=lead, subsequent_indent=lead
    )
    emit(key + "\n\n" + formulas_text(latex=latex))


COMMAND_MODULES = ("tables", "models", "train", "bench", "analysis", "summary", "conventions")


def _register_plugins() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"xncost.cli.commands.{name}").register(app)


_register_plugins()


def run(args: list[str], closed: list[str] | tuple[str, ...] = ()) -> int:
    """Run the command line on `args`; its exit code. `closed`: the standard streams that were
    closed when the process started (`xncost.io.streams.prepare`)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        _report("the working directory no longer exists; cd to an existing directory")
        return 2
    if "stdout" in closed:
        _report("standard output is closed; redirect it to /dev/null to discard the output")
        return 2
    progress.hold()
    warnings.showwarning = _one_line_warning
    # torch's C++ log (c10d retries with stack dumps) is not this command's output; errors
    # reach the user as one line. An explicit setting is kept.
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "FATAL")
    try:
        app(args=args, prog_name="xncost")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    return 0


def _report(message: str) -> None:
    try:
        _fail(message)
    except SystemExit:
        pass
