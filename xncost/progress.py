"""Progress of long work on stderr, for the library and the command line alike."""

from __future__ import annotations

import sys
import time
from typing import Any

PROGRESS_EVERY_S = 5.0  # plain progress lines on a non-terminal: at most one per this many s


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
        if not self.quiet and sys.stderr.isatty():
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
        sys.stderr.write(
            f"xncost: {self.label}: {self.done:,}{of} done{last}, {now - self._start:.0f} s\n"
        )
        sys.stderr.flush()
