"""`xncost summary MODEL`, `xncost table4`, `xncost table8`: whole-network costs.

`summary` counts one forward pass of a registry model, or of the user's own model
(`PATH.py:NAME`, `package.module:NAME`), per layer (float MACs/FLOPs, binary MACs, BOPs,
XNOR FLOPs, 1-bit parameters, memory, Eq. 9); `table4` / `table8` measure the
paper's models at the paper's input sizes beside Tables 4 and 8.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from xncost.commands.common import Fmt, emit, emit_result, emit_rich
from xncost.errors import XncostError


class Convention(str, Enum):
    ops = "ops"
    tf = "tf"
    ptflops = "ptflops"
    bnn = "bnn"


def _table_command(number: int, fmt: Fmt, out: Path) -> None:
    from xncost import render
    from xncost.files import write_atomic_many
    from xncost.profile.wholemodel import (
        build_whole_table,
        whole_table_json,
        whole_table_markdown,
        whole_table_rich,
    )

    wt = build_whole_table(number, progress=True)
    md, csv_text = whole_table_markdown(wt), render.table_csv(wt.table)
    write_atomic_many({out / f"table{number}.md": md, out / f"table{number}.csv": csv_text})
    if fmt is Fmt.table:
        emit_rich(whole_table_rich(wt))
    else:
        emit({Fmt.md: md, Fmt.csv: csv_text}.get(fmt) or whole_table_json(wt))


FORMAT_OPT = typer.Option(Fmt.table, "--format", "-f", help="Output format.")
OUT_DIR_OPT = typer.Option(Path("reports"), "--out", help="Directory for tableN.md and tableN.csv.")


def register(app: typer.Typer) -> None:
    """Add `summary`, `table4` and `table8` to the CLI."""

    @app.command("summary")
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
        convention: Convention = typer.Option(
            Convention.ops,
            "--convention",
            help="ops, tf (profiler), ptflops, or bnn (FLOPs = float MACs, BOPs = 1-bit MACs, "
            "OPs = FLOPs + BOPs/64). See docs/conventions.md.",
        ),
        word_bits: int = typer.Option(
            64, "--word-bits", min=1, help="Packed word size (power of 2)."
        ),
        variant: str = typer.Option("paper", "--variant", help="paper or code (paper models)."),
        fmt: Fmt = FORMAT_OPT,
        out: Path | None = typer.Option(None, "--out", help="Also write the output to this file."),
    ) -> None:
        """Whole-network cost per layer: float MACs/FLOPs, BOPs, XNOR FLOPs, 1-bit params,
        memory and XNOR-Net's Eq. 9 speed-up."""
        from xncost.profile import summary as sm
        from xncost.profile.loader import is_model_reference, load_model

        shape = None if input_shape is None else sm.parse_input_shape(input_shape)
        if is_model_reference(model):
            if shape is None:
                raise XncostError("your own model needs --input, e.g. --input 1x3x32x32")
            if not upsampling or variant != "paper":
                raise XncostError("--no-upsampling and --variant apply to registry models only")
            sm.check_input_shape(shape)
            net, name = load_model(model)
            s = sm.summary(net, shape, convention=convention.value, name=name, word=word_bits)
        else:
            s = sm.summarize_model(
                model,
                upsampling=upsampling,
                input_shape=shape,
                convention=convention.value,
                variant=variant,
                word=word_bits,
            )
        if fmt is Fmt.table:
            emit_result(sm.summary_markdown(s), out, rich=sm.summary_rich(s))
            return
        writers = {Fmt.md: sm.summary_markdown, Fmt.csv: sm.summary_csv}
        emit_result(writers.get(fmt, sm.summary_json)(s), out)

    @app.command("table4")
    def table4_cmd(fmt: Fmt = FORMAT_OPT, out: Path = OUT_DIR_OPT) -> None:
        """Table 4: parameters and FLOPs of the twelve models, measured, beside the paper."""
        _table_command(4, fmt, out)

    @app.command("table8")
    def table8_cmd(fmt: Fmt = FORMAT_OPT, out: Path = OUT_DIR_OPT) -> None:
        """Table 8: parameters and FLOPs of the DR models, measured, beside the paper."""
        _table_command(8, fmt, out)
