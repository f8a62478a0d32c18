"""Eqs. 9-15: printed values at the paper's shapes, corrected forms, limits, exactness."""

from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from xncost.core import formulas as F


def test_eq12_eq15_at_paper_shapes_round_to_table7():
    assert round(float(F.eq12_speedup(160, 10, 8, 16)), 2) == 63.99
    assert round(float(F.eq12_speedup(256, 10, 8, 16)), 2) == 63.99
    assert round(float(F.eq15_speedup(160, 10, 16)), 2) == 63.84
    assert round(float(F.eq15_speedup(256, 10, 16)), 2) == 63.90
    assert round(float(F.eq15_speedup(128, 10, 16)), 2) == 63.80  # the authors' code's N


def test_printed_forms_keep_the_papers_inconsistencies():
    n, m, d, e = 3, 5, 7, 11
    assert F.eq10_printed(n, m, d, e) == n * m * e * d * e  # E twice
    assert F.eq11_printed(n, m, d, e) == Fraction(n * m * e * d * e, 64) + m  # adds M
    x = n * m * e * e * d
    assert F.eq12_speedup(n, m, d, e) == Fraction(x) / (Fraction(x, 64) + d)  # adds D


def test_eq9_is_exact_fraction():
    s = F.eq9_speedup(3, 9, 100)
    assert isinstance(s, Fraction)
    assert s == Fraction(2700, 2700 / Fraction(64) + 100)


@given(st.integers(1, 4096), st.integers(1, 64), st.integers(1, 128), st.integers(1, 128))
def test_speedups_below_64_and_increasing_in_n(n, m, d, e):
    s12, s15 = F.eq12_speedup(n, m, d, e), F.eq15_speedup(n, m, e)
    assert 0 < s12 < 64 and 0 < s15 < 64
    assert F.eq12_speedup(n + 1, m, d, e) > s12
    assert F.eq15_speedup(n + 1, m, e) > s15


@pytest.mark.parametrize("number", [9, 12, 15])
def test_speedup_limit_is_64(number):
    assert F.limit_in_caps_in(F.equation(number)) == 64


def test_speedup_approaches_64_numerically():
    gaps = [64 - F.eq15_speedup(10**k, 10, 16) for k in range(2, 8)]
    assert all(a > b > 0 for a, b in zip(gaps, gaps[1:], strict=False))
    assert gaps[-1] < Fraction(1, 10**4)


def test_corrected_forms_simplify_to_n_independent_speedups():
    d, e = sp.symbols("D E", positive=True, integer=True)
    assert sp.simplify(F.symbolic(F.equation(12), corrected=True) - 64 * d / (d + 64)) == 0
    assert sp.simplify(F.symbolic(F.equation(15), corrected=True) - 64 * e / (e + 64)) == 0
    assert F.eq12_corrected(160, 10, 8, 16) == Fraction(64 * 8, 72)


@given(st.integers(1, 5000), st.sampled_from([8, 16, 32, 64, 128]))
def test_word_bound(k, word):
    wb = F.word_bound(k, word)
    assert wb <= word
    assert wb == Fraction(k, -(-k // word))
    if k % word == 0:
        assert wb == word


def test_symbolic_and_numeric_agree():
    for eq in F.EQUATIONS:
        expr = F.symbolic(eq)
        syms = sorted(expr.free_symbols, key=lambda s: s.name)
        values = {s: v for s, v in zip(syms, (7, 13, 5, 11), strict=False)}
        args = [
            values[s]
            for s in sorted(
                expr.free_symbols,
                key=lambda s: eq.symbols.split().index(
                    {"N_W": "n_w", "N_I": "n_i"}.get(s.name, s.name)
                ),
            )
        ]
        assert sp.Rational(expr.subs(values)) == sp.Rational(str(eq.printed(*args)))
