"""Eqs. 9-15 of the paper, as printed and corrected.

Each equation is a plain function of its symbols that returns an exact Fraction/int for ints
and a sympy expression for sympy symbols (`xncost.exact`). The printed forms are kept
verbatim, inconsistencies included (docs/paper.md): Eq. 10 counts dim_out twice, Eq. 11 adds
caps_out while Eq. 12 adds dim_in. The corrected forms apply Eq. 9's own reading to a
capsule projector: c·N_W is the length k of one dot product and N_I the number of dot
products (outputs), so S = k·n / (k·n/64 + n) = 64k / (k + 64), independent of N.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from xncost.exact import ceil_div, ratio

WORD = 64


def eq9_speedup(c: Any, n_w: Any, n_i: Any, word: int = WORD) -> Any:
    """Eq. 9: S = c·N_W·N_I / (c·N_W·N_I / 64 + N_I) (XNOR-Net convolution speed-up)."""
    ops = c * n_w * n_i
    return ratio(ops, ratio(ops, word) + n_i)


def eq10_printed(N: Any, M: Any, D: Any, E: Any) -> Any:  # noqa: N803 - the paper's symbols
    """Eq. 10 as printed: caps_in·caps_out × dim_out·dim_in·dim_out (E twice)."""
    return N * M * E * D * E


def eq11_printed(N: Any, M: Any, D: Any, E: Any, word: int = WORD) -> Any:  # noqa: N803
    """Eq. 11 as printed: Eq. 10 / 64 + caps_out."""
    return ratio(eq10_printed(N, M, D, E), word) + M


def eq12_speedup(N: Any, M: Any, D: Any, E: Any, word: int = WORD) -> Any:  # noqa: N803
    """Eq. 12 as printed: N·M·E²·D / (N·M·E²·D / 64 + D) (XnODR; adds D where Eq. 11 adds M)."""
    x = N * M * E**2 * D
    return ratio(x, ratio(x, word) + D)


def eq13_printed(N: Any, M: Any, E: Any) -> Any:  # noqa: N803
    """Eq. 13 as printed: caps_in × caps_out × dim_out²."""
    return N * M * E**2


def eq14_printed(N: Any, M: Any, E: Any, word: int = WORD) -> Any:  # noqa: N803
    """Eq. 14 as printed: Eq. 13 / 64 + dim_out."""
    return ratio(eq13_printed(N, M, E), word) + E


def eq15_speedup(N: Any, M: Any, E: Any, word: int = WORD) -> Any:  # noqa: N803
    """Eq. 15 as printed: N·M·E² / (N·M·E² / 64 + E) (XnIDR)."""
    y = eq13_printed(N, M, E)
    return ratio(y, eq14_printed(N, M, E, word))


def eq10_corrected(N: Any, M: Any, D: Any, E: Any) -> Any:  # noqa: N803
    """Float LP_out multiply-accumulates: N·M·D·E (one dot product of length D per output)."""
    return N * M * D * E


def eq11_corrected(N: Any, M: Any, D: Any, E: Any, word: int = WORD) -> Any:  # noqa: N803
    """Binary LP_out by Eq. 9's reading: N·M·D·E / 64 binary + N·M·E scaling operations."""
    return ratio(eq10_corrected(N, M, D, E), word) + N * M * E


def eq12_corrected(N: Any, M: Any, D: Any, E: Any, word: int = WORD) -> Any:  # noqa: N803
    """XnODR speed-up by Eq. 9 applied to LP_out: 64·D / (D + 64)."""
    return ratio(eq10_corrected(N, M, D, E), eq11_corrected(N, M, D, E, word))


def eq13_corrected(N: Any, M: Any, E: Any) -> Any:  # noqa: N803
    """Float agreement multiply-accumulates per b-update: N·M·E."""
    return N * M * E


def eq14_corrected(N: Any, M: Any, E: Any, word: int = WORD) -> Any:  # noqa: N803
    """Binary agreement by Eq. 9's reading: N·M·E / 64 binary + N·M scaling operations."""
    return ratio(eq13_corrected(N, M, E), word) + N * M


def eq15_corrected(N: Any, M: Any, E: Any, word: int = WORD) -> Any:  # noqa: N803
    """XnIDR speed-up by Eq. 9 applied to the agreement: 64·E / (E + 64)."""
    return ratio(eq13_corrected(N, M, E), eq14_corrected(N, M, E, word))


def word_bound(k: Any, word: int = WORD) -> Any:
    """Speed-up ceiling of packed dot products of length k: k / ceil(k / word) (<= word)."""
    return ratio(k, ceil_div(k, word))


