"""`xncost summary MODEL`: whole-network costs.

`summary` counts one forward pass of a registry model, or of the user's own model
(`PATH.py:NAME`, `package.module:NAME`), per layer (what its products are, float MACs/FLOPs,
binary MACs, BOPs, XNOR FLOPs, 1-bit parameters, memory, Eq. 9), built and run under a fixed
seed. It prints; with `--out DIR` it also writes DIR/summary_MODEL.EXT (`file_stem`). Its
`--convention` takes the whole-model conventions of the registry, not `cost`'s:
docs/conventions.md.
Tables 4 and 8: xncost/cli/commands/tables.py.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path, PurePath

import typer

from xncost.cli.commands.common import (
    FILE_EXT,
    Fmt,
    ModelConv,
    convention_help,
    emit_result,
    examples,
    format_option,
    out_option,
    rich_width,
)
from xncost.conventions import MODEL_CONVENTIONS
from xncost.errors import XncostError

CONVENTION_OPT = typer.Option(
    ModelConv.ops,
    "--convention",
    help=convention_help(MODEL_CONVENTIONS) + " See docs/conventions.md.",
)
OUT_SUMMARY = out_option(
    "summary_MODEL.EXT, for your own model summary_FILE_NAME.EXT (FILE the .py file's stem or "
    "the module; EXT from --format: md for table and md, csv or json)"
)
EXAMPLES = examples(
    "xncost summary nin-xnor",
    "xncost summary mobilenet_xnidr --no-upsampling -f csv",
    "xncost summary nin --out reports",
    "xncost summary xncost.models.bireal:BiRealNet --input 1x3x224x224 --convention bnn "
    "--depth 1",
)


def file_stem(model: str) -> str:
    """`summary_MODEL` for a registry name; for your own model `summary_WHERE_NAME`, WHERE the
    file's stem (`PATH.py`) or the module (`package.module`), NAME with its arguments (`ARGS`)
    if called, so that two models named alike in two files write two files."""
    if ":" not in model:
        return f"summary_{model}"
    head, _, call = model.partition("(")
    where, _, attr = head.rpartition(":")
    if where.endswith(".py") or "/" in where or "\\" in where:
        where = PurePath(where.replace("\\", "/")).stem
    return "summary_" + "_".join(filter(None, (_safe(where), _safe(attr), _safe(call))))


def _safe(text: str) -> str:
    """`text` as part of a file name: runs of anything but letters, digits, `.`, `-` as `_`."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_.")


def register(app: typer.Typer) -> None:
    """Add `summary` to the CLI."""

    @app.command("summary", epilog=EXAMPLES)
    def summary_cmd(
        model: str = typer.Argument(
            ...,
            help="A registry model (see `xncost models`), or your own: PATH.py:NAME or "
            "package.module:NAME, NAME an nn.Module or a callable returning one; "
            "NAME(ARGS) calls it with Python literals, e.g. \"net.py:resnet(depth=18)\" "
            "(loading a .py runs its code).",
        ),
        input_shape: str | None = typer.Option(
            None,
            "--input",
            help="Input shape BxCxHxW, e.g. 1x3x32x32, or one per model input, comma-separated "
            "(1x3x32x32,1x10) (default: the registry model's; required for your own model).",
        ),
        upsampling: bool = typer.Option(
            True, "--upsampling/--no-upsampling", help="Paper models: 224 input or the 32 one."
        ),
        convention: ModelConv = CONVENTION_OPT,
        word_bits: int | None = typer.Option(
            None,
            "--word-bits",
            min=1,
            help="Packed word size (power of 2); default 64, or the word the convention fixes.",
        ),
        variant: str = typer.Option("paper", "--variant", help="paper or code (paper models)."),
        binary: list[str] = typer.Option(
            [],
            "--binary",
            metavar="PATTERN",
            help="Modules whose weights were binarized outside forward (by a training loop): "
            "a class name or a pattern on qualified module names (features.*.conv); repeatable. "
            "Their weights count as binary up to scale, one 32-bit scale per output channel.",
        ),
        depth: int | None = typer.Option(
            None,
            "--depth",
            min=1,
            help="Fold the per-layer table at this depth of the module names (totals "
            "unchanged).",
        ),
        fmt: Fmt = format_option(),
        out: Path | None = OUT_SUMMARY,
        timeout: float | None = typer.Option(
            None,
            "--timeout",
            help="Your own model (PATH.py:NAME or module:NAME): seconds its code may run "
            "(loading and counting), more than 0; default no limit.",
        ),
    ) -> None:
        """Whole-network cost per layer: what each product is (1-bit, binary-weight, float,
        ...), float MACs/FLOPs, BOPs, XNOR FLOPs, 1-bit params, memory and XNOR-Net's Eq. 9
        speed-up. 1-bit work is found by itself; the model is built and run under a fixed
        seed."""
        from xncost.paper.comparisons import annotate
        from xncost.profile import summary as sm
        from xncost.profile.loader import check_timeout, is_model_reference, user_code

        if timeout is not None and not is_model_reference(model):
            raise XncostError(
                "--timeout applies to your own model (PATH.py:NAME or module:NAME) only"
            )
        # every call into the user's model runs contained (xncost.profile.loader.user_code)
        guard = user_code(model, check_timeout(timeout)) if is_model_reference(model) else None
        with guard if guard is not None else contextlib.nullcontext():
            s = sm.summarize_reference(
                model,
                None if input_shape is None else sm.parse_input_shapes(input_shape),
                convention=convention.value,
                word=word_bits,
                binary=binary,
                upsampling=upsampling,
                variant=variant,
            )
        if depth is not None:
            s = s.folded(depth)
        s = annotate(s)
        name = f"{file_stem(model)}.{FILE_EXT[fmt]}"
        if fmt is Fmt.table:
            emit_result(
                sm.summary_markdown(s), out, rich=sm.summary_rich(s, rich_width()), name=name
            )
            return
        writers = {Fmt.md: sm.summary_markdown, Fmt.csv: sm.summary_csv}
        emit_result(writers.get(fmt, sm.summary_json)(s), out, name=name)
