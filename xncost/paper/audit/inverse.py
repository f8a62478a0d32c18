"""Inverse problems: which N, M, D, E or r makes a formula print as the paper's figure.

The printed value is the target of the formula in one unknown (the others at the paper's
values); sympy gives the exact root and an exact search over the same formula gives the
integers whose value prints as the paper's (every formula here is monotone in its unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from xncost.conventions import PAPER, Convention
from xncost.core.accounting import breakdown
from xncost.core.evaluate import generic_branch
from xncost.core.formulas import eq12_speedup, eq15_speedup
from xncost.core.shapes import CapsShape
from xncost.paper.audit.numbers import int_range
from xncost.paper.printed import Printed, Reading

SYMBOL_FIELDS = {"N": "caps_in", "M": "caps_out", "D": "dim_in", "E": "dim_out", "r": "iterations"}
SEARCH_LIMIT = 1 << 40


def _first(pred: Callable[[int], bool], start: int = 1) -> int | None:
    """Smallest n >= start with pred(n), pred monotone (False...True); None below the limit."""
    if pred(start):
        return start
    lo, hi = start, start + 1
    while not pred(hi):
        lo, hi = hi, hi * 2
        if hi > SEARCH_LIMIT:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if pred(mid) else (mid, hi)
    return hi


def printed_interval(
    f: Callable[[int], Any], printed: Printed, reading: Reading = "round"
) -> tuple[int | None, int | None]:
    """Integers n >= 1 with f(n) printing as `printed` under `reading`, for f nondecreasing:
    (lo, hi), hi None when unbounded below the search limit, (None, None) when there is none."""
    target = Fraction(printed.digits)
    lo = _first(lambda n: printed.shown(f(n), reading) >= target)
    if lo is None or printed.shown(f(lo), reading) != target:
        return None, None
    hi = _first(lambda n: printed.shown(f(n), reading) > target, lo)
    return lo, None if hi is None else hi - 1


@dataclass(frozen=True)
class Inverse:
    """One inverse solve: the value of `symbol` that makes an expression print as a target."""

    symbol: str
    paper_value: int
    roots: tuple[Any, ...]  # exact sympy roots of expr = printed value (positive reals)
    lo: int | None
    hi: int | None
    note: str = ""

    @property
    def integers(self) -> str:
        return int_range(self.lo, self.hi)

    def explains(self, n: int) -> bool:
        return self.lo is not None and self.lo <= n and (self.hi is None or n <= self.hi)


def solve_inverse(
    symbol: str,
    paper_value: int,
    expr: Any,
    exact: Callable[[int], Any],
    printed: Printed,
    reading: Reading = "round",
) -> Inverse:
    """Solve expr(symbol) = printed value with sympy; the integer interval (under `reading`)
    by exact search."""
    import sympy as sp

    s = next((x for x in sp.sympify(expr).free_symbols if x.name == symbol), None)
    if s is None:
        return Inverse(
            symbol, paper_value, (), None, None, f"the expression does not contain {symbol}"
        )
    lo, hi = printed_interval(exact, printed, reading)
    at = lo if lo is not None else paper_value
    body = generic_branch(expr)
    body = body.replace(
        lambda e: isinstance(e, sp.ceiling), lambda e: e.func(e.args[0].subs(s, at))
    )
    target = sp.Rational(str(printed.value))
    x = sp.Symbol(symbol, positive=True)  # a real unknown: the exact root need not be an integer
    roots = [r for r in sp.solve(sp.Eq(body.subs(s, x), target), x) if r.is_real and r.is_positive]
    return Inverse(symbol, paper_value, tuple(sorted(roots, key=lambda r: float(r))), lo, hi)


def _caps_total_expr(layer: str, base: CapsShape, field: str, conv: Convention) -> Any:
    import sympy as sp

    sym = sp.Symbol(
        next(k for k, v in SYMBOL_FIELDS.items() if v == field), positive=True, integer=True
    )
    shape = base.replace(**{field: sym})
    return sp.sympify(breakdown(layer, shape, conv).totals["flops"])


def total_inverses(
    layer: str, base: CapsShape, printed: Printed, conv: Convention = PAPER
) -> list[Inverse]:
    """Which N, M, D, E or r (one at a time) makes the layer's total FLOPs print as `printed`."""
    out = []
    for sym, field in SYMBOL_FIELDS.items():
        expr = _caps_total_expr(layer, base, field, conv)

        def exact(n: int, field: str = field) -> Any:
            return breakdown(layer, base.replace(**{field: n}), conv).totals["flops"]

        out.append(solve_inverse(sym, getattr(base, field), expr, exact, printed))
    return out


def speedup_inverses(
    layer: str, base: CapsShape, printed: Printed, reading: Reading = "round"
) -> list[Inverse]:
    """Which N, M, D (Eq. 12 only) or E makes Eq. 12 / 15 as printed give `printed` under
    `reading`."""
    import sympy as sp

    out = []
    names = ("N", "M", "D", "E") if layer == "xnodr" else ("N", "M", "E")
    values = {"N": base.N, "M": base.M, "D": base.D, "E": base.E}
    for name in names:
        sym = sp.Symbol(name, positive=True, integer=True)

        def fn(n: Any, name: str = name) -> Any:
            v = {**values, name: n}
            if layer == "xnodr":
                return eq12_speedup(v["N"], v["M"], v["D"], v["E"])
            return eq15_speedup(v["N"], v["M"], v["E"])

        expr = fn(sym)
        if not sp.sympify(expr).has(sym) or sp.simplify(sp.diff(expr, sym)) == 0:
            note = f"Eq. {12 if layer == 'xnodr' else 15} does not depend on {name}"
            out.append(Inverse(name, values[name], (), None, None, note))
            continue
        out.append(solve_inverse(name, values[name], expr, fn, printed, reading))
    return out
