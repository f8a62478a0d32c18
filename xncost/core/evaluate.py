"""Vectorised exact evaluation of a layer's per-step counts over many shapes at once.

The counts are not re-derived: `compile_layer` takes the symbolic breakdown
`breakdown(layer, CapsShape.symbols(), convention)` (Tables 2 and 3, docs/conventions.md) and turns
every step's FLOPs, BOPs and parameters into one numpy function (sympy `lambdify` with common
subexpressions shared), with `ceiling(x/w)` and `Piecewise` mapped to integer operations so
that int64 arrays stay int64. Calling the accounting's step functions on int64 arrays instead
does not work as they stand: `ceil_div` and `if_one` need scalar branch values (`int(x)`,
`x == 1`), so the arrays would have to be grouped by (N, D, E). `benchmarks/bench_analytic.py`
measures both on 2 cores: the compiled form evaluates 5-12 million shapes/s; grouped step
functions reach about 0.25 million/s on a sweep grid of 50 (N, D, E) groups and under 10^4/s
on random shapes (one group per row), so the compiled form is used.

Exactness: every intermediate value of the generated code is bounded by a *majorant* of the
expressions (every constant and `r - 1` taken positively, both branches of a `Piecewise`
added), which is monotone in every shape field. One exact Python-int evaluation of the
majorant at the column maxima clears the whole batch; otherwise a float64 evaluation per row
(with a factor-2 margin) picks the rows that could overflow int64, and those rows are
evaluated again on Python ints (object arrays). Results are then object arrays of exact ints.
XNOR FLOPs = BOPs / word (Table 5) are kept as BOPs plus the word size and rendered exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from typing import Any

import numpy as np

from xncost.conventions import Convention, get_convention
from xncost.core.layers import caps_layers
from xncost.errors import XncostError
from xncost.exact import normalize

FIELDS = ("caps_in", "caps_out", "dim_in", "dim_out", "iterations", "batch")
CAPS_LAYERS = caps_layers()
INT64_MAX = 2**63 - 1
_FLOAT_LIMIT = float(2**62)  # margin for float64 rounding in the per-row bound
_NAMES = ("CeilDiv", "Where", "IsEq", "IsNe", "IsLt", "IsLe", "IsGt", "IsGe")


@dataclass(frozen=True)
class StepInfo:
    """A step's identity (names, kinds and references of `xncost.core.accounting.Step`)."""

    name: str
    title: str
    ref: str
    kind: str
    has_bops: bool
    has_params: bool


# ----------------------------------------------------------------------------- sympy -> numpy


