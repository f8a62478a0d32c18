"""The one exception type that the CLI turns into a single stderr line and exit code 2, and
the guard that turns whatever the user's own code raises into one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class XncostError(ValueError):
    """Bad user input: an invalid shape, an unknown name, an unreadable or corrupt file."""


class RankError(XncostError):
    """An error that only this process of a torchrun job knows of (its own failure): the
    command line prints it on whichever rank raises it; other errors, which every rank meets
    alike, rank 0 alone prints."""


class Stopped(BaseException):
    """The user-code guard stopping the user's code (`xncost.profile.loader.user_code`): a
    forbidden call, or its time limit. `guarded` lets it through to the guard."""


def first_line(e: BaseException) -> str:
    """`Type: first line of the message` of `e` (` ...` after it when more lines follow), for
    an `XncostError` about someone else's code; safe when the exception's own `__str__`
    raises."""
    try:
        text = str(e).strip()
    except BaseException:
        text = ""
    name = type(e).__name__
    if not text:
        return name
    lines = text.splitlines()
    return f"{name}: {lines[0]}" + (" ..." if len(lines) > 1 else "")


def guarded(what: str, run: Callable[[], T]) -> T:
    """`run()`; anything the user's code raises (KeyboardInterrupt excepted) becomes one
    `XncostError` line `what: Type: message`."""
    try:
        return run()
    except (XncostError, KeyboardInterrupt, Stopped):
        raise
    except BaseException as e:
        raise XncostError(f"{what}: {first_line(e)}") from None
