"""`xncost bench`: measured speed of the packed XNOR kernels against float32 matmul."""

from __future__ import annotations

import typer

from xncost.cli.commands.common import (
    Fmt,
    RegistryChoice,
    emit,
    emit_rich,
    examples,
    format_option,
    rich_width,
)

EXAMPLES = examples(
    "xncost bench --layer gemm --shape 256x1024x256 --repeat 3",
    "xncost bench --layer xnodr --shape caps_in=256,batch=64 --torch --format md",
)


def register(app: typer.Typer) -> None:
    """Add the `bench` command to the CLI."""

    @app.command("bench", epilog=EXAMPLES)
    def bench(
        layer: str | None = typer.Option(
            None,
            "--layer",
            click_type=RegistryChoice("xncost.kernels.cases:bench_layers"),
            help="A capsule layer whose xnorized products have packed kernels, or gemm "
            "(default: all).",
        ),
        shapes: list[str] | None = typer.Option(
            None,
            "--shape",
            help="Repeatable. gemm: MxKxN (1024x4096x1024). Capsule layers: key=value list "
            "among caps_in, caps_out, dim_in, dim_out, batch; missing keys take the paper's 160, "
            "10, 8, 16, 1 (caps_in=256,batch=64). Without --layer, MxKxN runs gemm and "
            "key=value every capsule layer. Default: the paper's shapes, batch 64, and GEMMs.",
        ),
        repeat: int = typer.Option(
            7, "--repeat", help="Interleaved samples per timing (1 to 1000)."
        ),
        fmt: Fmt = format_option(),
        min_time: float = typer.Option(
            0.02,
            "--min-time",
            help="Seconds each sample lasts at least (calls are repeated), 0 to 60; the whole "
            "run may plan at most an hour.",
        ),
        torch: bool = typer.Option(
            False, "--torch/--no-torch", help="Also time torch float32 matmul."
        ),
        threads: int | None = typer.Option(
            None,
            "--threads",
            help="Threads for the binary kernels and packing, 1 to 64 (default: all CPUs if "
            "large).",
        ),
        check: bool = typer.Option(
            True, "--check/--no-check", help="Verify the binary results equal float +-1 first."
        ),
        backend: str = typer.Option(
            "auto", "--backend", help="auto (compiled if built), c or numpy."
        ),
    ) -> None:
        """Time packed XNOR-popcount kernels against float: measured vs Eqs. 9/12/15."""
        from xncost.errors import XncostError
        from xncost.kernels import bench as kb
        from xncost.kernels import bench_table as kt
        from xncost.kernels import cases as kc

        kc.check_timing(repeat, min_time)
        from xncost.kernels.packed import MAX_THREADS, resolve_backend

        if threads is not None and not 1 <= threads <= MAX_THREADS:
            raise XncostError(f"--threads must be between 1 and {MAX_THREADS}, got {threads}")
        try:
            resolve_backend(backend)
        except (ValueError, RuntimeError) as e:
            raise XncostError(f"--backend {backend}: {e}") from None
        if shapes:
            items = [
                (name, kc.parse_shape(name, spec))
                for spec in shapes
                for name in ((layer,) if layer else kc.infer_layers(spec))
            ]
        else:
            items = kb.default_items((layer,) if layer else None)
        rows = kb.run_bench(
            items,
            repeat=repeat,
            min_time=min_time,
            use_torch=torch,
            check=check,
            threads=threads,
            backend=backend,
        )
        if fmt is not Fmt.table:
            writers = {Fmt.md: kt.rows_markdown, Fmt.csv: kt.rows_csv, Fmt.json: kt.rows_json}
            emit(writers[fmt](rows))
            return
        emit_rich(kt.rows_rich(rows, rich_width()))
