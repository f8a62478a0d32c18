"""Atomic file writes: a temporary file in the target's directory, then a rename.

A reader never sees a half-written report, and a failed run leaves no partial file. Any
OSError becomes one clear `XncostError` ("cannot write PATH: reason").
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from xncost.errors import XncostError


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()  # read once at import, while single-threaded


def _check_target(path: Path) -> None:
    if str(path) in ("", "."):
        raise XncostError("an output path must not be empty")
    if path.is_dir():
        raise XncostError(f"cannot write {path}: it is a directory")


def _stage(path: Path, data: str | bytes) -> str:
    """Write `data` to a temporary file next to `path`; return the temporary name."""
    _check_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as e:
        reason = (
            "a parent is not a directory"
            if isinstance(e, (FileExistsError, NotADirectoryError))
            else e.strerror
        )
        raise XncostError(f"cannot write {path}: {reason}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, FILE_MODE)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise XncostError(f"cannot write {path}: {e.strerror}") from None
    return tmp


def write_atomic_many(items: dict[str | os.PathLike[str], str | bytes]) -> list[Path]:
    """Write several files all or nothing: every temporary file first, then the renames."""
    staged: list[tuple[str, Path]] = []
    try:
        for target, data in items.items():
            path = Path(target)
            staged.append((_stage(path, data), path))
        for tmp, path in staged:
            try:
                os.replace(tmp, path)
            except OSError as e:
                raise XncostError(f"cannot write {path}: {e.strerror}") from None
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
    return [path for _, path in staged]


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write one file atomically."""
    return write_atomic_many({path: data})[0]
