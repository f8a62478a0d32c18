"""Is a product 1-bit work? Provenance and values together (docs/conventions.md, "Binary work").

A product's operand (the input, or the weight) is *binary up to scale* when it takes values
in {-a, +a}, with one `a` per slice across the axes its dot products run along (per sample
for a convolution's input, per output channel for its weight, per row and per column for a
matrix product; a convolution's input from a binarization may also take one `a` per
position, across its channels: XNOR-Net's `sign(I) * K`), and

- its provenance says it came from a binarization (`xncost.profile.provenance`: sign, a
  sign-like `where` or comparison arithmetic, a custom autograd Function running one of
  them, then scaling, data movement, straight-through combinations) and its values agree
  within a relative tolerance `RTOL` (the straight-through `b - q + q` rounds); exact zeros
  are sign(0) zeros, counted, and do not make it float; or
- it is computed from the weights alone (a parameter, a buffer, or something computed from
  them only) and its values are exactly {-a, +a} with both signs present (weights binarized
  earlier, by a training loop or a loader; fresh float weights never are); or
- it runs inside a declared binary layer (`xncost.nn.declare`, `register_binary`,
  `--binary`) and its values are exactly {-a, +a}, without zeros; or
- it is a weight declared with `--binary` (counted binary up to scale, one scale per output
  channel, whatever its values).

Zeros that did not come from sign (a threshold) make an operand *ternary*. A product is
`1-bit` when both operands are binary, `binary-weight` or `binary-activation` when one is,
`ternary` when one is ternary, else `float`. Values are checked only on product operands,
once per tensor storage version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from xncost.conventions.aten import DotProducts
from xncost.profile.provenance import SIGN, TERNARY, Provenance, key_of

RTOL = 2.0**-10  # |v| of one slice within this fraction of its largest |v|: STE rounding
BINARY, TERNARY_STATE, FLOAT_STATE = "binary", "ternary", "float"
ONE_BIT, BINARY_WEIGHT, BINARY_ACTIVATION, TERNARY_KIND, FLOAT = (
    "1-bit",
    "binary-weight",
    "binary-activation",
    "ternary",
    "float",
)
KINDS = (ONE_BIT, BINARY_WEIGHT, BINARY_ACTIVATION, TERNARY_KIND, FLOAT)


@dataclass(frozen=True)
class Levels:
    """The values of a tensor that is {-a, +a} (and zeros) per slice: exact `zeros`,
    `slices` checked, whether one `a` serves the whole tensor, both signs seen, whether
    a = 1 exactly (`unit`: a sign output), elements per slice."""

    zeros: int
    slices: int
    per_tensor: bool
    both_signs: bool
    unit: bool = False
    slice_size: int = 1

    @property
    def evident(self) -> bool:
        """Binary from the values alone: exactly +-1, or one magnitude over at least two
        values per slice (a slice of one value is any number)."""
        return self.unit or self.slice_size >= 2


def levels(t: torch.Tensor, dims: tuple[int, ...], tol: float) -> Levels | None:
    """`t`'s levels with one magnitude per slice across `dims` (relative tolerance `tol`),
    or None when some slice holds more than one magnitude (or nothing but zeros)."""
    if t.numel() == 0 or t.is_complex() or t.dtype == torch.bool:
        return None
    x = t.detach()
    if not x.is_floating_point():
        x = x.double()
    dims = tuple(sorted({d % t.dim() for d in dims})) if t.dim() else ()
    if not _first_slice_level(x, dims, tol):
        return None
    kept = [d for d in range(x.dim()) if d not in dims]
    a = x.abs().permute(kept + list(dims)) if x.dim() else x.abs()
    a = a.reshape(math.prod(x.shape[d] for d in kept), -1)  # [slices, slice elements]
    zeros = t.numel() - int(torch.count_nonzero(a))
    if zeros == t.numel():
        return None
    amax = a.amax(dim=1)
    amin = (a.masked_fill(a == 0, float("inf")) if zeros else a).amin(dim=1)
    empty = torch.isinf(amin)  # slices of zeros only
    amin = torch.where(empty, amax, amin)
    if not bool(((amax - amin) <= tol * amax).all()):
        return None
    top, bottom = amax.max(), amin[~empty].min()
    low, high = torch.aminmax(x)
    return Levels(
        zeros=zeros,
        slices=amax.numel(),
        per_tensor=bool(top - bottom <= tol * top),
        both_signs=bool(high > 0) and bool(low < 0),
        unit=bool(top == 1 and bottom == 1),
        slice_size=a.shape[1],
    )


def _first_slice_level(x: torch.Tensor, dims: tuple[int, ...], tol: float) -> bool:
    """A cheap necessary condition: the first slice holds one magnitude (besides zeros)."""
    first = x
    for d in range(x.dim() - 1, -1, -1):
        if d not in dims and first.shape[d]:
            first = first.select(d, 0)
    a = first.abs()
    a = a[a != 0]
    return not a.numel() or bool(a.max() - a.min() <= tol * a.max())


@dataclass(frozen=True)
class Operand:
    """One operand of a product: `state` binary, ternary or float; the sign(0) `zeros` it
    holds; its 32-bit `scales` (1 for one magnitude per tensor, else one per slice); its
    `slices` (output channels of a weight); whether it is computed from the weights alone
    (`static`) and the storages it lives in or was computed from (`ptrs`)."""

    state: str = FLOAT_STATE
    zeros: int = 0
    scales: int = 0
    slices: int = 0
    static: bool = False
    ptrs: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Product:
    """A classified product: `kind`, `count` dot products of `length`, its operands."""

    op: str
    kind: str
    count: int
    length: int
    input: Operand
    weight: Operand

    @property
    def macs(self) -> int:
        return self.count * self.length


class Detector:
    """Classifies products from the provenance of their operands and their values; `forced`
    holds the storages of weights declared binary by pattern (`--binary`). With `detect`
    False only declared layers' exactly-binary operands count (no provenance, no weights
    binarized earlier)."""

    def __init__(
        self, provenance: Provenance, forced: frozenset[int] = frozenset(), detect: bool = True
    ) -> None:
        self.provenance = provenance
        self.forced = forced
        self.detect = detect
        self._levels: dict[tuple, Levels | None] = {}
        self._zeros: dict[tuple, int] = {}

    @property
    def sign_zeros(self) -> int:
        """Exact zeros seen in binary operands (sign(0)), each tensor version once."""
        return sum(self._zeros.values())

    def _version(self, t: torch.Tensor, key: Any) -> tuple:
        """Which tensor at this storage key, and which version of its values."""
        return (key, self.provenance.generation.get(key, 0), t._version)

    def _check(self, t: torch.Tensor, key: Any, dims: tuple[int, ...], tol: float) -> Any:
        memo = (self._version(t, key), dims, tol)
        if memo not in self._levels:
            self._levels[memo] = levels(t, dims, tol)
        return self._levels[memo]

    def operand(self, t: Any, dims: tuple[int, ...], declared: bool, weight: bool) -> Operand:
        """The state of one operand (see the module docstring)."""
        if not isinstance(t, torch.Tensor):
            return Operand()
        key = key_of(t)
        if key is None:
            return Operand()
        tag = self.provenance.tags.get(key) if self.detect else None
        sources = self.provenance.static.get(key) if self.detect else None
        static = sources is not None
        ptrs = frozenset({key[0]}) | (sources or frozenset())
        base = {"static": static, "ptrs": ptrs}
        if tag is not None and tag.kind in (SIGN, TERNARY):
            lv = self._check(t, key, dims, RTOL)
            if lv is None and not weight and len(dims) > 1:
                lv = self._check(t, key, dims[:1], RTOL)  # XNOR-Net's K: a scale per position
            if lv is None:
                return Operand(**base)
            if tag.kind == TERNARY:
                return Operand(TERNARY_STATE, **base)
            if lv.zeros:
                self._zeros[self._version(t, key)] = lv.zeros
            return Operand(BINARY, lv.zeros, 1 if lv.per_tensor else lv.slices, lv.slices, **base)
        if weight and ptrs & self.forced:
            lv_slices = _slices(t, dims)
            return Operand(BINARY, 0, lv_slices, lv_slices, **base)
        if static or declared:
            lv = self._check(t, key, dims, 0.0)
            if lv is None or not lv.evident or (static and not lv.both_signs):
                return Operand(**base)
            if lv.zeros:
                return Operand(TERNARY_STATE, **base) if static else Operand(**base)
            return Operand(BINARY, 0, 1 if lv.per_tensor else lv.slices, lv.slices, **base)
        return Operand(**base)

    def product(self, op: str, dots: DotProducts, declared: bool) -> Product:
        """Classify the product `dots` of `op`; the weight is the operand computed from the
        weights alone when exactly one is, else the second (a convolution's or linear layer's
        weight)."""
        lhs_static = self.provenance.sources(dots.lhs) is not None
        rhs_static = self.provenance.sources(dots.rhs) is not None
        swap = lhs_static and not rhs_static
        (x, x_dims), (w, w_dims) = (dots.lhs, dots.lhs_dims), (dots.rhs, dots.rhs_dims)
        if swap:
            (x, x_dims), (w, w_dims) = (w, w_dims), (x, x_dims)
        inp = self.operand(x, x_dims, declared, weight=False)
        wt = self.operand(w, w_dims, declared, weight=True)
        kind = product_kind(inp.state, wt.state) if dots.binary_ok else FLOAT
        return Product(op, kind, dots.count, dots.length, inp, wt)


def is_pm1(t: Any) -> bool:
    """True if `t` is a non-empty tensor whose values are all -1 or +1."""
    if not isinstance(t, torch.Tensor) or t.numel() == 0 or t.is_complex():
        return False
    return bool(((t == 1) | (t == -1)).all())


def product_kind(inp: str, weight: str) -> str:
    """The kind of a product from the states of its input and weight."""
    if inp == BINARY and weight == BINARY:
        return ONE_BIT
    if TERNARY_STATE in (inp, weight):
        return TERNARY_KIND
    if weight == BINARY:
        return BINARY_WEIGHT
    if inp == BINARY:
        return BINARY_ACTIVATION
    return FLOAT


def _slices(t: torch.Tensor, dims: tuple[int, ...]) -> int:
    """Slices of `t` across `dims` (output channels of a weight)."""
    kept = {d % t.dim() for d in dims} if t.dim() else set()
    n = 1
    for i, s in enumerate(t.shape):
        if i not in kept:
            n *= s
    return n


__all__ = [
    "BINARY",
    "BINARY_ACTIVATION",
    "BINARY_WEIGHT",
    "FLOAT",
    "KINDS",
    "ONE_BIT",
    "RTOL",
    "TERNARY_KIND",
    "Detector",
    "Levels",
    "Operand",
    "Product",
    "is_pm1",
    "levels",
    "product_kind",
]
