"""A restricted reader for the pickles that CIFAR-10's python batches are, without `pickle`.

The batches (Krizhevsky's `cifar-10-batches-py`, written by Python 2's cPickle, protocol 2)
and batches re-saved by Python 3 / numpy (protocols 2 to 5) use a small subset of the
pickle opcodes. This module interprets only that subset and never calls anything the file
names: the few globals a numpy uint8 array needs (`_reconstruct`, `ndarray`, `dtype`,
`_frombuffer`, `_codecs.encode`) are symbols whose calls are recognised, checked and
carried out here. The only arrays it can build are C-ordered uint8 arrays of at most two
dimensions copied from bytes the file holds, so no file can build an object array, point at
memory or run code. Any other opcode, global or argument is refused with a `PickleRefused`.

Memory is bounded by the file's size: every value pushed, marked or memoized counts
against MAX_VALUES (a one-byte opcode such as `]` makes a 56-byte list: without the bound a
file of them grows ~80-fold), and an array dimension may not exceed MAX_DIM.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
_NUMERIC = ("numpy.core.numeric", "numpy._core.numeric")
GLOBALS = frozenset(
    {(m, "_reconstruct") for m in _MULTIARRAY}
    | {(m, "_frombuffer") for m in _NUMERIC}
    | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
)
# numpy's pickled state of dtype('u1'); Python 2 files hold its texts as bytes
U1_STATES = ((3, "|", None, None, None, -1, -1, 0), (3, b"|", None, None, None, -1, -1, 0))
MAX_DIMS = 2
MAX_DIM = 2**31  # an array dimension (CIFAR-10: 10000 x 3072)
MAX_VALUES = 1 << 20  # values a pickle may push, mark or memoize (a batch needs ~50,000)


class PickleRefused(ValueError):
    """The pickle is not one this reader accepts (the message says why)."""


class Global:
    """A name the pickle refers to (never imported)."""

    def __init__(self, module: str, name: str) -> None:
        self.key = (module, name)


class UInt8:
    """numpy's dtype('u1') being rebuilt (valid once its state has been checked)."""

    def __init__(self) -> None:
        self.built = False


