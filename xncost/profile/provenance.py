"""Provenance of the tensors of one forward pass: which came from a binarization, and which
were computed from the weights alone (docs/conventions.md, "Binary work").

Tensors are keyed by their storage (`untyped_storage().data_ptr()`) and view geometry
(offset, shape, stride, dtype), never by Python id: `detach()` and `.data =` assignment share
storage, so a parameter whose `.data` was replaced by a sign output is recognised, and every
op output overwrites whatever an earlier, freed tensor at the same address left behind.

A `Tag` says what values a tensor holds by construction:

- `sign`: binary up to scale, {-a, +a}, exact zeros possible only as sign(0): outputs of
  `sign`/`sgn`; `where(cond, c, -c)`; two-level arithmetic on comparisons
  (`(x > 0).float() * 2 - 1`) and on `round(clamp(x, 0, 1))`; propagated through scaling
  (mul/div by anything), negation, data movement (view, reshape, permute, expand, clone,
  contiguous, detach, `_to_copy`, zero padding, cat, slicing, ...), products of two sign
  tensors, and the straight-through combinations `b.detach() - q.detach() + q` and
  `q + (b - q).detach()` (the same `q` on both sides, by storage);
- `ternary`: {-a, 0, +a} with zeros from a threshold: `where(cond, b, 0)`, sign times a
  comparison;
- `levels`: exactly two known values (a comparison's {0, 1}, then scalar arithmetic on it);
- `written`: constants written through masks (`out[x >= 0] = 1`, `masked_fill`) into a
  tensor of unknown values (`x.new(size)`, a clone), of one constant (`zeros_like`) or of
  known levels (a comparison): sign once its values are {-c, +c}; {-c, 0, +c} is sign when
  every mask and comparison involved compares with 0 (sign(x) with its sign(0) zeros), else
  ternary (a threshold's zeros); two known values are levels;
- `unit`: values in [0, 1] (`clamp(x, 0, 1)`), which `round` makes {0, 1};
- `pending`: half a straight-through combination, waiting for `q` to be added back.

*Static* tensors are the parameters and buffers and everything computed from them alone
(weight binarization, scales); each records the parameters (by storage) it came from, so a
binary weight's 1 bit is charged to the parameter it was computed from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch

from xncost.conventions.ops import MOVEMENT, ZERO_COST

SIGN, TERNARY, LEVELS, UNIT, PENDING, WRITTEN = (
    "sign",
    "ternary",
    "levels",
    "unit",
    "pending",
    "written",
)
BINARY_KINDS = (SIGN, TERNARY)
Key = tuple


def key_of(t: Any) -> Key | None:
    """The storage key of a tensor (None for tensors without storage, and nested ones)."""
    if getattr(t, "is_nested", False):
        return None
    try:
        ptr = t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError, AttributeError):
        return None
    if not ptr:
        return None
    return (ptr, t.storage_offset(), tuple(t.shape), t.stride(), t.dtype)


@dataclass(frozen=True)
class Tag:
    """What a tensor holds by construction (see the module docstring)."""

    kind: str
    origin: str = ""
    levels: tuple[float, float] = ()
    cancel: Key | None = None
    cancel_sign: int = 0
    base: Tag | None = None
    partial: bool = False  # `written`: some elements may still hold unknown values
    zero: bool = False  # a comparison with 0, or every mask that wrote it (`levels`, `written`)


def _levels(lo: float, hi: float, origin: str) -> Tag:
    """Two known values; {-c, +c} is a sign tensor."""
    if lo == -hi and hi != 0 and math.isfinite(hi):
        return Tag(SIGN, origin)
    return Tag(LEVELS, origin, (lo, hi))


def _scalar(x: Any) -> float | None:
    """A Python number, or the value of a one-element tensor; None otherwise."""
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, torch.Tensor) and x.numel() == 1 and not x.is_complex():
        return float(x.item())
    return None


SIGN_OPS = frozenset({"aten::sign", "aten::sgn", "aten::sign_", "aten::sgn_"})
COMPARISONS = frozenset(
    f"aten::{op}{s}" for op in ("gt", "ge", "lt", "le", "eq", "ne") for s in ("", "_")
) | {"aten::logical_not", "aten::bitwise_not"}
# ops that only move elements: every output element is an input element, so the tag flows
# (the data movement that conventions price at 0, `xncost.conventions.ops`, but what creates,
# pads, masks or reads metadata)
NOT_MOVES = frozenset(
    "zeros zeros_like ones ones_like empty empty_like empty_strided full full_like fill_ zero_ "
    "new_zeros new_ones new_empty new_empty_strided new_full scalar_tensor arange "
    "_local_scalar_dense size sym_size stride sym_stride numel sym_numel dim storage_offset "
    "sym_storage_offset is_contiguous is_same_size cat stack constant_pad_nd copy_ "
    "_nested_tensor_size _nested_tensor_strides _nested_tensor_storage_offsets "
    "_pad_packed_sequence".split()
)
MOVES = frozenset(
    "aten::" + op
    for op in (
        *ZERO_COST,
        *MOVEMENT,
        *"to max_pool2d_with_indices max_pool2d adaptive_max_pool2d im2col".split(),
    )
    if op not in NOT_MOVES
)
ADDS = frozenset({"aten::add", "aten::add_"})
SUBS = frozenset({"aten::sub", "aten::sub_"})
MULS = frozenset({"aten::mul", "aten::mul_"})
DIVS = frozenset({"aten::div", "aten::div_"})
CLAMPS = frozenset({"aten::clamp", "aten::clamp_", "aten::hardtanh", "aten::hardtanh_"})
ROUNDS = frozenset({"aten::round", "aten::round_"})
COPIES = frozenset({"aten::copy_"})
CONSTANTS = frozenset({"aten::lift_fresh", "aten::lift_fresh_copy", "aten::scalar_tensor"})
FILLED = {  # op -> (argument index, name) of the value every element takes; None: 0 or 1
    **dict.fromkeys(("aten::ones", "aten::ones_like", "aten::new_ones"), (None, 1.0)),
    **dict.fromkeys(("aten::zeros", "aten::zeros_like", "aten::new_zeros"), (None, 0.0)),
    "aten::full": (1, "fill_value"),
    "aten::full_like": (1, "fill_value"),
    "aten::new_full": (2, "fill_value"),
    "aten::fill_": (1, "value"),
}
FILL_INTO = frozenset(
    {"aten::index_put", "aten::index_put_", "aten::masked_fill", "aten::masked_fill_"}
)


class Provenance:
    """Tags and static sources of the tensors of one forward pass, by storage key."""

    def __init__(self, statics: dict[Key, frozenset[int]]) -> None:
        self.tags: dict[Key, Tag] = {}
        self.static: dict[Key, frozenset[int]] = dict(statics)
        self._by_ptr: dict[int, set[Key]] = {}
        for k in self.static:
            self._by_ptr.setdefault(k[0], set()).add(k)
        self.binarizations: dict[str, int] = {}  # origin -> ops that made a tensor binary
        self.generation: dict[Key, int] = {}  # outputs written at a key (address reuse)

    def tag(self, t: Any) -> Tag | None:
        k = key_of(t)
        return None if k is None else self.tags.get(k)

    def sources(self, t: Any) -> frozenset[int] | None:
        """The parameters (storage pointers) a static tensor was computed from; None when the
        tensor depends on the model's input."""
        k = key_of(t)
        return None if k is None else self.static.get(k)

    # ------------------------------------------------------------------ update

    def update(self, op: str, mutable: bool, args: tuple, kwargs: dict, out: Any) -> None:
        """Record the outputs of one op."""
        tensors = _tensors(args) + _tensors(tuple(kwargs.values()))
        keys = [key_of(t) for t in tensors]
        for t, k in zip(tensors, keys, strict=True):
            if k is not None and k not in self.static and isinstance(t, torch.nn.Parameter):
                self._set(self.static, k, frozenset({k[0]}))  # its .data was replaced
        tags = [self.tags.get(k) for k in keys if k is not None]
        static: frozenset[int] | None = frozenset()
        for k in keys if op not in CONSTANTS else ():
            s = None if k is None else self.static.get(k)
            if s is None:
                static = None
                break
            static |= s
        view_changed = op in MOVES and op.endswith("_")  # its tag is under its former key
        tag = (
            self._propagate(op, args, kwargs, keys)
            if any(tags) or _creates(op) or view_changed
            else None
        )
        if (
            tag is not None
            and tag.kind == SIGN
            and not any(t is not None and t.kind in (SIGN, TERNARY, PENDING) for t in tags)
        ):
            self.binarizations[tag.origin] = self.binarizations.get(tag.origin, 0) + 1
        outputs = _tensors(out if isinstance(out, (tuple, list)) else (out,))
        dtype = tensors[0].dtype if tensors else None
        for i, t in enumerate(outputs):
            k = key_of(t)
            if k is None:
                continue
            self.generation[k] = self.generation.get(k, 0) + 1
            if mutable:
                self._invalidate(k)
            keep = tag is not None and (i == 0 or t.dtype == dtype)
            self._set(self.tags, k, tag if keep else None)
            self._set(self.static, k, static)

    def _set(self, table: dict, k: Key, value: Any) -> None:
        if value is None:
            table.pop(k, None)
        else:
            table[k] = value
            self._by_ptr.setdefault(k[0], set()).add(k)

    def _invalidate(self, written: Key) -> None:
        """An in-place write: other views of the same storage no longer hold what they did."""
        for k in self._by_ptr.get(written[0], set()) - {written}:
            self.tags.pop(k, None)

    # ------------------------------------------------------------------ rules

    def _propagate(self, op: str, args: tuple, kwargs: dict, keys: list) -> Tag | None:
        name = op.replace("aten::", "aten.")
        if op in SIGN_OPS:
            return Tag(SIGN, name.rstrip("_"))
        if op in COMPARISONS:
            zero = _scalar(_arg(args, kwargs, 1, "other")) == 0.0 or (
                len(args) == 1 and self._tag_of(args[0]) is not None and self._tag_of(args[0]).zero
            )
            return Tag(LEVELS, name.rstrip("_"), (0.0, 1.0), zero=zero)
        if op in FILLED:
            i, value = FILLED[op]
            v = value if i is None else _scalar(_arg(args, kwargs, i, value))
            return None if v is None else Tag(LEVELS, name, (v, v))  # every element v
        first = self._tag_of(args[0]) if args else None
        if op in MOVES:
            if first is None and op.endswith("_") and args:  # transpose_: its key changed
                return self._before_view_change(args[0])
            return first
        if op in FILL_INTO:  # x[mask] = v
            v = self._value(args[2]) if len(args) > 2 else None
            if v is None:
                return None
            if first is not None and first.kind in BINARY_KINDS:  # sign(0) -> +1, or -> 0
                return first if v else replace(first, kind=TERNARY)
            return self._written(first, v, args[1], name.rstrip("_"))
        if op == "aten::constant_pad_nd":
            return first if _scalar(_arg(args, kwargs, 2, "value", 0.0)) == 0.0 else None
        if op in ("aten::cat", "aten::stack"):
            return _joined([self._tag_of(t) for t in args[0]])
        if op in COPIES:
            return self._tag_of(args[1])
        if op == "aten::where":
            return self._where(args)
        if op in ("aten::neg", "aten::neg_"):
            return _scaled(first, -1.0)
        if op in MULS or op in DIVS:
            return self._mul(args[0], args[1], op in DIVS)
        if op in ADDS or op in SUBS or op == "aten::rsub":
            alpha = _scalar(_arg(args, kwargs, 2, "alpha", 1))
            if op == "aten::rsub":
                return self._rsub(args[0], args[1], alpha)
            return self._add(args[0], args[1], -alpha if op in SUBS else alpha)
        if op in CLAMPS:
            lo, hi = _scalar(_arg(args, kwargs, 1, "min")), _scalar(_arg(args, kwargs, 2, "max"))
            return Tag(UNIT, name.rstrip("_")) if (lo, hi) == (0.0, 1.0) else None
        if op in ROUNDS and first is not None and first.kind == UNIT:
            return Tag(LEVELS, first.origin + "+round", (0.0, 1.0))
        return None

    def _before_view_change(self, t: Any) -> Tag | None:
        """The tag `t` had before an in-place view change (`transpose_`, `squeeze_`) gave it a
        new key: the one tag of as many elements of its dtype on its storage."""
        k = key_of(t)
        if k is None:
            return None
        found = {
            self.tags[o]
            for o in self._by_ptr.get(k[0], ())
            if o in self.tags and o[4] == k[4] and math.prod(o[2]) == t.numel()
        }
        return found.pop() if len(found) == 1 else None

    def _tag_of(self, x: Any) -> Tag | None:
        if not isinstance(x, torch.Tensor):
            return None
        k = key_of(x)
        return None if k is None else self.tags.get(k)

    def _value(self, x: Any) -> float | None:
        """The one value of a number, a one-element tensor or a constant-filled tensor."""
        t = self._tag_of(x)
        if t is not None:
            return t.levels[0] if t.kind == LEVELS and t.levels[0] == t.levels[1] else None
        return _scalar(x)

    def _written(self, first: Tag | None, v: float, masks: Any, origin: str) -> Tag | None:
        """`v` written through `masks` into a tensor tagged `first` (see `written`)."""
        if first is None:  # unknown values (x.new(size), a clone)
            values, partial, zero = (), True, True
        elif first.kind == LEVELS:
            values, partial = tuple(sorted(set(first.levels))), False
            zero = first.zero or first.levels[0] == first.levels[1]
        elif first.kind == WRITTEN:
            values, partial, zero = first.levels, first.partial, first.zero
        else:
            return None
        masks = masks if isinstance(masks, (list, tuple)) else (masks,)
        tags = [self._tag_of(m) for m in masks if isinstance(m, torch.Tensor)]
        zero = zero and bool(tags) and all(t is not None and t.zero for t in tags)
        vals = sorted({*values, v})
        if len(vals) == 2 and vals[0] == -vals[1] != 0.0:
            return Tag(SIGN, origin)
        if len(vals) == 3 and vals[1] == 0.0 and vals[0] == -vals[2]:
            return Tag(SIGN if zero else TERNARY, origin)
        if not partial and len(vals) == 2:
            return Tag(LEVELS, origin, (vals[0], vals[1]), zero=zero)
        return Tag(WRITTEN, origin, tuple(vals), partial=partial, zero=zero)

    def _where(self, args: tuple) -> Tag | None:
        a, b = args[1], args[2]
        va, vb = self._value(a), self._value(b)
        if va is not None and vb is not None:
            if va == vb:
                return None
            if 0.0 in (va, vb):
                return Tag(LEVELS, "aten.where", (va, vb))
            return _levels(va, vb, "aten.where")
        binary = [t for t in (self._tag_of(a), self._tag_of(b)) if t and t.kind in BINARY_KINDS]
        if len(binary) == 2:
            return _joined(binary)
        if len(binary) == 1 and (va, vb) != (None, None):  # sign(x), or c where x == 0
            return Tag(TERNARY, "aten.where") if 0.0 in (va, vb) else binary[0]
        return None

    def _mul(self, x: Any, y: Any, divide: bool) -> Tag | None:
        tx, ty = self._tag_of(x), self._tag_of(y)
        if divide and ty is not None and ty.kind not in BINARY_KINDS:
            return None
        if tx is None or ty is None:
            t, other = (tx, y) if ty is None else (ty, x)
            if t is None:
                return None
            if t.kind in BINARY_KINDS:
                return t  # a scale, by a number or per channel (the values decide)
            s = _scalar(other) if t.kind == LEVELS else None
            if s is None or (divide and s == 0):
                return None
            return _scaled(t, 1.0 / s if divide else s)
        kinds = {tx.kind, ty.kind}
        if kinds == {SIGN}:
            return tx
        if kinds <= set(BINARY_KINDS):
            return Tag(TERNARY, tx.origin)
        levels = tx if tx.kind == LEVELS else ty
        binary = ty if levels is tx else tx
        if binary.kind in BINARY_KINDS and levels.kind == LEVELS and 0.0 in levels.levels:
            return Tag(TERNARY, binary.origin)
        return None

    def _add(self, x: Any, y: Any, alpha: float) -> Tag | None:
        """x + alpha * y: two-level arithmetic, and the straight-through combinations."""
        tx, ty = self._tag_of(x), self._tag_of(y)
        sy = _scalar(y) if ty is None else None
        if tx is not None and tx.kind == LEVELS and sy is not None:
            lo, hi = tx.levels
            return _levels(lo + alpha * sy, hi + alpha * sy, tx.origin)
        if tx is not None and tx.kind in BINARY_KINDS and sy == 0.0:
            return tx
        for t, other in ((tx, ty), (ty, tx) if alpha == 1 else (None, None)):
            if t is not None and t.kind in BINARY_KINDS and other is not None:
                if other.kind == LEVELS and 0.0 in other.levels:  # sign(x) + (x == 0)
                    return t
        # b - q + q, b + q - q, q + (b - q): the pending half meets the same q (by storage)
        for t, other, sign in ((tx, y, alpha), (ty, x, 1.0 if alpha == 1 else 0.0)):
            if t is not None and t.kind == PENDING and sign == t.cancel_sign:
                if key_of(other) == t.cancel:
                    return t.base
        if tx is not None and tx.kind in BINARY_KINDS and isinstance(y, torch.Tensor):
            sign = 1 if alpha < 0 else -1  # what adds y back
            return Tag(PENDING, tx.origin, cancel=key_of(y), cancel_sign=sign, base=tx)
        return None

    def _rsub(self, x: Any, s: Any, alpha: float) -> Tag | None:
        """s - alpha * x."""
        t, v = self._tag_of(x), _scalar(s)
        if t is None or v is None:
            return None
        if t.kind == LEVELS:
            lo, hi = t.levels
            return _levels(v - alpha * lo, v - alpha * hi, t.origin)
        return _scaled(t, -alpha) if v == 0.0 else None


