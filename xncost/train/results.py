"""Validation-training results: one appended row per run in `OUT/validation.csv`, and
`OUT/validation.md` regenerated from it. Both are written atomically (all or nothing); rows
are never overwritten. `check_output` validates OUT and the existing rows before training,
so a bad `--out` fails at once rather than after the run.

head_flops is the analytic FLOP count of the head (paper convention, batch 1) from
`xncost.accounting.breakdown`: the capsule layer's shape actually used for capsule heads
(Tables 5 and 9 count the layer only), the linear layers' dims for FC heads.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from xncost.errors import XncostError
from xncost.files import write_atomic_many

COLUMNS = (
    "head",
    "backbone",
    "dataset",
    "epochs",
    "seed",
    "accuracy",
    "params",
    "head_flops",
    "seconds",
)
CSV_NAME = "validation.csv"
MD_NAME = "validation.md"


def head_flops(layer: str, shape: Mapping[str, Any]) -> int | Any:
    """Analytic FLOPs (paper convention) of a head: `shape` holds caps_in, caps_out, dim_in,
    dim_out, iterations for a capsule layer, or dims for fc; batch is 1."""
    from xncost.accounting import breakdown
    from xncost.shapes import CapsShape, FCShape

    if layer == "fc":
        s: CapsShape | FCShape = FCShape(dims=tuple(shape["dims"]), batch=1)
    else:
        s = CapsShape(
            shape["caps_in"],
            shape["caps_out"],
            shape["dim_in"],
            shape["dim_out"],
            shape["iterations"],
            1,
        )
    return breakdown(layer, s, "paper").totals["flops"]


def make_dir(path: Path) -> None:
    """Create directory `path` (with parents) and check that files can be created in it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise XncostError(f"cannot use {path} as an output directory: it is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = (
            "a parent is not a directory"
            if isinstance(exc, (FileExistsError, NotADirectoryError))
            else exc.strerror or exc
        )
        raise XncostError(f"cannot write to directory {path}: {reason}") from None


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    """Rows of an existing results CSV (empty if the file does not exist); XncostError if it
    cannot be read, has other columns or a malformed row."""
    if not csv_path.exists():
        return []
    try:
        text = csv_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise XncostError(f"{csv_path}: cannot read ({reason})") from None
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        return []
    if tuple(reader.fieldnames) != COLUMNS:
        raise XncostError(
            f"{csv_path}: unexpected columns {','.join(reader.fieldnames)}, "
            f"expected {','.join(COLUMNS)}"
        )
    rows = list(reader)
    for line, row in enumerate(rows, start=2):
        try:
            if None in row or any(row[k] is None for k in COLUMNS):
                raise ValueError
            float(row["accuracy"])
            float(row["seconds"])
        except ValueError:
            raise XncostError(f"{csv_path}: malformed row on line {line}") from None
    return rows


def check_output(out_dir: Path) -> list[dict[str, str]]:
    """Before a run: create OUT, check that the results files can be replaced, and read
    (validate) the existing rows."""
    out_dir = Path(out_dir)
    make_dir(out_dir)
    for name in (CSV_NAME, MD_NAME):
        path = out_dir / name
        if path.exists() and not path.is_file():
            raise XncostError(f"cannot write {path}: it is not a regular file")
    return read_rows(out_dir / CSV_NAME)


def _csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in COLUMNS})
    return buf.getvalue()


def render_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The results as a markdown table (accuracy in percent, one row per run)."""
    lines = [
        "# Validation training",
        "",
        "Test accuracy of the tiny/full backbones with each head (top-1; top-2 on the",
        "multi-digit sets: both of the two largest scores are the two true classes).",
        "params = trainable parameters; head FLOPs = analytic FLOPs of the head, paper",
        "convention, batch 1; seconds = training + evaluation wall time.",
        "",
        "| head | backbone | dataset | epochs | seed | accuracy | params | head FLOPs | seconds |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        acc = f"{100 * float(r['accuracy']):.2f}%"
        lines.append(
            f"| {r['head']} | {r['backbone']} | {r['dataset']} | {r['epochs']} | {r['seed']} "
            f"| {acc} | {r['params']} | {r['head_flops']} | {float(r['seconds']):.1f} |"
        )
    return "\n".join(lines) + "\n"


def append_result(out_dir: Path, row: Mapping[str, Any]) -> Path:
    """Append `row` (keys = COLUMNS) to OUT/validation.csv and regenerate OUT/validation.md."""
    missing = [k for k in COLUMNS if k not in row]
    if missing:
        raise ValueError(f"result row lacks {', '.join(missing)}")
    out_dir = Path(out_dir)
    csv_path = out_dir / CSV_NAME
    rows: list[Mapping[str, Any]] = [*read_rows(csv_path), {k: str(row[k]) for k in COLUMNS}]
    write_atomic_many({csv_path: _csv_text(rows), out_dir / MD_NAME: render_markdown(rows)})
    return csv_path
