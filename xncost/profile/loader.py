"""Load the user's own model for `xncost summary`: `PATH.py:NAME` or `package.module:NAME`,
optionally called with literal arguments, `PATH.py:NAME(dataset='cifar10', depth=18)`.

NAME is an `nn.Module` instance or a callable (a class, a function) returning one when
called (with no arguments, or the ones given). Loading a `.py` file runs that file's code as
its repository would (`xncost.profile.imports`: packages and relative imports, sibling
modules, missing modules stood in for; its `if __name__ == "__main__":` block excepted), on
the CPU with legacy autograd Functions accommodated (`xncost.profile.compat`). A model
wrapped in `nn.DataParallel` / `DistributedDataParallel` is counted unwrapped. Every failure
(missing file, missing name, not a module, code that raises anything but KeyboardInterrupt,
`sys.exit` included) is one `XncostError` line.

Every call xncost makes into the user's code (loading, the factory, `parameters()`,
`modules()`, `named_children()`, `scales=` callbacks, the forward pass) runs inside
`user_code`: see there for what it contains.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import os
import signal
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from xncost.errors import Stopped, XncostError, first_line, guarded
from xncost.io import progress, signals
from xncost.profile import compat, imports

MAX_CAPTURED_BYTES = 1 << 16  # of what the user's code writes to descriptor 1, shown on stderr
MAX_TIMEOUT = 7 * 24 * 3600


class _Refused(Stopped):
    """The user's code called something that would end or split the process."""


class _TimedOut(Stopped):
    """The user's code ran past `--timeout`."""


