"""A printed figure and how to compare with it: "68.17M", "740.16K", "15,360", "5.22%",
"63.99", "1.68e9" (1.68 x 10^9), "969.82 k", "0.23 GMac" or "58x" is parsed into an exact value,
a unit scale, its number of decimals and its unit. xncost's value *matches* a printed one when it
reads as the printed digits at the printed precision under a *reading*: rounded half up
(`round`) or truncated toward zero (`truncate`). Which reading a table follows is decided from
its own cells (`ReadingVerdict`, docs/paper.md). The printed figures themselves are in
`reference/` (`xncost.paper.store`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from xncost.errors import XncostError

SCALES = {"": 1, "K": 10**3, "k": 10**3, "M": 10**6, "B": 10**9, "G": 10**9}
_FIGURE = re.compile(
    r"(?P<num>[0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+)(?:e(?P<exp>[+-]?[0-9]{1,3}))?"
    r"(?P<sep> ?)(?P<scale>[KkMBG]?)(?P<unit>%|x|Mac)?"
)

Reading = Literal["round", "truncate"]
READINGS: tuple[Reading, ...] = ("round", "truncate")
READING_WORDS = {"round": "rounding (half up)", "truncate": "truncation"}


@dataclass(frozen=True)
class Interval:
    """An interval of exact values, each end open or closed (a printed figure, or sums and
    differences of printed figures and exact values)."""

    lo: Fraction
    hi: Fraction
    lo_closed: bool = True
    hi_closed: bool = False

    @classmethod
    def point(cls, x: Any) -> Interval:
        return cls(Fraction(x), Fraction(x), True, True)

    def __add__(self, other: Interval | Any) -> Interval:
        o = other if isinstance(other, Interval) else Interval.point(other)
        return Interval(
            self.lo + o.lo,
            self.hi + o.hi,
            self.lo_closed and o.lo_closed,
            self.hi_closed and o.hi_closed,
        )

    def __neg__(self) -> Interval:
        return Interval(-self.hi, -self.lo, self.hi_closed, self.lo_closed)

    def __sub__(self, other: Interval | Any) -> Interval:
        o = other if isinstance(other, Interval) else Interval.point(other)
        return self + (-o)

    def scaled(self, k: Any) -> Interval:
        """self * k for k > 0."""
        k = Fraction(k)
        return Interval(self.lo * k, self.hi * k, self.lo_closed, self.hi_closed)

    def __contains__(self, x: Any) -> bool:
        x = Fraction(x)
        above = x > self.lo or (self.lo_closed and x == self.lo)
        below = x < self.hi or (self.hi_closed and x == self.hi)
        return above and below

    def intersect(self, other: Interval) -> Interval | None:
        """The common part, or None when there is none."""
        lo, lo_closed = max((self.lo, not self.lo_closed), (other.lo, not other.lo_closed))
        hi, hi_closed = min((self.hi, self.hi_closed), (other.hi, other.hi_closed))
        lo_closed = not lo_closed
        if lo > hi or (lo == hi and not (lo_closed and hi_closed)):
            return None
        return Interval(lo, hi, lo_closed, hi_closed)

    def overlaps(self, other: Interval) -> bool:
        return self.intersect(other) is not None


@dataclass(frozen=True)
class Printed:
    """A number as printed: its digits, the scale of its unit letter or exponent (K, M, B,
    e9, ...) and its unit (`%`: the value stays in percent; `x`, `Mac`: a ratio, MACs)."""

    text: str
    digits: Decimal
    scale: int
    unit: str = ""

    @property
    def percent(self) -> bool:
        return self.unit == "%"

    @property
    def decimals(self) -> int:
        return max(0, -self.digits.as_tuple().exponent)

    @property
    def value(self) -> Fraction:
        """Exact value in base units (a percentage stays in percent)."""
        return Fraction(self.digits) * self.scale

    @property
    def value_text(self) -> str:
        """The exact value as a plain decimal: '68170000', '135.98', '740160'."""
        return format((self.digits * self.scale).normalize(), "f")

    @property
    def exponent(self) -> int | None:
        """The power of ten of a figure printed as 'mantissa e exponent' (1.68e9), else None."""
        return int(self.text.split("e")[1]) if "e" in self.text else None

    @property
    def display(self) -> str:
        """The figure as a reader sees it: '1.68 x 10^9' for 1.68e9, else the text."""
        if self.exponent is None:
            return self.text
        return self.text.split("e")[0] + (f" x 10^{self.exponent}" if self.exponent else "")

    def shown(self, x: Any, reading: Reading = "round") -> Fraction:
        """x expressed in the printed unit, rounded half up (or truncated toward zero) to the
        printed decimals."""
        q = Fraction(x) / self.scale * 10**self.decimals
        if reading == "truncate":
            return Fraction(math.trunc(q), 10**self.decimals)
        rounded = (q.numerator * 2 + q.denominator) // (2 * q.denominator)
        return Fraction(rounded, 10**self.decimals)

    def matches(self, x: Any, reading: Reading = "round") -> bool:
        return self.shown(x, reading) == Fraction(self.digits)

    @property
    def interval(self) -> Interval:
        """The exact values that print as this figure when rounded: [p - u/2, p + u/2), u the
        last unit."""
        return self.interval_for("round")

    def interval_for(self, reading: Reading) -> Interval:
        """The exact values that print as this figure under `reading`: [p - u/2, p + u/2)
        rounded, [p, p + u) truncated (p > 0)."""
        unit = Fraction(self.scale, 10**self.decimals)
        if reading == "truncate":
            return Interval(self.value, self.value + unit)
        return Interval(self.value - unit / 2, self.value + unit / 2)

    def format(self, x: Any, reading: Reading = "round") -> str:
        """x in the printed style: same unit, same decimals, thousands separators if printed."""
        shown = self.shown(x, reading)
        text = (
            f"{float(shown):,.{self.decimals}f}"
            if "," in self.text
            else (f"{float(shown):.{self.decimals}f}")
        )
        if self.exponent is not None:
            return text + (f" x 10^{self.exponent}" if self.exponent else "")
        match = _FIGURE.fullmatch(self.text)
        sep, letter = (match["sep"], match["scale"]) if match else ("", "")
        return text + sep + letter + self.unit


@dataclass(frozen=True)
class ReadingTest:
    """One line of evidence on how a table's figures were printed: the items tested (cells, or
    pairs of cells) and, per reading, those the reading reproduces."""

    what: str
    items: tuple[str, ...]
    reproduced: dict[str, frozenset[str]]

    def count(self, reading: Reading) -> int:
        return len(self.reproduced[reading])

    def only(self, reading: Reading) -> tuple[str, ...]:
        """Items this reading reproduces and the other does not, in item order."""
        other = next(r for r in READINGS if r != reading)
        mine, theirs = self.reproduced[reading], self.reproduced[other]
        return tuple(i for i in self.items if i in mine and i not in theirs)


@dataclass(frozen=True)
class ReadingVerdict:
    """Which reading a table follows: the one that reproduces at least as many items as the
    other in every test and more in at least one; `None` (undecided) otherwise."""

    table: str
    tests: tuple[ReadingTest, ...]

    @property
    def reading(self) -> Reading | None:
        for r in READINGS:
            other = next(o for o in READINGS if o != r)
            counts = [(t.count(r), t.count(other)) for t in self.tests]
            if all(a >= b for a, b in counts) and any(a > b for a, b in counts):
                return r
        return None

    @property
    def used(self) -> Reading:
        """The reading the table's cells are compared under (rounding when undecided)."""
        return self.reading or "round"


