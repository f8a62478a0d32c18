"""Validation-training results: one appended row per run in `OUT/validation.csv`, and
`OUT/validation.md` regenerated from it. Both are written together, all or nothing; rows
are never overwritten. `check_output` validates OUT and the existing rows before training,
without creating anything, so a bad `--out` fails at once rather than after the run.

head_flops is the analytic FLOP count of the head (paper convention, batch 1) from
`xncost.core.accounting.breakdown`: the capsule layer's shape actually used for capsule heads
(Tables 5 and 9 count the layer only), the linear layers' dims for FC heads.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from xncost.errors import XncostError
from xncost.io.files import check_name, locked, write_atomic_many

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
    "images_per_second",
)
LEGACY_COLUMNS = COLUMNS[:-1]  # files written before images_per_second was recorded
CSV_NAME = "validation.csv"
MD_NAME = "validation.md"
MAX_CSV_BYTES = 64 << 20  # a results file read whole: about half a million rows


def head_flops(layer: str, shape: Mapping[str, Any]) -> int | Any:
    """Analytic FLOPs (paper convention) of a head: `shape` holds caps_in, caps_out, dim_in,
    dim_out, iterations for a capsule layer, or dims for fc; batch is 1."""
    from xncost.core.accounting import breakdown
    from xncost.core.shapes import CapsShape, FCShape

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


def missing_dirs(path: Path) -> list[Path]:
    """The directories that writing into `path` would create, deepest first; XncostError if
    a component is not a directory or the nearest existing one is not writable."""
    path = Path(path)
    check_name(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            raise XncostError(f"cannot use {path} as a directory: {probe} is a broken link")
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        where = "it is" if probe == path else f"{probe} is"
        raise XncostError(f"cannot use {path} as a directory: {where} not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise XncostError(f"cannot write to directory {probe}: permission denied")
    return missing


def make_dirs(path: Path) -> None:
    """Create `path` with its parents (XncostError on an OSError)."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = (
            "a file is in the way"
            if isinstance(exc, (FileExistsError, NotADirectoryError))
            else exc.strerror or exc
        )
        raise XncostError(f"cannot create directory {path}: {reason}") from None


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    """Rows of an existing results CSV (empty if the file does not exist); XncostError if it
    cannot be read, has other columns or a malformed row."""
    if not csv_path.exists():
        return []
    try:
        with open(csv_path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_CSV_BYTES:
                raise XncostError(
                    f"{csv_path}: {size:,} bytes, more than the {MAX_CSV_BYTES:,} a results "
                    "file may hold; start a new --out directory"
                )
            data = f.read(MAX_CSV_BYTES + 1)
        if len(data) > MAX_CSV_BYTES:
            raise XncostError(f"{csv_path}: more than {MAX_CSV_BYTES:,} bytes")
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise XncostError(f"{csv_path}: cannot read ({reason})") from None
    reader = csv.DictReader(io.StringIO(text))
    try:
        fieldnames = reader.fieldnames
        if fieldnames is None:
            return []
        if tuple(fieldnames) not in (COLUMNS, LEGACY_COLUMNS):
            raise XncostError(
                f"{csv_path}: unexpected columns {','.join(fieldnames)[:200]}, "
                f"expected {','.join(COLUMNS)}"
            )
        rows = [{"images_per_second": ""} | row for row in reader]
    except csv.Error as exc:  # e.g. a field longer than csv.field_size_limit()
        raise XncostError(f"{csv_path}: malformed CSV ({exc})") from None
    for line, row in enumerate(rows, start=2):
        try:
            if None in row or any(row[k] is None for k in COLUMNS):
                raise ValueError
            for key in ("accuracy", "seconds", "images_per_second"):
                if row[key] or key != "images_per_second":
                    float(row[key])
        except ValueError:
            raise XncostError(f"{csv_path}: malformed row on line {line}") from None
    return rows


def check_output(out_dir: Path) -> list[Path]:
    """Before a run: check that OUT can hold the results files and that the existing rows
    are valid; return the directories the results would create (`missing_dirs`)."""
    out_dir = Path(out_dir)
    created = missing_dirs(out_dir)
    for name in (CSV_NAME, MD_NAME):
        path = out_dir / name
        if path.exists() and not path.is_file():
            raise XncostError(f"cannot write {path}: it is not a regular file")
    read_rows(out_dir / CSV_NAME)
    return created


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
        "convention, batch 1; seconds = training + evaluation wall time; images/s = training",
        "images per second over all processes (machine-dependent, like seconds).",
        "",
        "| head | backbone | dataset | epochs | seed | accuracy | params | head FLOPs | seconds "
        "| images/s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        acc = f"{100 * float(r['accuracy']):.2f}%"
        ips = f"{float(r['images_per_second']):.0f}" if r["images_per_second"] else "-"
        lines.append(
            f"| {r['head']} | {r['backbone']} | {r['dataset']} | {r['epochs']} | {r['seed']} "
            f"| {acc} | {r['params']} | {r['head_flops']} | {float(r['seconds']):.1f} "
            f"| {ips} |"
        )
    return "\n".join(lines) + "\n"


def append_result(out_dir: Path, row: Mapping[str, Any]) -> Path:
    """Append `row` (keys = COLUMNS) to OUT/validation.csv and regenerate OUT/validation.md.

    The read of the existing rows and the publish of both files happen under OUT's lock
    (`xncost.io.files.locked`), so runs appending at once each add their row."""
    missing = [k for k in COLUMNS if k not in row]
    if missing:
        raise ValueError(f"result row lacks {', '.join(missing)}")
    out_dir = Path(out_dir)
    csv_path = out_dir / CSV_NAME
    make_dirs(out_dir)
    with locked(out_dir):
        rows: list[Mapping[str, Any]] = [*read_rows(csv_path), {k: str(row[k]) for k in COLUMNS}]
        write_atomic_many({csv_path: _csv_text(rows), out_dir / MD_NAME: render_markdown(rows)})
    return csv_path
