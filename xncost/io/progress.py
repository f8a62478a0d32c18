"""Progress of long work on stderr, for the library and the command line alike.

Every line xncost prints on stderr besides its one error line (progress, notices, Python
warnings, the user model's own output) goes through `note`. The command line holds them
back (`hold`) during its first PROGRESS_EVERY_S seconds: they are printed when the command
succeeds or outlasts that, and dropped when it fails before, so that a failure is one line.
"""

from __future__ import annotations

import sys
import time
from typing import Any

PROGRESS_EVERY_S = 5.0  # plain progress lines on a non-terminal: at most one per this many s
MAX_HELD_LINES = 1000  # lines held back at most; later ones are counted, not kept


class _Notes:
    holding = False
    start = 0.0
    held: list[str] = []
    dropped = 0


def _write(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass  # stderr closed or gone: notes are not worth failing for


def note(line: str) -> None:
    """Print `line` on stderr, or hold it back while the command line says so (`hold`)."""
    line = line.rstrip("\n")
    if _Notes.holding and time.monotonic() - _Notes.start < PROGRESS_EVERY_S:
        if len(_Notes.held) < MAX_HELD_LINES:
            _Notes.held.append(line)
        else:
            _Notes.dropped += 1
        return
    _flush_held()
    _write(line)


def _flush_held() -> None:
    held, _Notes.held = _Notes.held, []
    for line in held:
        _write(line)
    if _Notes.dropped:
        _write(f"xncost: ({_Notes.dropped:,} more lines not shown)")
        _Notes.dropped = 0


def hold() -> None:
    """Hold notes back for PROGRESS_EVERY_S seconds from now (the command line's start)."""
    _Notes.holding, _Notes.start = True, time.monotonic()


def release(show: bool) -> None:
    """Stop holding notes back: print the held ones if `show` (success), else drop them."""
    if show:
        _flush_held()
    _Notes.held, _Notes.dropped, _Notes.holding = [], 0, False


class Progress:
    """Progress of long work, on stderr: a rich bar on a terminal; elsewhere a plain line at
    most every PROGRESS_EVERY_S seconds (none for short work); nothing when `quiet`.

    with Progress("table4", total=24) as p:
        for job in jobs:
            ...
            p.advance(1, "mobilenet_xnidr at 32x32")
    """

    def __init__(self, label: str, total: int | None = None, quiet: bool = False) -> None:
        self.label, self.total, self.quiet = label, total, quiet
        self.done = 0
        self._bar: Any = None
        self._task: Any = None
        self._start = self._last = 0.0

    def __enter__(self) -> Progress:
        self._start = self._last = time.monotonic()
        if not self.quiet and sys.stderr is not None and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, k: int = 1, what: str = "") -> None:
        """`k` more units done; `what` names the last one."""
        self.done += k
        if self.quiet:
            return
        if self._bar is not None:
            desc = f"{self.label}: {what}" if what else self.label
            self._bar.update(self._task, advance=k, description=desc)
            return
        now = time.monotonic()
        if now - self._last < PROGRESS_EVERY_S:
            return
        self._last = now
        of = f"/{self.total:,}" if self.total is not None else ""
        last = f" (last: {what})" if what else ""
        note(f"xncost: {self.label}: {self.done:,}{of} done{last}, {now - self._start:.0f} s")