def eq9_speedup_sum(terms: Iterable[tuple[Any, Any]], word: int = WORD) -> Any:
    """Eq. 9 over several xnorized products at once, each (k, n): n dot products of length k:
    S = sum k·n / (sum k·n / 64 + sum n). One term is Eq. 9 itself (c·N_W = k, N_I = n)."""
    terms = list(terms)
    ops = sum((k * n for k, n in terms), 0)
    return ratio(ops, ratio(ops, word) + sum((n for _, n in terms), 0))


def word_bound_sum(terms: Iterable[tuple[Any, Any]], word: int = WORD) -> Any:
    """`word_bound` over several products, each (k, n): sum k·n / sum ceil(k / word)·n."""
    terms = list(terms)
    ops = sum((k * n for k, n in terms), 0)
    return ratio(ops, sum((ceil_div(k, word) * n for k, n in terms), 0))


def xnbdr_speedup(N: Any, M: Any, D: Any, E: Any, word: int = WORD) -> Any:  # noqa: N803
    """XnBDR (not costed in the paper): Eqs. 12 and 15 summed term by term, as the paper sums
    XnODR's and XnIDR's binarization and XNOR terms: (x + y) / ((x + y) / 64 + D + E) with
    x = N·M·E²·D (Eq. 12) and y = N·M·E² (Eq. 15). See docs/architecture.md."""
    xy = N * M * E**2 * D + eq13_printed(N, M, E)
    return ratio(xy, ratio(xy, word) + D + E)


def call_with_symbols(fn: Callable[..., Any], shape: Any, word: int = WORD) -> Any:
    """Call a speed-up equation with the shape's symbols it names (N, M, D, E, r, B; word)."""
    import inspect

    values = {"N": shape.N, "M": shape.M, "D": shape.D, "E": shape.E, "r": shape.r}
    values |= {"B": shape.B, "word": word}
    return fn(**{p: values[p] for p in inspect.signature(fn).parameters})


@dataclass(frozen=True)
class Equation:
    """One numbered equation: the printed form, the corrected form and what differs."""

    number: int
    name: str
    printed: Callable[..., Any]
    corrected: Callable[..., Any] | None
    symbols: str
    note: str


EQUATIONS: tuple[Equation, ...] = (
    Equation(
        9,
        "XNOR-Net convolution speed-up",
        eq9_speedup,
        None,
        "c n_w n_i",
        "c·N_W·N_I binary operations at 64 per clock plus N_I non-binary ones",
    ),
    Equation(
        10,
        "float LP_out operations (XnODR)",
        eq10_printed,
        eq10_corrected,
        "N M D E",
        "printed form multiplies by dim_out twice; one dot product of length D per output",
    ),
    Equation(
        11,
        "binary LP_out operations (XnODR)",
        eq11_printed,
        eq11_corrected,
        "N M D E",
        "printed form adds caps_out; the non-binary work is one scaling per output",
    ),
    Equation(
        12,
        "XnODR speed-up",
        eq12_speedup,
        eq12_corrected,
        "N M D E",
        "printed denominator adds dim_in where Eq. 11 adds caps_out; corrected form "
        "does not depend on N, M or E",
    ),
    Equation(
        13,
        "float agreement operations (XnIDR)",
        eq13_printed,
        eq13_corrected,
        "N M E",
        "printed form multiplies by dim_out twice; one dot product of length E per pair",
    ),
    Equation(
        14,
        "binary agreement operations (XnIDR)",
        eq14_printed,
        eq14_corrected,
        "N M E",
        "printed form adds dim_out; the non-binary work is one scaling per pair",
    ),
    Equation(
        15,
        "XnIDR speed-up",
        eq15_speedup,
        eq15_corrected,
        "N M E",
        "corrected form does not depend on N or M",
    ),
)


def equation(number: int) -> Equation:
    for eq in EQUATIONS:
        if eq.number == number:
            return eq
    raise KeyError(number)


def symbolic(eq: Equation, corrected: bool = False) -> Any:
    """The equation as a sympy expression of positive integer symbols."""
    import sympy as sp

    fn = eq.corrected if corrected else eq.printed
    if fn is None:
        return None
    names = {"n_w": "N_W", "n_i": "N_I"}
    syms = [sp.Symbol(names.get(s, s), positive=True, integer=True) for s in eq.symbols.split()]
    return sp.simplify(fn(*syms)) if corrected else fn(*syms)


def limit_in_caps_in(eq: Equation) -> Any:
    """lim_{N -> oo} of a speed-up equation (64 for Eqs. 12 and 15)."""
    import sympy as sp

    expr = symbolic(eq)
    n = next(s for s in expr.free_symbols if s.name in ("N", "c"))
    return sp.limit(expr, n, sp.oo)
