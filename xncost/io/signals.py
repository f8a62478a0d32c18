"""SIGINT and SIGTERM: one line `xncost: error: interrupted`, exit code 130, no half-written file.

Two modes (docs/files.md, "Signals"):

- The command line (`install`, called first by the entry point, before the heavy imports):
  for the whole life of the process the first signal raises `Interrupted` (a
  KeyboardInterrupt), so that staged files are removed while it unwinds; a further signal
  within `GRACE_S` of the first (a double Ctrl-C) is ignored so that the clean-up finishes;
  one after that ends the process at once. Once the command's output is written (`finish`),
  signals are ignored: the process is ending with its own exit code (Python would otherwise
  restore the default handlers while it shuts down). The line is printed once (`report`).
- The library (`handled`, used by `xncost.io.files` around a publish): SIGTERM raises
  `Interrupted` as SIGINT raises KeyboardInterrupt, while the block runs, unless the program
  set handlers of its own; nothing else changes.

In both modes `critical` defers the signals until a block (a commit and its renames) is done,
and every signal received is counted (`received`), so that code which caught the
KeyboardInterrupt (a bare `except:` in a user's model) cannot hide it, and a KeyboardInterrupt
no signal caused is told apart (`caused_by_signal`).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

INTERRUPTED = 130  # the exit code of a command stopped by SIGINT or SIGTERM (128 + SIGINT)
LINE = "xncost: error: interrupted"
GRACE_S = 1.0  # a second signal this soon after the first lets the clean-up finish
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or SIGINT) during a command or while outputs were being staged."""


class _State:
    cli = False  # `install` ran: the process is the command line
    reported = False  # the line was printed
    first_at: float | None = None  # when the first signal came (command line)
    depth = 0  # nesting of `handled`
    critical = 0  # nesting of `critical`
    pending: int | None = None
    received = 0  # signals that reached `_on_signal`
    saved: dict[int, Any] = {}


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def report() -> int:
    """Print the interrupted line (once per process); the exit code to end with."""
    if not _State.reported:
        _State.reported = True
        try:
            sys.stderr.write(LINE + "\n")
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
    return INTERRUPTED


def _exit_now() -> None:
    """End the process at once: what stdout holds is flushed, the line printed once."""
    try:
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 - closed, broken or re-entered: nothing to save
        pass
    if not _State.reported:
        _State.reported = True
        try:
            os.write(2, (LINE + "\n").encode())
        except OSError:
            pass
    os._exit(INTERRUPTED)


def _on_signal(signum: int, frame: Any) -> None:
    _State.received += 1
    if _State.critical:
        _State.pending = signum
        return
    if _State.cli:
        if _State.first_at is not None:
            if time.monotonic() - _State.first_at < GRACE_S:
                return  # a double Ctrl-C: let the first one's clean-up finish
            _exit_now()
        _State.first_at = time.monotonic()
    raise Interrupted(signal.Signals(signum).name)


def install() -> None:
    """The command line's handlers, for the whole process (see the module docstring)."""
    if _State.cli or not _main_thread():
        return
    _State.cli = True
    for sig in SIGNALS:
        signal.signal(sig, _on_signal)


def finish() -> None:
    """The command's output is written: ignore SIGINT and SIGTERM while the process ends."""
    if _State.cli and _main_thread():
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def received() -> int:
    """How many SIGINT/SIGTERM signals this module's handler has received so far."""
    return _State.received


def listening() -> bool:
    """True when this module's handler receives SIGINT here (main thread), so that every
    signal is counted in `received`."""
    return _main_thread() and signal.getsignal(signal.SIGINT) is _on_signal


def caused_by_signal(since: int) -> bool:
    """Whether a KeyboardInterrupt seen now may have come from a signal: one was received
    after `received()` was `since`, or this module does not hear SIGINT (then it cannot
    tell, and assumes a signal)."""
    return _State.received > since or not listening()


@contextmanager
def handled() -> Iterator[None]:
    """SIGTERM raises `Interrupted` (as SIGINT raises KeyboardInterrupt) inside the block, so
    that staged files are cleaned up; handlers the program set itself are left alone."""
    if not _main_thread() or _State.cli:
        yield
        return
    if _State.depth == 0:
        for sig in SIGNALS:
            current = signal.getsignal(sig)
            if current in (signal.SIG_DFL, signal.default_int_handler):
                _State.saved[sig] = current
                signal.signal(sig, _on_signal)
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
        if _State.depth == 0:
            for sig, handler in _State.saved.items():
                signal.signal(sig, handler)
            _State.saved.clear()


@contextmanager
def critical() -> Iterator[None]:
    """Defer SIGINT/SIGTERM (handled here) until the block is done, then raise."""
    if not _main_thread():
        yield
        return
    _State.critical += 1
    try:
        yield
    finally:
        _State.critical -= 1
        if _State.critical == 0 and _State.pending is not None:
            signum, _State.pending = _State.pending, None
            if not (_State.cli and _State.first_at is not None):  # not already unwinding
                if _State.cli:
                    _State.first_at = time.monotonic()
                raise Interrupted(signal.Signals(signum).name)


@contextmanager
def saved_handlers() -> Iterator[None]:
    """Restore SIGINT/SIGTERM handlers (and the alarm's) after code that may change them (the
    user's own model)."""
    if not _main_thread():
        yield
        return
    before = {sig: signal.getsignal(sig) for sig in (*SIGNALS, signal.SIGALRM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            if handler is not None and signal.getsignal(sig) is not handler:
                signal.signal(sig, handler)