def _creates(op: str) -> bool:
    """Ops that make a tag from untagged inputs."""
    return (
        op in SIGN_OPS
        or op in COMPARISONS
        or op in CLAMPS
        or op in FILLED
        or op in FILL_INTO
        or op == "aten::where"
    )


def _scaled(t: Tag | None, s: float) -> Tag | None:
    if t is None:
        return None
    if t.kind in BINARY_KINDS:
        return t if s != 0 else None
    if t.kind == LEVELS:
        return _levels(t.levels[0] * s, t.levels[1] * s, t.origin)
    return None


def _joined(tags: list[Tag | None]) -> Tag | None:
    """cat/stack/where of tagged tensors: sign if all are sign, ternary if all are binary."""
    if not tags or any(t is None or t.kind not in BINARY_KINDS for t in tags):
        return None
    return tags[0] if all(t.kind == SIGN for t in tags) else replace(tags[0], kind=TERNARY)


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _tensors(items: tuple) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    for x in items:
        if isinstance(x, torch.Tensor):
            out.append(x)
        elif isinstance(x, (tuple, list)):
            out.extend(t for t in x if isinstance(t, torch.Tensor))
    return out


__all__ = ["BINARY_KINDS", "SIGN", "TERNARY", "Provenance", "Tag", "key_of"]
