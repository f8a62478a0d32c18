"""The XnIDR totals of Table 5: the residual, single convention terms, and a structured search.

xncost's XnIDR total is LP_out + routing + binarization + XNOR FLOPs (Table 3, `paper`
convention). The printed totals are larger. This module computes the residual per capsule
pair (given the print rounding), solves for single convention terms, and enumerates plausible
multiplicities of every Table 3 step (and of the DR steps they share, which must keep Table 9)
to see which countings print both totals.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from fractions import Fraction
from typing import Any

from xncost.conventions import PAPER, Convention
from xncost.core.accounting import breakdown
from xncost.core.shapes import CAPS_PRESETS, CapsShape
from xncost.paper.printed import Interval, Printed
from xncost.paper.store import PaperCell, printed_lookup

PRESETS = {"mobilenet_xnidr": "mobilenet", "resnet_xnidr": "resnet"}
DR_MODELS = {"mobilenet": "mobilenet_dr", "resnet": "resnet_dr"}


@dataclass(frozen=True)
class Residual:
    """One printed XnIDR total against xncost's."""

    model: str
    shape: CapsShape
    printed: PaperCell
    xncost: Fraction
    per_pair: Interval  # (printed interval - xncost) / (N·M·B)

    @property
    def pairs(self) -> int:
        return self.shape.N * self.shape.M * self.shape.B


def residuals() -> list[Residual]:
    """The two XnIDR totals (N = 160 and 256) and their residual per capsule pair."""
    lookup = printed_lookup(5)
    out = []
    for model, preset in PRESETS.items():
        shape = CAPS_PRESETS[preset]
        cell = next(c for k, c in lookup.items() if k[1:] == (model, "total_flops"))
        value = Fraction(breakdown("xnidr", shape).totals["flops"])
        pairs = shape.N * shape.M * shape.B
        per_pair = (cell.printed.interval - value).scaled(Fraction(1, pairs))
        out.append(Residual(model, shape, cell, value, per_pair))
    return out


def common_per_pair(res: list[Residual]) -> tuple[Interval | None, list[int]]:
    """The per-pair cost interval explaining every total, and its integers."""
    common: Interval | None = res[0].per_pair
    for r in res[1:]:
        common = common.intersect(r.per_pair) if common else None
    if common is None:
        return None, []
    ints = [k for k in range(math.floor(common.lo), math.ceil(common.hi) + 1) if k in common]
    return common, ints


@dataclass(frozen=True)
class TermFit:
    """Which values of one convention term give each printed XnIDR total."""

    term: str
    paper: int
    per_total: tuple[Interval, ...]
    integers: tuple[int, ...]  # integers giving every total (at most `limit` listed)
    more: bool


def term_fits(res: list[Residual], limit: int = 4) -> list[TermFit]:
    """For each convention term (all others as in `paper`): total(t) = printed bounds, solved."""
    import sympy as sp

    t = sp.Symbol("t", real=True)
    out = []
    for name in Convention.price_fields():
        per_total = []
        for r in res:
            total = sp.sympify(
                breakdown("xnidr", r.shape, dc_replace(PAPER, **{name: t})).totals["flops"]
            )
            if not total.has(t):
                break
            iv = r.printed.printed.interval
            a = sp.solve(sp.Eq(total, sp.Rational(iv.lo.numerator, iv.lo.denominator)), t)[0]
            b = sp.solve(sp.Eq(total, sp.Rational(iv.hi.numerator, iv.hi.denominator)), t)[0]
            lo, hi = sorted((Fraction(str(a)), Fraction(str(b))))
            per_total.append(Interval(lo, hi, a <= b, a > b))
        else:
            both: Interval | None = per_total[0]
            for iv in per_total[1:]:
                both = both.intersect(iv) if both else None
            ints: list[int] = []
            if both is not None:
                k = math.ceil(both.lo)
                while k in both and len(ints) <= limit:
                    ints.append(k)
                    k += 1
            out.append(
                TermFit(
                    name,
                    getattr(PAPER, name),
                    tuple(per_total),
                    tuple(ints[:limit]),
                    len(ints) > limit,
                )
            )
    return out


# ----------------------------------------------------------------------------- the search


@dataclass(frozen=True)
class Dimension:
    """One choice of the search: a step (or price) and its plausible options."""

    name: str
    what: str
    options: tuple[str, ...]  # option labels; the first is xncost's `paper` reading
    shared: bool  # also a step of DR (must keep Table 9)


def _mult(label: str, r: int) -> int:
    return {"0": 0, "1": 1, "r-1": r - 1, "r": r}[label]