def reading_test(what: str, outcomes: dict[str, dict[str, bool]]) -> ReadingTest:
    """A test from {item: {reading: reproduced?}} (items in the order given)."""
    return ReadingTest(
        what,
        tuple(outcomes),
        {r: frozenset(i for i, o in outcomes.items() if o[r]) for r in READINGS},
    )


def parse_printed(text: str) -> Printed:
    """Parse '68.17M', '740.16K', '15,360', '135.98%', '3.93B', '63.99', '1.68e9', '969.82 k',
    '0.23 GMac', '58x'."""
    t = text.strip()
    match = _FIGURE.fullmatch(t)
    if match is None or ("," in match["num"] and match["exp"]):
        raise XncostError(f"cannot parse printed number {text!r}")
    scale = SCALES[match["scale"]] * 10 ** int(match["exp"] or 0)
    return Printed(t, Decimal(match["num"].replace(",", "")), scale, match["unit"] or "")


@dataclass(frozen=True)
class RatioCause:
    """Why a printed ratio (percent) of two printed totals differs from the exact ratio.

    `cause` is what the numbers prove: `exact` (no difference), `rounding` (both exact totals
    print as the paper's totals, the ratio of the printed totals reproduces the printed ratio
    and the exact ratio does not), `total` (the numerator's exact value does not print as the
    paper's total, and a numerator inside the printed total's interval reproduces the printed
    ratio: the gap is the total's own residual) or `unexplained`.
    """

    cause: str
    exact: Fraction
    of_printed: Fraction
    of_printed_matches: bool
    from_total: Interval


def ratio_cause(
    ratio: Printed,
    total: Printed,
    total_exact: Any,
    fc: Printed,
    fc_exact: Any,
    reading: Reading = "round",
) -> RatioCause:
    """The cause the numbers establish for a printed `ratio` = total / fc (in percent), every
    figure read under `reading`."""
    exact = Fraction(total_exact) / Fraction(fc_exact) * 100
    of_printed = total.value / fc.value * 100
    from_total = total.interval_for(reading).scaled(Fraction(100) / Fraction(fc_exact))
    of_printed_matches = ratio.matches(of_printed, reading)
    total_ok = total.matches(total_exact, reading)
    if ratio.matches(exact, reading):
        cause = "exact"
    elif total_ok and fc.matches(fc_exact, reading) and of_printed_matches:
        cause = "rounding"
    elif not total_ok and from_total.overlaps(ratio.interval_for(reading)):
        cause = "total"
    else:
        cause = "unexplained"
    return RatioCause(cause, exact, of_printed, of_printed_matches, from_total)
