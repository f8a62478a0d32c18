"""What every command shares: output formats, printing, and shape options -> breakdown."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Any

from xncost.errors import XncostError

DEFAULT_FC_DIMS = "1280,512,256,128,10"


class Fmt(str, Enum):
    table = "table"
    md = "md"
    csv = "csv"
    json = "json"


def emit(text: str) -> None:
    """Write `text` to stdout as is."""
    sys.stdout.write(text)
    sys.stdout.flush()


def emit_rich(renderable: Any) -> None:
    """Print a rich renderable (wide when stdout is not a terminal, so lines do not wrap)."""
    from rich.console import Console

    Console(width=None if sys.stdout.isatty() else 220).print(renderable)


def emit_result(text: str, out: Any = None, rich: Any = None) -> None:
    """Write `text` to the file `out` first (so a failed write prints nothing), then print
    `rich` if given (the table format) or `text`."""
    if out is not None:
        from xncost.files import write_atomic

        write_atomic(out, text)
    if rich is not None:
        emit_rich(rich)
    else:
        emit(text)


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

    if layer == "fc":
        if any(v is not None for v in (caps_in, caps_out, dim_in, dim_out, iterations)):
            raise XncostError("fc takes --dims and --batch, not capsule sizes")
        return cost(
            "fc",
            dims=dims or DEFAULT_FC_DIMS,
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