DIMENSIONS = (
    Dimension("lp_out", "LP_out (Eq. 2) counted", ("1", "r"), True),
    Dimension("softmax", "softmax (step 5) iterations", ("r", "r-1"), True),
    Dimension("softmax_price", "softmax FLOPs per pair", ("2", "1", "3", "4"), True),
    Dimension("weighted_sum", "weighted sum (step 6) iterations", ("r", "r-1"), True),
    Dimension("squash", "squash (step 7) iterations", ("r", "r-1"), True),
    Dimension("squash_element", "squash FLOPs per output element", ("0", "2", "3"), True),
    Dimension("squash_capsule", "squash FLOPs per output capsule", ("0", "4"), True),
    Dimension("update", "b <- b + ... additions (1 per pair) in", ("0", "r-1", "r"), True),
    Dimension("binarize_uhat", "binarize u_hat (step 8) iterations", ("r-1", "r"), False),
    Dimension("binarize_v", "binarize v (step 9) iterations", ("r-1", "r"), False),
    Dimension("xnor", "XNOR agreement (step 10) iterations", ("r-1", "r"), False),
    Dimension(
        "float_agreement", "float agreement beside the XNOR one in", ("0", "r-1", "r"), False
    ),
    Dimension("rescale", "alpha_u·alpha_v rescale FLOPs per pair", ("0", "1", "2"), False),
)
DR_AGREEMENT = ("r-1", "r")  # DR's own float agreement (Eq. 6) iterations


@dataclass(frozen=True)
class Units:
    """Per-iteration costs of every step at one shape, priced by the `paper` convention."""

    r: int
    lp_out: Any
    softmax: dict[str, Any]
    weighted_sum: Any
    squash: dict[tuple[str, str], Any]
    update: Any
    binarize_uhat: Any
    binarize_v: Any
    xnor: dict[str, Any]  # by rescale price: XNOR FLOPs + rescale
    xnor_bops: Any
    float_agreement: Any


def _per_iteration(
    layer: str, shape: CapsShape, conv: Convention, step: str, key: str = "total_flops"
) -> Fraction:
    st = breakdown(layer, shape, conv).step(step)
    return Fraction(getattr(st, key)) / st.repeats


def units(shape: CapsShape) -> Units:
    """The search's building blocks, each from xncost's accounting under a priced convention."""
    price = lambda **kw: dc_replace(PAPER, **kw)  # noqa: E731
    dims = {d.name: d for d in DIMENSIONS}
    return Units(
        r=shape.r,
        lp_out=breakdown("xnidr", shape).step("lp_out").flops,
        softmax={
            p: _per_iteration("xnidr", shape, price(softmax_per_element=int(p)), "softmax")
            for p in dims["softmax_price"].options
        },
        weighted_sum=_per_iteration("xnidr", shape, PAPER, "weighted_sum"),
        squash={
            (e, c): _per_iteration(
                "xnidr",
                shape,
                price(squash_per_element=int(e), squash_per_capsule=int(c)),
                "squash",
            )
            for e in dims["squash_element"].options
            for c in dims["squash_capsule"].options
        },
        update=_per_iteration("dr", shape, price(agreement_add=1), "agreement")
        - _per_iteration("dr", shape, PAPER, "agreement"),
        binarize_uhat=_per_iteration("xnidr", shape, PAPER, "binarize_uhat"),
        binarize_v=_per_iteration("xnidr", shape, PAPER, "binarize_v"),
        xnor={
            k: _per_iteration("xnidr", shape, price(rescale_per_output=int(k)), "xnor_agreement")
            for k in dims["rescale"].options
        },
        xnor_bops=_per_iteration("xnidr", shape, PAPER, "xnor_agreement", "bops"),
        float_agreement=_per_iteration("dr", shape, PAPER, "agreement"),
    )


def shared_cost(u: Units, c: dict[str, str]) -> Any:
    """The steps XnIDR and DR share (LP_out, softmax, weighted sum, squash, b updates)."""
    r = u.r
    return (
        _mult(c["lp_out"], r) * u.lp_out
        + _mult(c["softmax"], r) * u.softmax[c["softmax_price"]]
        + _mult(c["weighted_sum"], r) * u.weighted_sum
        + _mult(c["squash"], r) * u.squash[(c["squash_element"], c["squash_capsule"])]
        + _mult(c["update"], r) * u.update
    )


def binarization(u: Units, c: dict[str, str]) -> Any:
    return (
        _mult(c["binarize_uhat"], u.r) * u.binarize_uhat
        + _mult(c["binarize_v"], u.r) * u.binarize_v
    )


def xnidr_total(u: Units, c: dict[str, str]) -> Any:
    r = u.r
    return (
        shared_cost(u, c)
        + binarization(u, c)
        + _mult(c["xnor"], r) * u.xnor[c["rescale"]]
        + _mult(c["float_agreement"], r) * u.float_agreement
    )


def dr_total(u: Units, c: dict[str, str], agreement: str) -> Any:
    return shared_cost(u, c) + _mult(agreement, u.r) * u.float_agreement


