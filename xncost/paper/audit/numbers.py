"""Exact numbers as audit text: decimals rounded half up, exact fractions, integer ranges."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from xncost.exact import decimal_places
from xncost.paper.printed import Interval


def fraction(x: Any, digits: int = 30) -> Fraction:
    """x (int, Fraction, sympy number or float) as an exact Fraction (irrationals to `digits`)."""
    if isinstance(x, (int, Fraction)):
        return Fraction(x)
    import sympy as sp

    x = sp.nsimplify(x) if isinstance(x, float) else sp.sympify(x)
    if x.is_Rational:
        return Fraction(int(x.p), int(x.q))
    return Fraction(str(sp.N(x, digits + 10)))


def dec(x: Any, places: int = 2) -> str:
    """x to `places` decimals, rounded half up, with thousands separators."""
    q = fraction(x, places + 6)
    n = math.floor(q * 10**places + Fraction(1, 2))
    sign = "-" if n < 0 else ""
    whole, frac = divmod(abs(n), 10**places)
    return f"{sign}{whole:,}" + (f".{frac:0{places}d}" if places else "")


def exact_text(x: Any) -> str:
    """An exact number: '127.6', '1,280', '6380/27 (~236.2963)'; irrational roots as sympy."""
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, Fraction):
        q = x.denominator
        if q == 1:
            return f"{x.numerator:,}"
        places = decimal_places(q)
        if places is not None:
            return dec(x, places)
        return f"{x.numerator}/{q} (~{dec(x, 4)})"
    import sympy as sp

    x = sp.nsimplify(x) if isinstance(x, float) else sp.sympify(x)
    if x.is_Rational:
        return exact_text(Fraction(int(x.p), int(x.q)))
    return f"{sp.sstr(x)} (~{dec(x, 4)})"


def int_range(lo: int | None, hi: int | None) -> str:
    """'none', '>= lo', 'lo' or 'lo to hi'."""
    if lo is None:
        return "none"
    if hi is None:
        return f">= {lo:,}"
    return f"{lo:,}" if lo == hi else f"{lo:,} to {hi:,}"


def interval_text(iv: Interval, places: int | None = None) -> str:
    """'[a, b)' with the interval's own brackets; exact, or rounded to `places`."""
    show = exact_text if places is None else (lambda v: dec(v, places))
    if iv.lo == iv.hi and iv.lo_closed and iv.hi_closed:
        return show(iv.lo)
    return (
        ("[" if iv.lo_closed else "(")
        + f"{show(iv.lo)}, {show(iv.hi)}"
        + ("]" if iv.hi_closed else ")")
    )