def _ceil_div(a: Any, b: Any) -> Any:
    return -(-a // b)


def _where(cond: Any, a: Any, b: Any) -> Any:
    if isinstance(cond, (bool, np.bool_)):
        return a if cond else b
    return np.where(np.asarray(cond, dtype=bool), a, b)


_RUNTIME: dict[str, Callable[..., Any]] = {
    "CeilDiv": _ceil_div,
    "Where": _where,
    "IsEq": lambda a, b: a == b,
    "IsNe": lambda a, b: a != b,
    "IsLt": lambda a, b: a < b,
    "IsLe": lambda a, b: a <= b,
    "IsGt": lambda a, b: a > b,
    "IsGe": lambda a, b: a >= b,
}


def _functions() -> dict[str, Any]:
    import sympy as sp

    return {name: sp.Function(name) for name in _NAMES}


def integer_form(expr: Any) -> Any:
    """`expr` with ceiling(p/q) -> CeilDiv(p, q) and Piecewise -> nested Where(cond, a, b),
    so a numpy printer emits only integer operations."""
    import sympy as sp

    f = _functions()
    rel = {
        sp.Eq: f["IsEq"],
        sp.Ne: f["IsNe"],
        sp.StrictLessThan: f["IsLt"],
        sp.LessThan: f["IsLe"],
        sp.StrictGreaterThan: f["IsGt"],
        sp.GreaterThan: f["IsGe"],
    }

    def cond(c: Any) -> Any:
        if c is sp.true or c == True:  # noqa: E712 - sympy's true
            return sp.Integer(1)
        for kind, fn in rel.items():
            if isinstance(c, kind):
                return fn(integer_form(c.lhs), integer_form(c.rhs))
        raise XncostError(f"cannot evaluate the condition {c} numerically")

    expr = sp.sympify(expr)
    if isinstance(expr, sp.Piecewise):
        out = None
        for value, c in reversed(expr.args):
            v = integer_form(value)
            out = v if out is None else f["Where"](cond(c), v, out)
        return out
    if isinstance(expr, sp.ceiling):
        num, den = sp.fraction(sp.together(expr.args[0]))
        return f["CeilDiv"](integer_form(num), integer_form(den))
    if not expr.args:
        return expr
    return expr.func(*(integer_form(a) for a in expr.args))


def majorant(expr: Any) -> Any:
    """An upper bound of |every intermediate value| of `integer_form(expr)` on positive ints:
    constants taken positively, sums of absolute values, both Piecewise branches added."""
    import sympy as sp

    expr = sp.sympify(expr)
    if isinstance(expr, sp.Piecewise):
        return sp.Add(*(majorant(v) for v, _ in expr.args))
    if isinstance(expr, sp.ceiling):
        num, den = sp.fraction(sp.together(expr.args[0]))  # ceil(num/den) <= num for den >= 1
        return majorant(num) if den.is_Number else majorant(num) * majorant(den)
    if expr.is_Number:
        if not expr.is_Integer:
            raise XncostError(f"non-integer constant {expr} in a count")
        return sp.Integer(max(1, abs(int(expr))))
    if expr.is_Symbol:
        return expr
    if isinstance(expr, (sp.Add, sp.Mul)):
        return expr.func(*(majorant(a) for a in expr.args), evaluate=False)
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 0:
        return sp.Pow(majorant(expr.base), expr.exp)
    raise XncostError(f"cannot bound {expr} for exact evaluation")


def generic_branch(expr: Any) -> Any:
    """`expr` with every Piecewise replaced by its last (otherwise) branch: the formula for
    shapes away from the special cases (e.g. contractions of length 1)."""
    import sympy as sp

    return sp.sympify(expr).replace(lambda e: isinstance(e, sp.Piecewise), lambda e: e.args[-1][0])


# ----------------------------------------------------------------------------- compilation


@dataclass(frozen=True)
class CompiledLayer:
    """A layer's symbolic steps under one convention, compiled to numpy code."""

    layer: str
    convention: Convention
    steps: tuple[StepInfo, ...]
    expressions: tuple[tuple[Any, Any, Any], ...]  # (flops, bops, params) per step, sympy
    count_fn: Callable[..., list[Any]] = field(repr=False)
    bound_int: Callable[..., Any] = field(repr=False)
    bound_float: Callable[..., Any] = field(repr=False)


@cache
def _compile(layer: str, conv: Convention) -> CompiledLayer:
    import sympy as sp

    from xncost.core.accounting import breakdown
    from xncost.core.shapes import CapsShape

    shape = CapsShape.symbols()
    args = [getattr(shape, f) for f in FIELDS]
    b = breakdown(layer, shape, conv)
    steps, exprs, flat = [], [], []
    for s in b.steps:
        triple = tuple(sp.sympify(x) for x in (s.flops, s.bops, s.params))
        exprs.append(triple)
        flat += [integer_form(x) for x in triple]
        steps.append(
            StepInfo(s.name, s.title, s.ref, s.kind, triple[1] != 0, triple[2] != 0),
        )
    numpy_ns = [_RUNTIME, "numpy"]
    count_fn = sp.lambdify(args, flat, modules=numpy_ns, cse=True)
    bound = sp.Add(*(majorant(x) for triple in exprs for x in triple if x != 0))
    bound_int = sp.lambdify(args, integer_form(bound), modules=[_RUNTIME, "math"])
    bound_float = sp.lambdify(args, integer_form(bound), modules="numpy")
    return CompiledLayer(layer, conv, tuple(steps), tuple(exprs), count_fn, bound_int, bound_float)


def compile_layer(
    layer: str, convention: str | Convention = "paper", word_bits: int | None = None
) -> CompiledLayer:
    """The compiled (cached) evaluator of a capsule `layer` (`xncost.core.layers`) under a
    convention."""
    if layer not in CAPS_LAYERS:
        known = ", ".join(CAPS_LAYERS)
        raise XncostError(f"cannot vectorise layer {layer!r} (known: {known}; fc: evaluate_fc)")
    return _compile(layer, get_convention(convention, word_bits))


# ----------------------------------------------------------------------------- inputs


def _column(value: Any, name: str) -> np.ndarray:
    """A 1-d array of positive integers (int64, or object when a value exceeds int64)."""
    if isinstance(value, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in value):
        raise XncostError(f"{name} must hold positive integers, got booleans")
    if isinstance(value, (list, tuple)) and any(
        isinstance(v, int) and not -INT64_MAX <= v <= INT64_MAX for v in value
    ):  # numpy would pick uint64 or float64 for these
        arr = np.empty(len(value), dtype=object)
        arr[:] = list(value)
    else:
        arr = np.asarray(value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise XncostError(f"{name} must be a scalar or a 1-d sequence")
    if arr.dtype == bool:
        raise XncostError(f"{name} must hold positive integers, got booleans")
    if arr.dtype.kind in "iu":
        if arr.dtype.kind == "u" and arr.size and arr.max() > INT64_MAX:
            arr = arr.astype(object)
        else:
            arr = arr.astype(np.int64, copy=False)
    elif arr.dtype.kind == "f":
        if arr.size and not (np.isfinite(arr).all() and (arr == np.floor(arr)).all()):
            raise XncostError(f"{name} must hold positive integers")
        if arr.size and arr.max() >= 2**62:
            raise XncostError(f"{name}: pass values beyond 2**62 as Python ints, not floats")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "O":
        for v in arr:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise XncostError(f"{name} must hold positive integers, got {v!r}")
        ints = [int(v) for v in arr]
        if all(v <= INT64_MAX for v in ints):
            arr = np.asarray(ints, dtype=np.int64)
        else:
            arr = np.empty(len(ints), dtype=object)
            arr[:] = ints
    else:
        raise XncostError(f"{name} must hold positive integers")
    if arr.size and (arr <= 0).any():
        raise XncostError(f"{name} must hold positive integers")
    return arr


def shape_columns(**values: Any) -> dict[str, np.ndarray]:
    """Broadcast the six shape fields (scalars or 1-d) to columns of one common length."""
    missing = [f for f in FIELDS if f not in values]
    if missing:
        raise XncostError(f"missing shape fields: {', '.join(missing)}")
    cols = {f: _column(values[f], f) for f in FIELDS}
    lengths = {len(c) for c in cols.values() if len(c) != 1}
    if len(lengths) > 1:
        raise XncostError(f"shape columns have different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 1
    return {f: (np.repeat(c, n) if len(c) == 1 and n != 1 else c) for f, c in cols.items()}


# ----------------------------------------------------------------------------- evaluation


def _as_object(arr: np.ndarray) -> np.ndarray:
    return arr if arr.dtype == object else arr.astype(object)


def _run(c: CompiledLayer, cols: Sequence[np.ndarray], dtype: Any) -> list[Any]:
    """The compiled counts: arrays of `dtype`, or None where a count is identically 0."""
    n = len(cols[0])
    out: list[Any] = []
    for v in c.count_fn(*cols):
        if isinstance(v, np.ndarray) and v.shape == (n,):
            out.append(v if v.dtype == dtype else v.astype(dtype))
        elif v == 0:
            out.append(None)
        else:
            arr = np.empty(n, dtype=dtype)
            arr[:] = int(v)
            out.append(arr)
    return out


@dataclass(frozen=True)
class Evaluation:
    """Exact per-step and total counts of one layer for every row of a batch of shapes.

    Count arrays are int64 when every row fits, else object arrays of Python ints.
    `float_flops` is the sum of the steps' float FLOPs; total FLOPs (Table 5 "Total") is
    float_flops + xnor_bops / word_bits, exposed exactly by `flops_fraction` / `flops_text`.
    """

    layer: str
    convention: Convention
    shape: dict[str, np.ndarray]
    steps: tuple[StepInfo, ...]
    step_flops: dict[str, np.ndarray]
    step_bops: dict[str, np.ndarray]
    step_params: dict[str, np.ndarray]
    float_flops: np.ndarray
    binarization_flops: np.ndarray
    xnor_bops: np.ndarray
    params: np.ndarray
    exact_rows: np.ndarray  # rows evaluated on Python ints (int64 could overflow)

    @property
    def word_bits(self) -> int:
        return self.convention.word_bits

    def __len__(self) -> int:
        return len(self.float_flops)

    def xnor_flops_fraction(self, i: int) -> Any:
        return normalize(Fraction(int(self.xnor_bops[i]), self.word_bits))

    def flops_fraction(self, i: int) -> Any:
        return normalize(
            int(self.float_flops[i]) + Fraction(int(self.xnor_bops[i]), self.word_bits)
        )

    def totals(self, i: int) -> dict[str, Any]:
        """Row i's totals, the same mapping as `Breakdown.totals`."""
        return {
            "flops": self.flops_fraction(i),
            "binarization_flops": int(self.binarization_flops[i]),
            "xnor_bops": int(self.xnor_bops[i]),
            "xnor_flops": self.xnor_flops_fraction(i),
            "params": int(self.params[i]),
        }

    def xnor_flops_text(self) -> list[str]:
        """BOPs / word as exact decimal text per row ('150', '400.640625')."""
        return quotient_text(0, self.xnor_bops, self.word_bits)

    def flops_text(self) -> list[str]:
        """Total FLOPs (float + BOPs / word) as exact decimal text per row."""
        return quotient_text(self.float_flops, self.xnor_bops, self.word_bits)


def _dyadic_digits(k: int, word: int) -> str:
    """The exact decimal digits of k / word for 0 <= k < word = 2**j ('.640625' for 41/64):
    k / 2**j = k * 5**j / 10**j, so they are the j digits of k * 5**j, trailing zeros cut."""
    if not k:
        return ""
    j = word.bit_length() - 1
    return "." + str(k * 5**j).rjust(j, "0").rstrip("0")


def quotient_text(whole: Any, num: np.ndarray, word: int) -> list[str]:
    """Exact text of whole + num / word per row (word a power of two), as `exact_str` gives.
    Only the remainders that occur are formatted, so the cost does not grow with `word`."""
    q, rem = num // word, num % word
    ints, rems = (q + whole).tolist(), rem.tolist()
    digits = {k: _dyadic_digits(int(k), word) for k in set(rems)}
    return [f"{a}{digits[b]}" for a, b in zip(ints, rems, strict=True)]


def _unsafe_rows(c: CompiledLayer, cols: Sequence[np.ndarray]) -> np.ndarray:
    """Rows whose evaluation in int64 could overflow (see the module docstring)."""
    n = len(cols[0])
    big = np.zeros(n, dtype=bool)
    for col in cols:
        if col.dtype == object:
            big |= np.array([v > 2**62 for v in col], dtype=bool)
    if n == 0:
        return big
    corner = [int(max(col.tolist()) if col.dtype == object else col.max()) for col in cols]
    if not big.any() and c.bound_int(*corner) <= INT64_MAX:
        return big
    small = ~big  # every value <= 2**62: converts to float64, and the bound stays finite
    fcols = [np.asarray(col[small], dtype=np.float64) for col in cols]
    with np.errstate(over="ignore", invalid="ignore"):
        bound = np.asarray(c.bound_float(*fcols), dtype=np.float64)
    big[small] = ~(bound < _FLOAT_LIMIT)
    return big


def evaluate(
    layer: str,
    convention: str | Convention = "paper",
    word_bits: int | None = None,
    **shape: Any,
) -> Evaluation:
    """Exact counts of a capsule `layer` for shape columns caps_in, caps_out,
    dim_in, dim_out, iterations, batch (each a scalar or a 1-d array; broadcast)."""
    c = compile_layer(layer, convention, word_bits)
    cols = shape_columns(**shape)
    ordered = [cols[f] for f in FIELDS]
    n = len(ordered[0])
    unsafe = _unsafe_rows(c, ordered)
    if not unsafe.any():
        return _assemble(c, cols, _run(c, ordered, np.int64), unsafe, np.int64)
    values: list[Any] = [None] * (3 * len(c.steps))
    safe = ~unsafe
    parts = [(unsafe, _run(c, [_as_object(col[unsafe]) for col in ordered], object))]
    if safe.any():
        parts.append((safe, _run(c, [col[safe].astype(np.int64) for col in ordered], np.int64)))
    for k in range(len(values)):
        if all(p[1][k] is None for p in parts):
            continue
        values[k] = _zeros(n, object)
        for rows, part in parts:
            if part[k] is not None:
                values[k][rows] = _as_object(part[k])
    return _assemble(c, cols, values, unsafe, object)


def _zeros(n: int, dtype: Any) -> np.ndarray:
    if dtype is object:
        out = np.empty(n, dtype=object)
        out[:] = 0
        return out
    return np.zeros(n, dtype=dtype)


def _assemble(
    c: CompiledLayer,
    cols: dict[str, np.ndarray],
    values: list[Any],
    unsafe: np.ndarray,
    dtype: Any,
) -> Evaluation:
    n = len(unsafe)
    zero = _zeros(n, dtype)
    zero.flags.writeable = False
    flops, bops, params = {}, {}, {}
    sums: dict[str, Any] = {"float": None, "binarization": None, "bops": None, "params": None}

    def add(key: str, v: Any) -> None:
        if v is None:
            return
        if sums[key] is None:
            sums[key] = v.copy()
        else:
            sums[key] += v

    for k, s in enumerate(c.steps):
        f, b, p = values[3 * k : 3 * k + 3]
        flops[s.name] = zero if f is None else f
        bops[s.name] = zero if b is None else b
        params[s.name] = zero if p is None else p
        add("float", f)
        add("bops", b)
        add("params", p)
        if s.kind == "binarization":
            add("binarization", f)
    total = {k: zero if v is None else v for k, v in sums.items()}
    return Evaluation(
        c.layer,
        c.convention,
        cols,
        c.steps,
        flops,
        bops,
        params,
        total["float"],
        total["binarization"],
        total["bops"],
        total["params"],
        unsafe,
    )


def evaluate_shapes(
    layer: str, shapes: Iterable[Any], convention: str | Convention = "paper", **kw: Any
) -> Evaluation:
    """`evaluate` over a sequence of `CapsShape`s."""
    rows = [s.as_dict() for s in shapes]
    columns = {f: [r[f] for r in rows] for f in FIELDS}
    return evaluate(layer, convention, **kw, **columns)


def evaluate_fc(
    dims: Sequence[int],
    batch: Any,
    convention: str | Convention = "paper",
    word_bits: int | None = None,
) -> np.ndarray:
    """Total FLOPs of an FC head (Table 10) for each batch size (exact, via `breakdown`)."""
    from xncost.core.accounting import breakdown
    from xncost.core.shapes import FCShape

    b = _column(batch, "batch")
    conv = get_convention(convention, word_bits)
    per = {
        v: breakdown("fc", FCShape(tuple(dims), v), conv).totals["flops"] for v in set(b.tolist())
    }
    big = any(v > INT64_MAX for v in per.values())
    out = np.empty(len(b), dtype=object if big else np.int64)
    out[:] = [per[v] for v in b.tolist()]
    return out


def evaluation_columns(ev: Evaluation) -> dict[str, Any]:
    """Column name -> values (arrays or lists of exact text) of a sweep table."""
    cols: dict[str, Any] = dict(ev.shape)
    for s in ev.steps:
        cols[f"{s.name}_flops"] = ev.step_flops[s.name]
        if s.has_bops:
            cols[f"{s.name}_bops"] = ev.step_bops[s.name]
    cols["flops"] = ev.flops_text()
    cols["binarization_flops"] = ev.binarization_flops
    cols["xnor_bops"] = ev.xnor_bops
    cols["xnor_flops"] = ev.xnor_flops_text()
    cols["params"] = ev.params
    return cols