@dataclass(frozen=True)
class Fit:
    """A combination that prints both XnIDR totals, and the other rows it keeps."""

    choice: dict[str, str]
    binarization_rows: bool
    bop_rows: bool
    table9: bool

    @property
    def keeps_all(self) -> bool:
        return self.binarization_rows and self.bop_rows and self.table9


@dataclass(frozen=True)
class Search:
    """The structured residual search's result."""

    searched: int
    fits: tuple[Fit, ...]
    paper_reading_fits: bool  # xncost's own counting (every first option) is among the fits

    def count(self, attr: str) -> int:
        return sum(1 for f in self.fits if getattr(f, attr))

    def shared_options(self, fits: tuple[Fit, ...] | None = None) -> dict[str, tuple[str, ...]]:
        """For each dimension, the options the fits use (one option: all fits share it)."""
        fits = self.fits if fits is None else fits
        return {
            d.name: tuple(o for o in d.options if any(f.choice[d.name] == o for f in fits))
            for d in DIMENSIONS
        }


def _int_bounds(iv: Interval, scale: int) -> tuple[int, int]:
    """Integers x with x / scale in the half-open print interval iv: lo <= x < hi."""
    return math.ceil(iv.lo * scale), math.ceil(iv.hi * scale)


def _scaled(u: Units) -> tuple[Units, int]:
    """The same units times the least common denominator, as ints (fast exact sums)."""
    values = [u.lp_out, u.weighted_sum, u.update, u.binarize_uhat, u.binarize_v, u.xnor_bops]
    values += [u.float_agreement, *u.softmax.values(), *u.squash.values(), *u.xnor.values()]
    scale = math.lcm(*(Fraction(v).denominator for v in values))

    def k(v: Fraction | int) -> int:
        return int(Fraction(v) * scale)

    return (
        Units(
            u.r,
            k(u.lp_out),
            {a: k(v) for a, v in u.softmax.items()},
            k(u.weighted_sum),
            {a: k(v) for a, v in u.squash.items()},
            k(u.update),
            k(u.binarize_uhat),
            k(u.binarize_v),
            {a: k(v) for a, v in u.xnor.items()},
            k(u.xnor_bops),
            k(u.float_agreement),
        ),  # fmt: skip
        scale,
    )


@dataclass(frozen=True)
class _Case:
    units: Units
    total: tuple[int, int]
    scale: int
    exact: Units
    binarization: tuple[Printed, ...]
    bops: tuple[Printed, ...]
    xnor_flops: tuple[Printed, ...]
    dr: tuple[Printed, ...]


def _cases() -> list[_Case]:
    t5, t9 = printed_lookup(5), printed_lookup(9)
    out = []
    for model, preset in PRESETS.items():
        exact = units(CAPS_PRESETS[preset])
        scaled, scale = _scaled(exact)
        mine = {k: c.printed for k, c in t5.items() if k[1] == model}

        def rows(metric: str, mine: dict = mine) -> tuple[Printed, ...]:
            return tuple(p for (_, _, m), p in mine.items() if m == metric)

        total = rows("total_flops")[0]
        dr = tuple(c.printed for k, c in t9.items() if k[1] == DR_MODELS[preset])
        out.append(
            _Case(
                scaled,
                _int_bounds(total.interval, scale),
                scale,
                exact,
                rows("binarization_flops"),
                rows("xnor_bops"),
                rows("xnor_flops"),
                dr,
            )  # fmt: skip
        )
    return out


def _keeps(cases: list[_Case], c: dict[str, str]) -> Fit:
    def ok(rows: tuple[Printed, ...], value: Fraction) -> bool:
        return all(p.matches(value) for p in rows)

    bin_ok = all(ok(k.binarization, binarization(k.exact, c)) for k in cases)
    bop_ok = all(
        ok(k.bops, _mult(c["xnor"], k.exact.r) * k.exact.xnor_bops)
        and ok(k.xnor_flops, _mult(c["xnor"], k.exact.r) * k.exact.xnor["0"])
        for k in cases
    )
    t9_ok = any(all(ok(k.dr, dr_total(k.exact, c, a)) for k in cases) for a in DR_AGREEMENT)
    return Fit(c, bin_ok, bop_ok, t9_ok)


def residual_search() -> Search:
    """Enumerate every combination of DIMENSIONS; keep those printing both XnIDR totals."""
    cases = _cases()
    names = [d.name for d in DIMENSIONS]
    paper = tuple(d.options[0] for d in DIMENSIONS)
    fits = []
    searched = 0
    paper_fits = False
    for combo in itertools.product(*(d.options for d in DIMENSIONS)):
        searched += 1
        c = dict(zip(names, combo, strict=True))
        if all(k.total[0] <= xnidr_total(k.units, c) < k.total[1] for k in cases):
            paper_fits = paper_fits or combo == paper
            fits.append(_keeps(cases, c))
    return Search(searched, tuple(fits), paper_fits)
