"""Import the user's model file as its own repository runs it (docs/conventions.md, "Your own
model, unchanged").

- A file in a package directory (one holding `__init__.py`, climbing while the parents do) is
  imported as `package.module`, the package's parent on `sys.path`, so `from .binarized_modules
  import *` works; a file with relative imports outside a package gets its directory (and as
  many parents as its imports climb) as namespace packages. When a package's `__init__.py`
  fails (it imports siblings this copy lacks), the file is loaded without running it.
- The file's directory is first on `sys.path` (as `python FILE.py` puts it), the package root
  next, the working directory last; `sys.argv` is `[FILE]`, so module-level `argparse` sees
  no option of xncost's.
- A top-level module found nowhere else is looked for relative to the model file: in the
  directories its code adds to `sys.path` relative to its repository
  (`sys.path.append('./modules')`), then in the file's ancestors.
- A module missing from this environment (ModuleNotFoundError at load, not the user's own) is
  stood in for (`xncost.profile.compat.StandIn`) and the file loaded again.

Everything is undone when the outermost `scope` ends: `sys.path`, `sys.argv`,
`sys.meta_path`, and the modules imported from the user's directories are forgotten (a second
model file with a sibling of the same name gets its own).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from xncost.errors import Stopped, XncostError, first_line
from xncost.profile.compat import Accommodations, StandIn, shown_path

MAX_STANDINS = 8  # missing modules stood in for, one file load each
ANCESTORS = 3  # parents of the model file's directory searched for a missing module
MAX_PACKAGE_DEPTH = 16
SYNTHETIC = "__xncost_synthetic__"


@dataclass
class Scope:
    """One outermost scope: the user's directories (modules found there are forgotten at
    the end), the modules stood in for, the entries moved aside to make room."""

    dirs: list[Path] = field(default_factory=list)
    standins: dict[str, str] = field(default_factory=dict)
    stash: dict[str, ModuleType] = field(default_factory=dict)
    file_dir: Path | None = None
    found: set[str] = field(default_factory=set)
    before: frozenset[str] = frozenset()

    def owns(self, name: str) -> bool:
        """Whether the module `name` is the user's (found in their directories, not part of a
        package imported before the scope, such as xncost) or made by xncost."""
        module = sys.modules.get(name)
        if isinstance(module, StandIn) or _own(module, SYNTHETIC):
            return True
        top = name.partition(".")[0]
        if top in self.before and top not in self.stash:
            return False
        where = _own(module, "__file__")
        if not isinstance(where, str):
            return False
        try:
            path = Path(where).resolve()
        except (OSError, RuntimeError):
            return False
        if any(path.is_relative_to(p) for p in _installed()):
            return False
        return any(path.is_relative_to(d) for d in self.dirs)


def _own(module: Any, name: str) -> Any:
    """`module`'s own attribute `name`, read without running its code (a module-level
    `__getattr__`); None when absent."""
    try:
        return vars(module).get(name) if isinstance(module, ModuleType) else None
    except TypeError:
        return None


def _installed() -> set[Path]:
    """Where Python and its packages live (never the user's, whatever directory holds them)."""
    return {Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}}


class _Scopes:
    stack: list[Scope] = []


@contextmanager
def scope() -> Iterator[Scope]:
    """Undo, at its end, what importing user model files changed (see the module
    docstring); nested scopes are the outermost one."""
    if _Scopes.stack:
        yield _Scopes.stack[0]
        return
    saved = (list(sys.path), list(sys.argv), list(sys.meta_path))
    before = set(sys.modules)
    sc = Scope(before=frozenset(before))
    _Scopes.stack.append(sc)
    try:
        yield sc
    finally:
        _Scopes.stack.pop()
        sys.path[:], sys.argv[:], sys.meta_path[:] = saved
        for name in [n for n in sys.modules if n not in before]:
            if sc.owns(name):
                del sys.modules[name]
        sys.modules.update(sc.stash)


def _relative_level(path: Path) -> int:
    """The deepest relative import of the file (0 when none, or when it does not parse)."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError, OSError, RecursionError, MemoryError):
        return 0
    return max((n.level for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)), default=0)


def package_chain(path: Path) -> tuple[list[Path], bool]:
    """The package directories of `path`, outermost first, and whether they are real
    packages (with `__init__.py`) or namespace packages its relative imports need."""
    d = path.resolve().parent
    chain: list[Path] = []
    while (d / "__init__.py").is_file() and d.name.isidentifier() and d != d.parent:
        chain.insert(0, d)
        d = d.parent
        if len(chain) >= MAX_PACKAGE_DEPTH:
            break
    if chain:
        return chain, True
    d = path.resolve().parent
    for _ in range(min(_relative_level(path), MAX_PACKAGE_DEPTH)):
        chain.insert(0, d)
        d = d.parent
    return chain, False


def _package_names(chain: list[Path]) -> list[str]:
    """Dotted names of the chain's packages (a directory whose name is not an identifier
    gets one)."""
    parts = [d.name if d.name.isidentifier() else "_" + re.sub(r"\W", "_", d.name) for d in chain]
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


class _StandInLoader(importlib.abc.Loader):
    def __init__(self, acc: Accommodations) -> None:
        self.acc = acc

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return StandIn(spec.name, self.acc)

    def exec_module(self, module: ModuleType) -> None:
        return None


class _Finder(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path during a scope: stand-ins for the modules known missing, then a
    top-level module relative to the model file (see the module docstring)."""

    def __init__(self, sc: Scope, acc: Accommodations) -> None:
        self.sc, self.acc = sc, acc

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        top = name.partition(".")[0]
        if top in self.sc.standins:
            return importlib.util.spec_from_loader(name, _StandInLoader(self.acc), is_package=True)
        if "." in name or self.sc.file_dir is None:
            return None
        for where, d in self._candidates():
            spec = importlib.machinery.PathFinder.find_spec(name, [str(d)])
            if spec is not None:
                self._found(name, where, d)
                return spec
        return None

    def _candidates(self) -> Iterator[tuple[str, Path]]:
        base = self.sc.file_dir
        assert base is not None
        anchors = [base, *list(base.parents)[:ANCESTORS]]
        relative = [e for e in sys.path if isinstance(e, str) and e and not os.path.isabs(e)]
        for entry in dict.fromkeys(relative):
            for anchor in anchors:
                yield f"sys.path entry {entry!r}", anchor / entry
        for anchor in anchors[1:]:
            yield "an ancestor of the model file's directory", anchor

    def _found(self, name: str, where: str, d: Path) -> None:
        d = d.resolve()
        if d not in self.sc.dirs:
            self.sc.dirs.append(d)
        if name not in self.sc.found:
            self.sc.found.add(name)
            self.acc.loading.append(
                f"note: the model imports {name}, which is not on its import path as run here; "
                f"xncost found it in {shown_path(d)} ({where})."
            )


