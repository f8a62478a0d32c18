"""Exact arithmetic that works the same on Python ints and on sympy expressions.

Counts are ints; a count divided by a word size (XNOR FLOPs = BOPs / 64) is a
`fractions.Fraction`, normalised back to int when whole. The same formula functions receive
sympy symbols to produce symbolic expressions, so every number has one definition.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from functools import wraps
from typing import Any, TypeVar

from xncost.errors import XncostError

# The most decimal digits a shape value may have (README, "What you get"): Python's own default
# limit on int <-> str conversion. Counts, products of a few such values, can be longer; they
# are printed exactly (`all_digits`), the bound keeping the quadratic conversion fast.
MAX_INPUT_DIGITS = 4300
_F = TypeVar("_F", bound=Callable[..., Any])


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


def unlimit_int_digits() -> None:
    """Lift Python's limit on int <-> str conversion for the whole process (the CLI's entry
    point: inputs are bounded by `MAX_INPUT_DIGITS` instead); a no-op before Python 3.11."""
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)


@contextmanager
def all_digits() -> Iterator[None]:
    """Within the block, ints of any length convert to text (and back) exactly."""
    if not hasattr(sys, "get_int_max_str_digits"):
        yield
        return
    saved = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(saved)


def all_digits_in(func: _F) -> _F:
    """Decorator: `func` runs within `all_digits()` (for functions that write counts)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with all_digits():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def check_digits(value: int, name: str) -> int:
    """`value` if it has at most `MAX_INPUT_DIGITS` decimal digits, else XncostError."""
    if abs(value) >= _DIGITS_BOUND:
        raise XncostError(f"{name} has more than {MAX_INPUT_DIGITS} digits (the most xncost takes)")
    return value


def parse_int(text: str, name: str) -> int:
    """`text` as an int of at most `MAX_INPUT_DIGITS` digits, else XncostError."""
    digits = text.strip().lstrip("+-").replace("_", "").lstrip("0")
    if len(digits) > MAX_INPUT_DIGITS:
        raise XncostError(f"{name} has more than {MAX_INPUT_DIGITS} digits (the most xncost takes)")
    try:
        with all_digits():
            return int(text)
    except ValueError:
        raise XncostError(f"{name} is not an integer: {text.strip()!r:.60}") from None


_DIGITS_BOUND = 10**MAX_INPUT_DIGITS


@all_digits_in
def decimal_places(den: int) -> int | None:
    """Digits after the point of p/den's finite decimal expansion (den = 2^a 5^b: max(a, b)),
    or None when it has none."""
    counts = []
    for prime in (2, 5):
        k = 0
        while den % prime == 0:
            den //= prime
            k += 1
        counts.append(k)
    return max(counts) if den == 1 else None


def exact_str(value: Any) -> str:
    """Exact text of a count: '1958400', '400.640625' or '63.99' (a fraction with a finite
    decimal expansion: denominator 2^a 5^b), '1/3' otherwise."""
    value = normalize(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Fraction):
        num, den = value.numerator, value.denominator
        places = decimal_places(den)
        if places is not None:  # a finite decimal, computed on integers
            sign, num = ("-", -num) if num < 0 else ("", num)
            whole, rest = divmod(num, den)
            digits = str(rest * 10**places // den).rjust(places, "0").rstrip("0")
            return f"{sign}{whole}.{digits}"
        return f"{num}/{den}"
    return str(value)


def to_float(value: Any) -> float:
    return float(Fraction(value)) if isinstance(value, (int, Fraction)) else float(value)