def _refusal(name: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        shown = ", ".join(map(repr, args))[:40]
        raise _Refused(f"the model called {name}({shown}), which xncost does not allow")

    return refuse


# the real timer, for `--timeout` while the model's own calls to it are refused
_setitimer = signal.setitimer


def _own_process(pid: int) -> bool:
    return pid in (0, -1, os.getpid(), -os.getpid(), os.getpgrp())


def _kill_guard(real: Callable[..., Any], name: str) -> Callable[..., Any]:
    def kill(pid: int, sig: int) -> Any:
        if _own_process(pid):
            raise _Refused(f"the model called {name}({pid}, {sig}), which xncost does not allow")
        return real(pid, sig)

    return kill


class _Notes(io.TextIOBase):
    """What the user's code prints: lines on stderr (held back like progress notes)."""

    def __init__(self) -> None:
        self.pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        if len(self.pending) > MAX_CAPTURED_BYTES:
            lines.append(self.pending)
            self.pending = ""
        for line in lines:
            progress.note(line)
        return len(text)

    def close_lines(self) -> None:
        if self.pending:
            progress.note(self.pending)
            self.pending = ""


@contextmanager
def _descriptor_1_captured() -> Iterator[None]:
    """Descriptor 1 (C code's stdout) into a temporary file while the block runs; its text,
    bounded, becomes notes on stderr afterwards."""
    try:
        saved = os.dup(1)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        try:
            os.dup2(tmp.fileno(), 1)
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            data = tmp.read(MAX_CAPTURED_BYTES)
            for line in data.decode("utf-8", "replace").splitlines():
                progress.note(line)


@contextmanager
def _working_directory_kept() -> Iterator[None]:
    """The working directory as it was, whatever the block's code does with os.chdir."""
    try:
        fd = os.open(".", os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.fchdir(fd)
        os.close(fd)


# what ends or splits the process, or signals it (a timer's signal included), by module
_REFUSED = {
    os: ("_exit", "abort", "fork", "forkpty"),
    signal: ("alarm", "setitimer", "raise_signal", "pthread_kill"),
}


@contextmanager
def _process_calls_refused() -> Iterator[None]:
    """os._exit, os.abort, os.fork, os.forkpty, signals to this process (os.kill, os.killpg,
    signal.raise_signal, signal.pthread_kill) and timers that signal it (signal.alarm,
    signal.setitimer) raise `_Refused`."""
    saved = {
        (module, n): getattr(module, n)
        for module, names in (*_REFUSED.items(), (os, ("kill", "killpg")))
        for n in names
        if hasattr(module, n)
    }
    for module, names in _REFUSED.items():
        for n in names:
            if (module, n) in saved:
                setattr(module, n, _refusal(f"{module.__name__}.{n}"))
    for n in ("kill", "killpg"):
        if (os, n) in saved:
            setattr(os, n, _kill_guard(saved[os, n], f"os.{n}"))
    try:
        yield
    finally:
        for (module, n), fn in saved.items():
            setattr(module, n, fn)


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise `_TimedOut` in the block after `seconds` (SIGALRM; main thread only)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _TimedOut()

    before = signal.signal(signal.SIGALRM, expire)
    _setitimer(signal.ITIMER_REAL, seconds, 1.0)  # again each second if it is caught
    try:
        yield
    finally:
        _setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


class _Depth:
    value = 0


@contextmanager
def user_code(what: str, timeout: float | None = None) -> Iterator[None]:
    """Run the user's code in the block, contained:

    - what it prints (sys.stdout and descriptor 1) goes to stderr, never into the command's
      output (`--format json|csv`);
    - it runs as public model code runs here (`compat.session`), and what importing it
      changed (`sys.path`, `sys.argv`, its modules) is undone afterwards (`imports.scope`);
    - os._exit, os.abort, os.fork, signals to this process and timers (signal.alarm,
      signal.setitimer) raise instead; the working directory and the SIGINT/SIGTERM handlers
      are restored afterwards;
    - `timeout` seconds (the `--timeout` option) bound the block;
    - a SIGINT or SIGTERM received while it runs ends the block with `Interrupted`, even if
      the code caught the KeyboardInterrupt; a KeyboardInterrupt the code raised itself (no
      signal received) is an error line;
    - anything else it raises becomes one `XncostError` line `what: Type: message` (an
      XncostError passes as it is).
    Nested blocks are part of the outermost one.
    """
    if _Depth.value:
        with _translated(what, timeout):
            yield
        return
    notes = _Notes()
    _Depth.value += 1
    try:
        sys.stdout.flush()
        with (
            _signals_kept(what),
            _translated(what, timeout),
            _working_directory_kept(),
            signals.saved_handlers(),
            _process_calls_refused(),
            contextlib.redirect_stdout(notes),
            _descriptor_1_captured(),
            imports.scope(),
            compat.session(),
            _time_limit(timeout),
        ):
            yield
    finally:
        _Depth.value -= 1
        notes.close_lines()


@contextmanager
def _signals_kept(what: str) -> Iterator[None]:
    """A signal received in the block ends it with `Interrupted` however the block's code
    handled it; a KeyboardInterrupt raised with no signal received is an `XncostError`."""
    since = signals.received()
    with signals.handled():  # the library: SIGINT/SIGTERM counted while the block runs
        try:
            yield
        except KeyboardInterrupt as e:
            if signals.caused_by_signal(since):
                raise
            raise XncostError(
                f"{what}: the model raised {first_line(e)} itself (no signal was received)"
            ) from None
        except BaseException:
            if signals.received() > since:  # caught by the code, then something else raised
                raise signals.Interrupted("a signal") from None
            raise
        if signals.received() > since:  # caught by the code, which then returned
            raise signals.Interrupted("a signal")


@contextmanager
def _translated(what: str, timeout: float | None) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        raise
    except XncostError as e:
        hint = _hint(e)
        if not hint or hint in str(e):
            raise
        raise type(e)(f"{e}{hint}") from None
    except _TimedOut:
        if timeout is None:  # a nested block: the outermost one, which set the limit, says so
            raise
        raise XncostError(f"{what}: did not finish within --timeout {timeout:g} s") from None
    except _Refused as e:
        raise XncostError(f"{what}: {e}") from None
    except BaseException as e:  # noqa: BLE001 - the user's code may raise anything
        raise XncostError(f"{what}: {first_line(e)}{_hint(e)}") from None


def _hint(e: BaseException) -> str:
    """What the running session knows of the failure `e`: modules the model used but this
    environment lacks (`compat.StandIn`), an option its command-line options lack."""
    acc = compat.current()
    return "" if acc is None else acc.missing_hint() + acc.options_hint(e)


def check_timeout(seconds: float | None) -> float | None:
    """A `--timeout` value: None, or seconds in (0, MAX_TIMEOUT]."""
    if seconds is None:
        return None
    if not 0 < seconds <= MAX_TIMEOUT:
        raise XncostError(
            f"--timeout must be more than 0 and at most {MAX_TIMEOUT} seconds, got {seconds:g}"
        )
    return seconds


def is_model_reference(text: str) -> bool:
    """True for `PATH.py:NAME` or `package.module:NAME` (registry names hold no colon)."""
    return ":" in text


def _load_file(path: Path, acc: compat.Accommodations) -> Any:
    if path.suffix != ".py":
        raise XncostError(f"{path}: a model file must be a .py file")
    if not path.is_file():
        raise XncostError(f"{path}: no such file")
    was = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # leave no __pycache__ beside the user's file
    try:
        return guarded(f"{path}: loading it failed", lambda: imports.import_file(path, acc))
    finally:
        sys.dont_write_bytecode = was


def _load_module(name: str) -> Any:
    def run() -> Any:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and name.startswith(e.name):
                raise XncostError(f"no module named {name!r}") from None
            raise

    return guarded(f"importing {name} failed", run)


def load_model(reference: str, timeout: float | None = None) -> tuple[nn.Module, str]:
    """The model of `PATH.py:NAME[(ARGS)]` or `package.module:NAME[(ARGS)]`, and its label
    (NAME with the arguments as given); loaded inside `user_code` (`timeout` seconds at
    most)."""
    with user_code(reference, timeout):
        return _load_model(reference)


@dataclass(frozen=True)
class Reference:
    """A parsed model reference: where (a .py path or a module), the attribute path NAME,
    and the literal arguments to call it with (`called`: written with parentheses)."""

    where: str
    attr: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    called: bool = False

    @property
    def label(self) -> str:
        if not self.called:
            return self.attr
        shown = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"{self.attr}({', '.join(shown)})"

    @property
    def is_path(self) -> bool:
        return self.where.endswith(".py") or "/" in self.where or "\\" in self.where


def parse_reference(reference: str) -> Reference:
    """`WHERE:NAME` or `WHERE:NAME(ARGS)`, ARGS Python literals (numbers, strings, True,
    False, None, tuples, lists, dicts), positional or keyword."""
    head, paren, call = reference.partition("(")
    where, _, attr = head.rpartition(":")
    if not where or not attr.strip():
        raise XncostError(f"model reference must be PATH.py:NAME or module:NAME, got {reference!r}")
    if ".py:" in where:
        raise XncostError(
            f"model reference must be PATH.py:NAME, one colon (NAME.attr for an attribute), "
            f"got {reference!r}"
        )
    if not paren:
        return Reference(where, attr)
    attr = attr.strip()
    try:
        node = ast.parse(f"_({call}", mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        node = None
    keys = [] if not isinstance(node, ast.Call) else [k.arg for k in node.keywords]
    if not isinstance(node, ast.Call) or None in keys or len(set(keys)) < len(keys):
        raise XncostError(
            f"cannot read the arguments of {reference!r}: write NAME(arg, key=value, ...)"
        )
    try:
        args = tuple(_literal(a) for a in node.args)
        kwargs = tuple((k.arg, _literal(k.value)) for k in node.keywords)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        raise XncostError(
            f"the arguments of {reference!r} must be Python literals (numbers, strings, True, "
            "False, None, tuples, lists, dicts)"
        ) from None
    return Reference(where, attr, args, kwargs, called=True)


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Starred):
        raise ValueError("starred argument")
    return ast.literal_eval(node)


def _load_model(reference: str) -> tuple[nn.Module, str]:
    acc = compat.current()
    if acc is None:
        raise RuntimeError("a model loads inside user_code")
    with compat.on_the_cpu(acc):
        return _load_on_the_cpu(reference, acc)


def _load_on_the_cpu(reference: str, acc: compat.Accommodations) -> tuple[nn.Module, str]:
    ref = parse_reference(reference)
    where, attr = ref.where, ref.attr
    module = _load_file(Path(where), acc) if ref.is_path else _load_module(where)
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
    if isinstance(obj, nn.Module):
        if ref.called:
            raise XncostError(f"{where}:{attr} is an nn.Module instance; it takes no arguments")
        return _unwrapped(obj), ref.label
    if not callable(obj):
        raise XncostError(
            f"{where}:{attr} is not an nn.Module or a callable returning one "
            f"(it is of type {type(obj).__name__})"
        )
    _check_call(obj, ref)
    kwargs = dict(ref.kwargs)
    call = ref.label if ref.called else f"{attr}()"
    # called bare, a factory taking arguments is told how to pass them when it fails
    hint = (
        f"; pass its arguments as {where}:{attr}({_argument_names(obj)})"
        if not ref.called and _takes_arguments(obj)
        else ""
    )
    try:
        built = guarded(f"{where}:{call} failed", lambda: obj(*ref.args, **kwargs))
    except XncostError as e:
        if not hint:
            raise
        raise XncostError(f"{e}{hint}") from None
    if not isinstance(built, nn.Module):
        raise XncostError(
            f"{where}:{call} returned {_article(type(built).__name__)}, not an nn.Module{hint}"
        )
    return _unwrapped(built), ref.label


def _article(noun: str) -> str:
    """`an int`, `a str`: `noun` after its indefinite article (by its first letter)."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _signature(obj: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        return None


def _takes_arguments(obj: Any) -> bool:
    sig = _signature(obj)
    return sig is not None and bool(sig.parameters)


def _argument_names(obj: Any) -> str:
    """`name=..., ...` for the parameters of `obj`, and the keys its body reads from its
    `**kwargs` (`kwargs.get('dataset')`, `kwargs['depth']`, `map(kwargs.get, [...])`);
    `name=value, ...` when none is known."""
    sig = _signature(obj)
    params = sig.parameters.values() if sig is not None else ()
    names = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    var = next((p.name for p in params if p.kind == p.VAR_KEYWORD), None)
    if var is not None:
        names += [k for k in _keys_read(obj, var) if k not in names]
    return ", ".join(f"{n}=..." for n in names) if names else "name=value, ..."


def _keys_read(obj: Any, var: str) -> list[str]:
    """The string keys the source of `obj` reads from its dict `var`, in order."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (OSError, TypeError, SyntaxError, ValueError, RecursionError, MemoryError):
        return []

    def is_var(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == var

    def strings(*nodes: ast.AST) -> list[str]:
        items = [
            e for n in nodes for e in (n.elts if isinstance(n, (ast.List, ast.Tuple)) else [n])
        ]
        return [e.value for e in items if isinstance(e, ast.Constant) and isinstance(e.value, str)]

    keys: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_var(node.value):
            keys += strings(node.slice)
        elif isinstance(node, ast.Compare) and any(is_var(c) for c in node.comparators):
            keys += strings(node.left)
        elif isinstance(node, ast.Call):
            f = node.func
            method = isinstance(f, ast.Attribute) and is_var(f.value)
            if method and f.attr in ("get", "pop", "setdefault") and node.args:
                keys += strings(node.args[0])
            elif any(isinstance(a, ast.Attribute) and is_var(a.value) for a in node.args):
                keys += strings(*node.args)  # map(kwargs.get, ['num_classes', 'depth'])
    return [k for k in dict.fromkeys(keys) if k.isidentifier()]


def _check_call(obj: Any, ref: Reference) -> None:
    """Refuse, naming them, a call that leaves required parameters without a value."""
    sig = _signature(obj)
    if sig is None:
        return
    try:
        sig.bind(*ref.args, **dict(ref.kwargs))
    except TypeError as e:
        needed = [
            n
            for n, p in sig.parameters.items()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        example = ", ".join(f"{n}=..." for n in needed) or "..."
        raise XncostError(
            f"{ref.where}:{ref.label} cannot be called so ({e}); pass its arguments as "
            f"{ref.where}:{ref.attr}({example}) (Python literals)"
        ) from None


def _unwrapped(model: nn.Module) -> nn.Module:
    """The module inside (Distributed)DataParallel wrappers, said in a note."""
    inner = model
    while isinstance(inner, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        inner = inner.module
    if inner is not model:
        acc = compat.current()
        if acc is not None:
            acc.loading.append(
                f"note: the model came wrapped in {type(model).__name__}; xncost counted the "
                f"{type(inner).__name__} inside (the wrapper adds no work on one device)."
            )
    return inner