class PendingArray:
    """An ndarray made by `_reconstruct`, filled by BUILD; `array` once filled."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None


def _uint8_array(raw: Any, shape: Any, dtype: Any) -> np.ndarray:
    if not (isinstance(dtype, UInt8) and dtype.built):
        raise PickleRefused("an array that is not uint8")
    ok = isinstance(shape, tuple) and len(shape) <= MAX_DIMS
    if not ok or not all(type(d) is int and 0 <= d <= MAX_DIM for d in shape):
        raise PickleRefused(
            f"an array shape that is not {MAX_DIMS} sizes or fewer, each 0..{MAX_DIM}"
        )
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != math.prod(shape):
        raise PickleRefused("an array whose data does not match its shape")
    return np.frombuffer(bytes(raw), dtype=np.uint8).reshape(shape).copy()


def _reduce(fn: Any, args: Any) -> Any:
    if not isinstance(fn, Global) or not isinstance(args, tuple):
        raise PickleRefused("a call of something other than a numpy array constructor")
    module, name = fn.key
    if name == "encode":  # Python 3's protocol-2 form of bytes
        if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
            try:
                return args[0].encode("latin-1")
            except UnicodeEncodeError:
                raise PickleRefused("bytes that are not latin-1 text") from None
        raise PickleRefused("an unexpected _codecs.encode call")
    if name == "dtype":
        if len(args) == 3 and args[0] in ("u1", b"u1") and args[1] == 0 and args[2] == 1:
            return UInt8()
        spec = args[0] if args and isinstance(args[0], (str, bytes)) else "?"
        raise PickleRefused(f"an array of dtype {spec[:20]!r}, not uint8")
    if name == "_reconstruct":
        ndarray = args[0] if args else None
        if len(args) == 3 and isinstance(ndarray, Global) and ndarray.key == ("numpy", "ndarray"):
            return PendingArray()
        raise PickleRefused("an unexpected _reconstruct call")
    if name == "_frombuffer" and len(args) == 4 and args[3] == "C":
        made = PendingArray()
        made.array = _uint8_array(args[0], args[2], args[1])
        return made
    raise PickleRefused(f"an unexpected call of {module}.{name}")


def _build(obj: Any, state: Any) -> None:
    if isinstance(obj, UInt8) and state in U1_STATES:
        obj.built = True
    elif isinstance(obj, PendingArray) and obj.array is None:
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise PickleRefused("an array state that is not numpy's")
        if state[3] not in (0, False):
            raise PickleRefused("a Fortran-ordered array")
        obj.array = _uint8_array(state[4], state[1], state[2])
    else:
        raise PickleRefused("an object state other than a uint8 array's")


class _Reader:
    def __init__(self, raw: bytes) -> None:
        self.raw = memoryview(raw)
        self.pos = 0
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.values = 0  # pushed, marked or memoized (MAX_VALUES)

    def count(self) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            raise PickleRefused(f"more than {MAX_VALUES:,} values")

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.raw):
            raise PickleRefused("truncated data")
        out = self.raw[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def line(self) -> str:
        end = bytes(self.raw[self.pos : self.pos + 256]).find(b"\n")
        if end < 0:
            raise PickleRefused("a name that does not end")
        text = bytes(self.take(end + 1))[:-1]
        try:
            return text.decode("ascii")
        except UnicodeDecodeError:
            raise PickleRefused("a name that is not ASCII") from None

    def text(self, n: int) -> str:
        try:
            return bytes(self.take(n)).decode("utf-8")
        except UnicodeDecodeError:
            raise PickleRefused("text that is not UTF-8") from None

    def push(self, value: Any) -> None:
        self.count()
        self.stack.append(value)  # self.stack at call time: a mark may have replaced it

    def pop(self) -> Any:
        if not self.stack:
            raise PickleRefused("a stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise PickleRefused("a stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise PickleRefused("a missing mark")
        items, self.stack = self.stack, self.marks.pop()
        return items

    def glob(self, module: str, name: str) -> Global:
        if (module, name) not in GLOBALS:
            raise PickleRefused(f"refusing to load {module[:60]}.{name[:60]}")
        return Global(module, name)

    def setitems(self, items: list[Any]) -> None:
        d = self.top()
        if not isinstance(d, dict) or len(items) % 2:
            raise PickleRefused("items set on something other than a dict")
        for k, v in zip(items[::2], items[1::2], strict=True):
            if type(k) not in (bytes, str, int):
                raise PickleRefused("a dict key that is not text or an integer")
            d[k] = v

    def extend(self, items: list[Any]) -> None:
        target = self.top()
        if not isinstance(target, list):
            raise PickleRefused("items appended to something other than a list")
        target.extend(items)

    def run(self) -> Any:  # noqa: C901 - one branch per opcode
        while True:
            where = self.pos
            op = bytes(self.take(1))
            if op == b"\x80":  # PROTO
                if self.uint(1) > 5:
                    raise PickleRefused("an unknown pickle protocol")
            elif op == b"\x95":  # FRAME
                self.take(8)
            elif op == b".":  # STOP
                if len(self.stack) != 1 or self.marks:
                    raise PickleRefused("a malformed end")
                return self.stack[0]
            elif op == b"}":
                self.push({})
            elif op == b"]":
                self.push([])
            elif op == b")":
                self.push(())
            elif op == b"(":
                self.count()
                self.marks.append(self.stack)
                self.stack = []
            elif op == b"t":
                self.push(tuple(self.pop_mark()))
            elif op in (b"\x85", b"\x86", b"\x87"):
                n = op[0] - 0x84
                if len(self.stack) < n:
                    raise PickleRefused("a stack underflow")
                items = tuple(self.stack[-n:])
                del self.stack[-n:]
                self.push(items)
            elif op == b"u":
                self.setitems(self.pop_mark())
            elif op == b"s":
                v, k = self.pop(), self.pop()
                self.setitems([k, v])
            elif op == b"e":
                self.extend(self.pop_mark())
            elif op == b"a":
                self.extend([self.pop()])
            elif op == b"N":
                self.push(None)
            elif op == b"\x88":
                self.push(True)
            elif op == b"\x89":
                self.push(False)
            elif op == b"K":
                self.push(self.uint(1))
            elif op == b"M":
                self.push(self.uint(2))
            elif op == b"J":
                self.push(int.from_bytes(self.take(4), "little", signed=True))
            elif op in (b"\x8a", b"\x8b"):  # LONG1, LONG4
                n = self.uint(1) if op == b"\x8a" else self.uint(4)
                self.push(int.from_bytes(self.take(n), "little", signed=True))
            elif op == b"G":
                self.push(struct.unpack(">d", self.take(8))[0])
            elif op == b"U":  # SHORT_BINSTRING: Python 2 str, read as bytes
                self.push(bytes(self.take(self.uint(1))))
            elif op == b"T":  # BINSTRING
                self.push(bytes(self.take(int.from_bytes(self.take(4), "little", signed=True))))
            elif op == b"C":
                self.push(bytes(self.take(self.uint(1))))
            elif op == b"B":
                self.push(bytes(self.take(self.uint(4))))
            elif op == b"\x8e":
                self.push(bytes(self.take(self.uint(8))))
            elif op == b"\x96":  # BYTEARRAY8
                self.push(bytearray(self.take(self.uint(8))))
            elif op == b"\x8c":
                self.push(self.text(self.uint(1)))
            elif op == b"X":
                self.push(self.text(self.uint(4)))
            elif op == b"\x8d":
                self.push(self.text(self.uint(8)))
            elif op == b"c":  # GLOBAL
                module = self.line()
                self.push(self.glob(module, self.line()))
            elif op == b"\x93":  # STACK_GLOBAL
                name, module = self.pop(), self.pop()
                if not (isinstance(module, str) and isinstance(name, str)):
                    raise PickleRefused("a global that is not named by text")
                self.push(self.glob(module, name))
            elif op == b"R":
                args = self.pop()
                self.push(_reduce(self.pop(), args))
            elif op == b"b":
                state = self.pop()
                _build(self.top(), state)
            elif op in (b"q", b"r", b"\x94"):  # BINPUT, LONG_BINPUT, MEMOIZE
                key = self.uint(1) if op == b"q" else self.uint(4) if op == b"r" else len(self.memo)
                self.count()
                self.memo[key] = self.top()
            elif op in (b"h", b"j"):  # BINGET, LONG_BINGET
                key = self.uint(1) if op == b"h" else self.uint(4)
                if key not in self.memo:
                    raise PickleRefused("a reference to nothing")
                self.push(self.memo[key])
            else:
                raise PickleRefused(f"unsupported pickle opcode {op!r} at byte {where}")


def read_pickle(raw: bytes) -> Any:
    """The value pickled in `raw`, restricted as the module docstring says. Arrays appear
    as `PendingArray` objects (their `array` is None if never filled)."""
    return _Reader(raw).run()
