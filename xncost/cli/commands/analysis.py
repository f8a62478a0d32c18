"""`xncost sweep`, `xncost audit`, `xncost explain`: shape sweeps, the paper audit, derivations.

Heavy modules (numpy, sympy, matplotlib, pyarrow) are imported inside the commands.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from xncost.cli.commands.common import (
    BATCH_OPT,
    CAPS_IN_OPT,
    CAPS_OUT_OPT,
    DIM_IN_OPT,
    DIM_OUT_OPT,
    DIMS_OPT,
    ITERATIONS_OPT,
    PRESET_OPT,
    QUIET_OPT,
    WORD_BITS_OPT,
    Conv,
    convention_option,
    examples,
    out_option,
    write_outputs,
)
from xncost.core.layers import LAYERS, caps_layers, choices_text
from xncost.errors import XncostError
from xncost.io.files import all_or_nothing
from xncost.io.progress import Progress

CAPS_LAYERS = caps_layers()
VS_CHOICES = ("fc", "dr")


class ExplainFmt(str, Enum):
    md = "md"
    json = "json"


def _echo(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _range_opt(name: str, default_text: str) -> Any:
    return typer.Option(
        None,
        f"--{name}",
        help=f"{name.replace('-', '_')}: a:b powers of two from a to b (both powers of two), "
        f"a:b:step, a,b,c or one value (default {default_text}).",
    )


@all_or_nothing("out")
def run_sweep_command(
    layer: str,
    ranges: dict[str, str | None],
    out: Path,
    convention: str = "paper",
    word_bits: int | None = None,
    vs: str | None = None,
    fc_dims: str = "1280,512,256,128,10",
    plots: bool = True,
    parquet: bool = True,
    quiet: bool = True,
) -> list[str]:
    """The sweep command as a function: writes the files, returns the summary lines."""
    from xncost.conventions import get_convention
    from xncost.core.shapes import parse_dims
    from xncost.core.sweep import (
        Grid,
        break_even,
        break_even_csv,
        decimal_text,
        dim_out_samples,
        remove_stale_outputs,
        run_sweep,
    )
    from xncost.io.files import write_atomic

    if layer not in CAPS_LAYERS:
        raise XncostError(f"sweep takes a capsule layer ({', '.join(CAPS_LAYERS)}), got {layer!r}")
    if vs is not None and vs not in VS_CHOICES:
        raise XncostError(f"--vs must be one of {', '.join(VS_CHOICES)}, got {vs!r}")
    if vs == layer:
        raise XncostError(f"--vs {vs} compares {layer} with itself")
    conv = get_convention(convention, word_bits)
    dims = parse_dims(fc_dims)
    grid = Grid.from_ranges(**ranges)
    if plots:
        from xncost.core.plots import require_matplotlib

        require_matplotlib()
        grid.check_plottable()
    with Progress(f"sweep {layer}", total=len(grid), quiet=quiet) as bar:
        result = run_sweep(layer, grid, out, conv, vs, dims, parquet=parquet, progress=bar.advance)
    lines = [
        f"{layer}: {result.rows:,} shapes ({result.exact_rows:,} evaluated on Python ints "
        "because int64 could overflow)"
    ]
    fixed = grid.fixed()
    samples = dim_out_samples(grid.axes["dim_out"])
    versus = [v for v in VS_CHOICES if v != layer]
    curves = [break_even(layer, v, fixed, samples, conv, dims) for v in versus]
    be_csv = break_even_csv(curves, grid.axes["dim_out"])
    be_path = write_atomic(Path(out) / f"breakeven_{layer}.csv", be_csv)
    result.files.append(be_path)
    for c in curves:
        found = [(e, r) for e, r in c.points if r is not None]
        at = f"(at {c.held_fixed()})"
        if not found:
            how = "more" if c.costlier_without_root else "less"
            lines.append(f"break-even {layer} = {c.vs}: none, {layer} costs {how} at every N {at}")
            continue
        if c.formula is not None:
            lines.append(f"break-even {layer} = {c.vs}: N* = {c.formula} {at}")
        else:
            lines.append(f"break-even {layer} = {c.vs} {at}:")
        on_grid = [(e, r) for e, r in found if e in grid.axes["dim_out"]]
        if len(on_grid) > 8:
            on_grid = [on_grid[round(k * (len(on_grid) - 1) / 7)] for k in range(8)]
        shown = ", ".join(f"E={e}: {decimal_text(r, 2)}" for e, r in on_grid)
        lines.append(f"  N* at dim_out {shown} (all: breakeven_{layer}.csv)" if shown else "")
    if plots:
        from xncost.core import plots as P

        caps_ins = grid.axes["caps_in"]
        dim_outs = grid.axes["dim_out"]
        result.files.append(
            P.cost_plot(
                layer, caps_ins, dim_outs, fixed, Path(out) / f"cost_{layer}.png", conv, vs, dims
            )
        )
        result.files.append(
            P.break_even_plot(curves, Path(out) / f"breakeven_{layer}.png", dim_outs)
        )
        if LAYERS[layer].speedup is not None:
            result.files.append(
                P.speedup_plot(
                    layer,
                    caps_ins,
                    dim_outs,
                    fixed,
                    Path(out) / f"speedup_{layer}.png",
                    conv.word_bits,
                )
            )
    remove_stale_outputs(Path(out), layer, result.files)
    lines += result.notes
    lines += [f"wrote {p}" for p in result.files]
    return [line for line in lines if line]


def register(app: typer.Typer) -> None:
    """Add `sweep`, `audit` and `explain` to the CLI."""

    @app.command(
        "sweep",
        epilog=examples(
            "xncost sweep xnidr --caps-in 8:2048 --dim-out 4:32 --vs fc --out sweeps",
            "xncost sweep dr --caps-in 32,64 --no-plots --no-parquet --out sweeps",
        ),
    )
    def sweep_cmd(
        layer: str = typer.Argument(..., help=f"{choices_text(CAPS_LAYERS)}."),
        caps_in: str | None = _range_opt("caps-in", "160"),
        caps_out: str | None = _range_opt("caps-out", "10"),
        dim_in: str | None = _range_opt("dim-in", "8"),
        dim_out: str | None = _range_opt("dim-out", "16"),
        iterations: str | None = _range_opt("iterations", "3"),
        batch: str | None = _range_opt("batch", "1"),
        convention: Conv = convention_option(),
        word_bits: int = WORD_BITS_OPT,
        vs: str | None = typer.Option(None, "--vs", help="Compare with fc (the FC head) or dr."),
        fc_dims: str = typer.Option(
            "1280,512,256,128,10", "--fc-dims", help="FC head sizes for --vs fc and break-even."
        ),
        out: Path = typer.Option(..., "--out", help="Output directory: CSV, Parquet, PNG."),
        no_plots: bool = typer.Option(False, "--no-plots", help="Skip the PNG plots."),
        no_parquet: bool = typer.Option(False, "--no-parquet", help="Skip the Parquet file."),
        quiet: bool = QUIET_OPT,
    ) -> None:
        """Exact per-step counts over a grid of shapes; CSV/Parquet, break-even and plots."""
        ranges = {
            "caps_in": caps_in,
            "caps_out": caps_out,
            "dim_in": dim_in,
            "dim_out": dim_out,
            "iterations": iterations,
            "batch": batch,
        }
        lines = run_sweep_command(
            layer,
            ranges,
            out,
            convention.value,
            word_bits,
            vs,
            fc_dims,
            plots=not no_plots,
            parquet=not no_parquet,
            quiet=quiet,
        )
        _echo("\n".join(lines))

    @app.command("audit", epilog=examples("xncost audit", "xncost audit --out reports"))
    def audit_cmd(out: Path | None = out_option("audit.md")) -> None:
        """Check every printed number of Tables 5, 7, 9 and solve each mismatch (markdown)."""
        from xncost.paper.audit import audit_markdown

        text = audit_markdown()
        write_outputs(out, {"audit.md": text})
        _echo(text)

    @app.command(
        "explain",
        epilog=examples(
            "xncost explain xnodr --caps-in 256 --convention ops",
            "xncost explain fc --dims 1280,512,10 --format json",
        ),
    )
    def explain_cmd(
        layer: str = typer.Argument(..., help=f"{choices_text()}."),
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
        fmt: ExplainFmt = typer.Option(ExplainFmt.md, "--format", "-f", help="md or json."),
    ) -> None:
        """The per-step derivation of one layer's cost: formulas, numbers, totals, speed-up."""
        from xncost.cli.commands.common import breakdown_from_options
        from xncost.core.explain import explain, explain_json, explain_markdown

        b = breakdown_from_options(
            layer,
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
        e = explain(layer, b.shape, b.convention)
        _echo(explain_json(e) if fmt is ExplainFmt.json else explain_markdown(e))
