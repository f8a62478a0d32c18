"""Exact arithmetic that works the same on Python ints and on sympy expressions.

Counts are ints; a count divided by a word size (XNOR FLOPs = BOPs / 64) is a
`fractions.Fraction`, normalised back to int when whole. The same formula functions receive
sympy symbols to produce symbolic expressions, so every number has one definition.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any


def is_symbolic(value: Any) -> bool:
    """True for sympy objects (checked without importing sympy)."""
    return type(value).__module__.startswith("sympy")


def normalize(value: Any) -> Any:
    """Fraction with denominator 1 -> int; everything else unchanged."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return value.numerator
    return value


def ratio(num: Any, den: Any) -> Any:
    """Exact num / den: a Fraction (or int) for numbers, a sympy expression for symbols."""
    if is_symbolic(num) or is_symbolic(den):
        import sympy as sp

        return sp.sympify(num) / sp.sympify(den)
    return normalize(Fraction(num) / Fraction(den))


def ceil_div(num: Any, den: Any) -> Any:
    """ceil(num / den): integer arithmetic for ints, sympy.ceiling for symbols."""
    if is_symbolic(num) or is_symbolic(den):
        import sympy as sp

        return sp.ceiling(sp.sympify(num) / den)
    return -(-int(num) // int(den))


def if_one(k: Any, when_one: Any, otherwise: Any) -> Any:
    """`when_one` if k == 1 else `otherwise` (a sympy Piecewise for symbolic k)."""
    if is_symbolic(k):
        import sympy as sp

        return sp.Piecewise((when_one, sp.Eq(k, 1)), (otherwise, True))
    return when_one if k == 1 else otherwise


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def exact_str(value: Any) -> str:
    """Exact text of a count: '1958400', '400.640625' (dyadic fraction), '1/3' otherwise."""
    value = normalize(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Fraction):
        num, den = value.numerator, value.denominator
        twos = den.bit_length() - 1
        if den == 1 << twos:  # dyadic: exactly `twos` decimals, computed on integers
            sign, num = ("-", -num) if num < 0 else ("", num)
            whole, rest = divmod(num, den)
            digits = str(rest * 5**twos).rjust(twos, "0").rstrip("0")
            return f"{sign}{whole}.{digits}"
        return f"{num}/{den}"
    return str(value)


def to_float(value: Any) -> float:
    return float(Fraction(value)) if isinstance(value, (int, Fraction)) else float(value)
