"""Shared by every test folder (tests/ is on sys.path: pytest puts each conftest's directory
there): where the repository and the fixtures are, the command line run in-process, and the
cross-check scripts' modules."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
PUBLIC_STYLE = FIXTURES / "public_style"


def invoke(args: Sequence[Any], **kwargs: Any) -> Any:
    """`xncost ARGS...` in-process (typer's CliRunner on the whole app, as users run it):
    the result's `exit_code`, `stdout`, `stderr`, `output`."""
    from typer.testing import CliRunner

    from xncost.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


def run(*args: Any, **kwargs: Any) -> Any:
    """`invoke(args)` with the arguments spread: `run("table5", "--format", "json")`."""
    return invoke(args, **kwargs)


def crosscheck_module(name: str) -> ModuleType:
    """`benchmarks/crosscheck/NAME.py`, imported (once) as the module `NAME`."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, REPO / "benchmarks" / "crosscheck" / f"{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