def _standable(e: ModuleNotFoundError, sc: Scope, packages: list[str]) -> str | None:
    """The missing top-level module `e` is about, when xncost may stand in for it: absent
    from this environment and not one of the user's packages."""
    top = (e.name or "").partition(".")[0]
    if not top or top in sc.standins or any(p.partition(".")[0] == top for p in packages):
        return None
    try:
        found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    return None if found else top


def import_file(path: Path, acc: Accommodations) -> ModuleType:
    """Import the model file `path` (see the module docstring); call inside `scope`."""
    if not _Scopes.stack:
        raise RuntimeError("import_file runs inside imports.scope()")
    sc = _Scopes.stack[0]
    file_dir = path.resolve().parent
    chain, real = package_chain(path)
    root = chain[0].parent if chain else file_dir
    sc.file_dir = file_dir
    for d in (file_dir, root):
        if d not in sc.dirs:
            sc.dirs.append(d)
    sys.argv[:] = [str(path)]
    sys.path[:0] = list(dict.fromkeys([str(file_dir), str(root)]))
    cwd = _cwd()
    if cwd is not None:
        if cwd not in sys.path:
            sys.path.append(cwd)
        if Path(cwd) not in sc.dirs:
            sc.dirs.append(Path(cwd))
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder(sc, acc))
    packages = _package_names(chain)
    for _ in range(MAX_STANDINS + 1):
        before = set(sys.modules)
        try:
            return _exec(path, chain, real, packages, sc, acc)
        except ModuleNotFoundError as e:
            missing = _standable(e, sc, packages)
            if missing is None:
                raise
            for name in [n for n in sys.modules if n not in before]:
                if sc.owns(name):
                    del sys.modules[name]
            sc.standins[missing] = acc.standins[missing] = first_line(e)
    raise XncostError(f"{path}: imports more than {MAX_STANDINS} modules missing here")


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None


def _exec(
    path: Path, chain: list[Path], real: bool, packages: list[str], sc: Scope, acc: Accommodations
) -> ModuleType:
    if chain:
        _packages(chain, real, packages, sc, acc, path)
        name = f"{packages[-1]}.{path.stem}"
        loaded = sys.modules.get(name)
        if loaded is not None and _same_file(loaded, path):
            return loaded
    else:
        name = f"_xncost_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise XncostError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    if chain:
        setattr(sys.modules[packages[-1]], path.stem, module)
    return module


def _same_file(module: ModuleType, path: Path) -> bool:
    where = _own(module, "__file__")
    return isinstance(where, str) and Path(where).resolve() == path.resolve()


def _packages(
    chain: list[Path],
    real: bool,
    packages: list[str],
    sc: Scope,
    acc: Accommodations,
    path: Path,
) -> None:
    """Make the chain's packages importable: the real ones imported (their `__init__.py`
    run), else, or when that fails, modules standing for the directories."""
    for name, d in zip(packages, chain, strict=True):
        held = sys.modules.get(name)
        if held is not None and not _is_package_of(held, d):
            for n in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                sc.stash.setdefault(n, sys.modules.pop(n))
    if real:
        before = set(sys.modules)
        try:
            importlib.import_module(packages[-1])
            return
        except ModuleNotFoundError as e:
            if _standable(e, sc, packages) is not None:
                raise
            failure = first_line(e)
        except (KeyboardInterrupt, Stopped):
            raise
        except BaseException as e:  # noqa: BLE001 - the user's __init__.py may raise anything
            failure = first_line(e)
        for n in [k for k in sys.modules if k not in before]:
            if sc.owns(n):
                del sys.modules[n]
        init = shown_path(chain[-1] / "__init__.py")
        acc.loading.append(
            f"note: {init} failed ({failure}); xncost loaded {path.name} without running it."
        )
    for name, d in zip(packages, chain, strict=True):
        if not _is_package_of(sys.modules.get(name), d):
            sys.modules[name] = _synthetic(name, d)


def _is_package_of(module: Any, d: Path) -> bool:
    paths = _own(module, "__path__")
    with contextlib.suppress(TypeError, OSError):
        return paths is not None and any(Path(p).resolve() == d for p in paths)
    return False


def _synthetic(name: str, d: Path) -> ModuleType:
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(d)]
    module = importlib.util.module_from_spec(spec)
    setattr(module, SYNTHETIC, True)
    return module


__all__ = ["Scope", "import_file", "package_chain", "scope"]
