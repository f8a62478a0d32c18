"""The command line's standard streams: closed ones, and encodings that cannot show a character.

`prepare` runs first (before anything can open a file): a closed stdin, stdout or stderr
(`>&-`) is reopened on /dev/null, so that no file the command opens takes its descriptor
number and receives what was meant for the stream; it returns the names of the streams that
were closed. Both output streams then encode with `ERRORS`: a character the encoding cannot
show is written as its nearest ASCII (`×` as `x`, `·` as `*`, `≤` as `<=`, box drawing as
`+-|`), an undecodable byte of a path (a lone surrogate, as Python decodes it) as that byte
again, anything else as a `\\x..` escape. So `PYTHONIOENCODING=ascii`, `LANG=C` and paths
that are not UTF-8 print instead of raising.
"""

from __future__ import annotations

import codecs
import io
import os
import sys

ERRORS = "xncost-ascii"
STREAMS = ((0, "stdin", os.O_RDONLY), (1, "stdout", os.O_WRONLY), (2, "stderr", os.O_WRONLY))

ASCII = {
    "×": "x",
    "·": "*",
    "⋅": "*",
    "−": "-",
    "–": "-",
    "—": "--",
    "≤": "<=",
    "≥": ">=",
    "≠": "!=",
    "≈": "~",
    "→": "->",
    "←": "<-",
    "…": "...",
    "±": "+-",
    "²": "^2",
    "³": "^3",
    "√": "sqrt",
    "∞": "inf",
    "µ": "u",
    "μ": "u",
    "“": '"',
    "”": '"',
    "‘": "'",
    "’": "'",
    "⌈": "ceil(",
    "⌉": ")",
    "⌊": "floor(",
    "⌋": ")",
    "Σ": "sum",
    "α": "alpha",
    "β": "beta",
    "π": "pi",
    "½": "1/2",
    "\u00a0": " ",
}

BOX_HORIZONTAL = {0x2500, 0x2501, 0x2504, 0x2505, 0x2508, 0x2509, 0x254C, 0x254D, 0x2550}
BOX_VERTICAL = {0x2502, 0x2503, 0x2506, 0x2507, 0x250A, 0x250B, 0x254E, 0x254F, 0x2551}


def _ascii_of(ch: str) -> str | None:
    known = ASCII.get(ch)
    if known is not None:
        return known
    code = ord(ch)
    if 0x2500 <= code <= 0x257F:  # box drawing: horizontal, vertical, corners and joints
        if code in BOX_HORIZONTAL:
            return "=" if code == 0x2550 else "-"
        return "|" if code in BOX_VERTICAL else "+"
    if 0x239B <= code <= 0x23AD:  # the pieces of tall brackets (sympy's pretty printer)
        return "(" if code <= 0x239D else ")" if code <= 0x23A0 else "|"
    if code == 0x23AF:
        return "-"
    return None


def _handle(err: UnicodeError) -> tuple[str | bytes, int]:
    if not isinstance(err, UnicodeEncodeError):
        raise err
    text = err.object[err.start : err.end]
    out: list[str | bytes] = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as os.fsdecode made it
            out.append(bytes([code - 0xDC00]))
            continue
        known = _ascii_of(ch)
        out.append(known if known is not None else ch.encode("ascii", "backslashreplace").decode())
    if all(isinstance(o, str) for o in out):
        return "".join(out), err.end  # type: ignore[arg-type]
    return b"".join(o if isinstance(o, bytes) else o.encode("ascii") for o in out), err.end


codecs.register_error(ERRORS, _handle)


def _closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def prepare() -> list[str]:
    """Reopen closed standard streams on /dev/null and set `ERRORS` on the output streams;
    the names of the streams that were closed."""
    closed = []
    for fd, name, mode in STREAMS:
        if not _closed(fd):
            continue
        closed.append(name)
        null = os.open(os.devnull, mode)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        if getattr(sys, name) is None:
            binary = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
            setattr(sys, name, io.TextIOWrapper(binary, encoding="utf-8", line_buffering=fd == 2))
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, io.TextIOWrapper) and stream.errors != ERRORS:
            try:
                stream.reconfigure(errors=ERRORS)
            except (ValueError, OSError):
                pass
    return closed


def finish(code: int) -> int:
    """After the command: flush stdout, then send whatever else is printed while the
    interpreter exits (the user's model may have registered `atexit` functions) to stderr,
    never into the command's output; the exit code (1 if stdout was a closed pipe)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = code or 1
    except (OSError, ValueError, AttributeError):
        pass
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    except OSError:
        pass
    sys.stdout = sys.stderr
    return code


def for_stdout(text: str) -> str:
    """`text` as stdout will print it: transliterated (`ERRORS`) when stdout's encoding cannot
    show it. For tables, whose column widths must be measured on what is printed."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, ERRORS).decode(encoding, "replace")
    except LookupError:
        pass
    return text
