"""What every command shares: option meanings, output formats, printing, progress, and shape
options -> breakdown.

One meaning per option name, in every command that offers it (docs: README, "What you get"):
`--out DIR` is always a directory (created if needed) that receives the command's files under
fixed names; without `--out` nothing is written. `--format` is `table|md|csv|json` wherever a
result is a table. `--convention` names how prices are chosen: `paper|ops` for the layers and
tables, `ops|tf|ptflops|bnn` for whole networks (`summary`; docs/conventions.md says why).
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import click
import typer

from xncost.conventions import CONVENTIONS, MODEL_CONVENTIONS, Convention
from xncost.errors import XncostError

DEFAULT_FC_DIMS = "1280,512,256,128,10"
NON_TERMINAL_WIDTH = 100  # piped or redirected output, when COLUMNS is not set


class Fmt(str, Enum):
    table = "table"
    md = "md"
    csv = "csv"
    json = "json"


def choices(name: str, conventions: dict[str, Convention]) -> Any:
    """A `--convention` choice enum of registered conventions (`xncost.conventions`)."""
    return Enum(name, {c: c for c in conventions}, type=str)


Conv = choices("Conv", CONVENTIONS)  # layer conventions: cost, explain, tables
ModelConv = choices("ModelConv", MODEL_CONVENTIONS)  # whole-model conventions: summary


def convention_help(conventions: dict[str, Convention]) -> str:
    """`Prices: a (...), b (...) or c.` from the conventions' `option_help`."""
    labels = [c.option_help or c.name for c in conventions.values()]
    return "Prices: " + ", ".join(labels[:-1]) + " or " + labels[-1] + "."


FILE_EXT = {Fmt.table: "md", Fmt.md: "md", Fmt.csv: "csv", Fmt.json: "json"}


class RegistryChoice(click.Choice):
    """A choice among a registry's names, read when the command is parsed or its help shown,
    never at import: a name registered after the CLI was built is offered too. `names` is a
    "module:attribute" path (`xncost.core.layers.resolve`) to the names or to a function returning
    them, so a heavy registry is imported only by the command that asks."""

    def __init__(self, names: str) -> None:
        self.names = names
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from xncost.core.layers import resolve

        found = resolve(self.names)
        return tuple(found() if callable(found) else found)


def format_option(default: Fmt = Fmt.table) -> Any:
    return typer.Option(
        default,
        "--format",
        "-f",
        help="table (for the terminal), md, csv or json (exact numbers).",
    )


def out_option(names: str) -> Any:
    """`--out DIR`: the one meaning of --out; `names` says which files the command writes."""
    return typer.Option(
        None,
        "--out",
        metavar="DIR",
        help=f"Also write {names} into this directory (created if needed). "
        "Without --out nothing is written.",
    )


def convention_option(default: Any = Conv.paper) -> Any:
    return typer.Option(default, "--convention", help=convention_help(CONVENTIONS))


QUIET_OPT = typer.Option(False, "--quiet", "-q", help="No progress lines on stderr.")


def _size(flag: str, symbol: str, default: int | None = None) -> Any:
    name = flag.replace("-", "_")
    return typer.Option(default, f"--{flag}", min=1, help=f"{name} {symbol} (> 0).")


# The layer-shape options of `cost` and `explain` (`breakdown_from_options` reads them)
CAPS_IN_OPT = _size("caps-in", "N")
CAPS_OUT_OPT = _size("caps-out", "M")
DIM_IN_OPT = _size("dim-in", "D")
DIM_OUT_OPT = _size("dim-out", "E")
ITERATIONS_OPT = _size("iterations", "r")
BATCH_OPT = _size("batch", "B", 1)
DIMS_OPT = typer.Option(None, "--dims", help="FC sizes, e.g. 1280,512,256,128,10.")
PRESET_OPT = typer.Option(
    "mobilenet",
    "--preset",
    help="Defaults for unset capsule sizes: mobilenet (N=160), resnet (N=256), "
    "mobilenet-code (N=128).",
)
WORD_BITS_OPT = typer.Option(64, "--word-bits", min=1, help="Packed word size (power of 2).")


def examples(*lines: str) -> str:
    """An `Examples:` epilog for a command's --help (kept verbatim by click: `\\b`)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  $ {line}" for line in lines)


# ----------------------------------------------------------------------------- printing


def emit(text: str) -> None:
    """Write `text` to stdout as is."""
    sys.stdout.write(text)
    sys.stdout.flush()


def output_width() -> int | None:
    """Width for rich output: None (rich asks the terminal, or reads COLUMNS) on a terminal
    or when COLUMNS is set, else NON_TERMINAL_WIDTH."""
    columns = os.environ.get("COLUMNS", "")
    if sys.stdout.isatty() or (columns.isdigit() and int(columns) > 0):
        return None
    return NON_TERMINAL_WIDTH


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(width=output_width(), stderr=stderr)


def emit_rich(renderable: Any) -> None:
    """Print a rich renderable at the terminal's width (see output_width)."""
    console().print(renderable)


def rich_width() -> int:
    """The width emit_rich will print at."""
    return int(console().width)


def write_outputs(out: Path | None, files: dict[str, str | bytes]) -> list[Path]:
    """Write `files` (name -> content) into the directory `out`, all or nothing; nothing
    when `out` is None."""
    if out is None:
        return []
    from xncost.io.files import write_atomic_many

    return write_atomic_many({Path(out) / name: data for name, data in files.items()})


def emit_result(text: str, out: Path | None, name: str, rich: Any = None) -> None:
    """Write `text` as `out/name` when `out` is given (first, so a failed write prints
    nothing), then print `rich` if given (the table format) or `text`."""
    write_outputs(out, {name: text})
    if rich is not None:
        emit_rich(rich)
    else:
        emit(text)


# ----------------------------------------------------------------------------- shapes


def breakdown_from_options(
    layer: str,
    *,
    caps_in: int | None,
    caps_out: int | None,
    dim_in: int | None,
    dim_out: int | None,
    iterations: int | None,
    batch: int,
    dims: str | None,
    preset: str,
    convention: str,
    word_bits: int,
) -> Any:
    """The breakdown that `cost` and `explain` show: fc takes --dims, capsule layers sizes."""
    from xncost.api import cost
    from xncost.core.layers import get_layer

    if get_layer(layer).speedup is None and word_bits != 64:
        raise XncostError(f"{layer} has no binary products: --word-bits does not apply")
    if layer == "fc":
        if any(v is not None for v in (caps_in, caps_out, dim_in, dim_out, iterations)):
            raise XncostError("fc takes --dims and --batch, not capsule sizes")
        if preset != "mobilenet":
            raise XncostError("fc takes --dims, not --preset (the presets are capsule sizes)")
        return cost(
            "fc",
            dims=DEFAULT_FC_DIMS if dims is None else dims,
            batch=batch,
            convention=convention,
            word_bits=word_bits,
        )
    if dims is not None:
        raise XncostError(f"{layer} takes capsule sizes, not --dims")
    return cost(
        layer,
        caps_in=caps_in,
        caps_out=caps_out,
        dim_in=dim_in,
        dim_out=dim_out,
        iterations=iterations,
        batch=batch,
        preset=preset,
        convention=convention,
        word_bits=word_bits,
    )
