"""`xncost summary MODEL`, `xncost table4`, `xncost table8`: whole-network costs.

`summary` counts one forward pass of a registry model per layer (float MACs/FLOPs, binary
MACs, BOPs, XNOR FLOPs, 1-bit parameters, memory, Eq. 9); `table4` / `table8` measure the
paper's models at the paper's input sizes beside Tables 4 and 8.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from xncost.commands.common import Fmt, emit_result


class Convention(str, Enum):
    ops = "ops"
    tf = "tf"
    ptflops = "ptflops"


FORMAT_OPT = typer.Option(Fmt.table, "--format", "-f", help="Output format.")


def register(app: typer.Typer) -> None:
    """Add `summary` to the CLI."""

    @app.command("summary")
    def summary_cmd(
        model: str = typer.Argument(..., help="A registry model (see `xncost models`)."),
        input_shape: str | None = typer.Option(
            None, "--input", help="Input shape BxCxHxW, e.g. 1x3x32x32 (default: the model's)."
        ),
        upsampling: bool = typer.Option(
            True, "--upsampling/--no-upsampling", help="Paper models: 224 input or the 32 one."
        ),
        convention: Convention = typer.Option(
            Convention.ops, "--convention", help="Float FLOPs: ops, tf (profiler) or ptflops."
        ),
        variant: str = typer.Option("paper", "--variant", help="paper or code (paper models)."),
        fmt: Fmt = FORMAT_OPT,
        out: Path | None = typer.Option(None, "--out", help="Also write the output to this file."),
    ) -> None:
        """Whole-network cost per layer: float MACs/FLOPs, BOPs, XNOR FLOPs, 1-bit params,
        memory and XNOR-Net's Eq. 9 speed-up."""
        from xncost.profile import summary as sm

        shape = None if input_shape is None else sm.parse_input_shape(input_shape)
        s = sm.summarize_model(
            model,
            upsampling=upsampling,
            input_shape=shape,
            convention=convention.value,
            variant=variant,
        )
        if fmt is Fmt.table:
            emit_result(sm.summary_markdown(s), out, rich=sm.summary_rich(s))
            return
        writers = {Fmt.md: sm.summary_markdown, Fmt.csv: sm.summary_csv}
        emit_result(writers.get(fmt, sm.summary_json)(s), out)
