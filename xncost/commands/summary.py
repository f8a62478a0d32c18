"""`xncost summary MODEL`: whole-network costs.

`summary` counts one forward pass of a registry model, or of the user's own model
(`PATH.py:NAME`, `package.module:NAME`), per layer (float MACs/FLOPs, binary MACs, BOPs,
XNOR FLOPs, 1-bit parameters, memory, Eq. 9). It prints; with `--out DIR` it also writes
DIR/summary_MODEL.EXT. Its `--convention` takes the whole-model conventions (ops, tf, ptflops,
bnn), not `cost`'s paper|ops: docs/conventions.md. Tables 4 and 8: xncost/commands/tables.py.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from xncost.commands.common import (
    FILE_EXT,
    Fmt,
    emit_result,
    examples,
    format_option,
    out_option,
    rich_width,
)
from xncost.errors import XncostError


class Convention(str, Enum):
    ops = "ops"
    tf = "tf"
    ptflops = "ptflops"
    bnn = "bnn"


CONVENTION_OPT = typer.Option(
    Convention.ops,
    "--convention",
    help="Prices of the whole model: ops (one FLOP per primitive), tf (profiler), ptflops, or "
    "bnn (FLOPs = float MACs, BOPs = 1-bit MACs, OPs = FLOPs + BOPs/64). See "
    "docs/conventions.md.",
)
OUT_SUMMARY = out_option("summary_MODEL.EXT (EXT from --format: md, csv or json)")
EXAMPLES = examples(
    "xncost summary nin-xnor",
    "xncost summary mobilenet_xnidr --no-upsampling -f csv",
    "xncost summary nin --out reports",
)


def file_stem(model: str) -> str:
    """`summary_MODEL` for a registry name; for `PATH.py:NAME` / `module:NAME`, NAME."""
    return "summary_" + model.rpartition(":")[2]


def register(app: typer.Typer) -> None:
    """Add `summary` to the CLI."""

    @app.command("summary", epilog=EXAMPLES)
    def summary_cmd(
        model: str = typer.Argument(
            ...,
            help="A registry model (see `xncost models`), or your own: PATH.py:NAME or "
            "package.module:NAME, NAME an nn.Module or a callable returning one "
            "(loading a .py runs its code).",
        ),
        input_shape: str | None = typer.Option(
            None,
            "--input",
            help="Input shape BxCxHxW, e.g. 1x3x32x32 (default: the registry model's; "
            "required for your own model).",
        ),
        upsampling: bool = typer.Option(
            True, "--upsampling/--no-upsampling", help="Paper models: 224 input or the 32 one."
        ),
        convention: Convention = CONVENTION_OPT,
        word_bits: int = typer.Option(
            64, "--word-bits", min=1, help="Packed word size (power of 2)."
        ),
        variant: str = typer.Option("paper", "--variant", help="paper or code (paper models)."),
        fmt: Fmt = format_option(),
        out: Path | None = OUT_SUMMARY,
        timeout: float | None = typer.Option(
            None,
            "--timeout",
            help="Your own model: seconds its code may run (loading and counting); "
            "default no limit.",
        ),
    ) -> None:
        """Whole-network cost per layer: float MACs/FLOPs, BOPs, XNOR FLOPs, 1-bit params,
        memory and XNOR-Net's Eq. 9 speed-up."""
        from xncost.profile import summary as sm
        from xncost.profile.loader import check_timeout, is_model_reference, load_model, user_code

        shape = None if input_shape is None else sm.parse_input_shape(input_shape)
        if is_model_reference(model):
            if shape is None:
                raise XncostError("your own model needs --input, e.g. --input 1x3x32x32")
            if not upsampling or variant != "paper":
                raise XncostError("--no-upsampling and --variant apply to registry models only")
            sm.check_input_shape(shape)
            limit = check_timeout(timeout)
            with user_code(model, limit):  # every call into the model: xncost.profile.loader
                net, name = load_model(model, limit)
                s = sm.summary(net, shape, convention=convention.value, name=name, word=word_bits)
        else:
            if timeout is not None:
                raise XncostError("--timeout applies to your own model (PATH.py:NAME) only")
            s = sm.summarize_model(
                model,
                upsampling=upsampling,
                input_shape=shape,
                convention=convention.value,
                variant=variant,
                word=word_bits,
            )
        name = f"{file_stem(model)}.{FILE_EXT[fmt]}"
        if fmt is Fmt.table:
            emit_result(
                sm.summary_markdown(s), out, rich=sm.summary_rich(s, rich_width()), name=name
            )
            return
        writers = {Fmt.md: sm.summary_markdown, Fmt.csv: sm.summary_csv}
        emit_result(writers.get(fmt, sm.summary_json)(s), out, name=name)
