"""Load the user's own model for `xncost summary`: `PATH.py:NAME` or `package.module:NAME`.

NAME is an `nn.Module` instance or a callable (a class, a function) returning one when
called with no arguments. Loading a `.py` file runs that file's code, as `python PATH.py`
would (its `if __name__ == "__main__":` block excepted), with the file's directory on
`sys.path` meanwhile so that it can import its sibling modules. Every failure (missing file,
missing name, not a module, code that raises anything but KeyboardInterrupt, `sys.exit`
included) is one `XncostError` line.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch import nn

from xncost.errors import XncostError, guarded


def is_model_reference(text: str) -> bool:
    """True for `PATH.py:NAME` or `package.module:NAME` (registry names hold no colon)."""
    return ":" in text


@contextmanager
def _on_sys_path(directory: Path) -> Iterator[None]:
    """`directory` first on sys.path (as `python FILE` puts the file's own), then sys.path
    as it was."""
    saved = list(sys.path)
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        sys.path[:] = saved


def _load_file(path: Path) -> Any:
    if path.suffix != ".py":
        raise XncostError(f"{path}: a model file must be a .py file")
    if not path.is_file():
        raise XncostError(f"{path}: no such file")
    name = f"_xncost_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise XncostError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    was = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # leave no __pycache__ beside the user's file
    try:
        with _on_sys_path(path.resolve().parent):
            guarded(f"{path}: loading it failed", lambda: spec.loader.exec_module(module))
    except XncostError:
        sys.modules.pop(name, None)
        raise
    finally:
        sys.dont_write_bytecode = was
    return module


def _load_module(name: str) -> Any:
    def run() -> Any:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and name.startswith(e.name):
                raise XncostError(f"no module named {name!r}") from None
            raise

    return guarded(f"importing {name} failed", run)


def load_model(reference: str) -> tuple[nn.Module, str]:
    """The model of `PATH.py:NAME` or `package.module:NAME`, and NAME."""
    where, _, attr = reference.rpartition(":")
    if not where or not attr:
        raise XncostError(f"model reference must be PATH.py:NAME or module:NAME, got {reference!r}")
    is_path = where.endswith(".py") or "/" in where or "\\" in where
    module = _load_file(Path(where)) if is_path else _load_module(where)
    obj: Any = module
    missing = object()
    for part in attr.split("."):
        found = (
            guarded(f"{where}: reading {attr} failed", lambda o=obj, p=part: getattr(o, p, missing))
            if part.isidentifier()
            else missing
        )
        if found is missing:
            raise XncostError(f"{where} has no attribute {attr!r}")
        obj = found
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise XncostError(
                f"{where}:{attr} is not an nn.Module or a callable returning one "
                f"(it is of type {type(obj).__name__})"
            )
        obj = guarded(f"{where}:{attr}() failed", obj)
        if not isinstance(obj, nn.Module):
            raise XncostError(f"{where}:{attr}() returned a {type(obj).__name__}, not an nn.Module")
    return obj, attr
