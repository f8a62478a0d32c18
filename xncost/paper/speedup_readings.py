"""Table 7's printed speed-ups read both ways: Eqs. 12 and 15 as printed at the paper's capsule
count N, the integers N that give each printed figure, the capsule counts with a source among
them, and the N one setting's two capsule layers share (docs/paper.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

from xncost.core.formulas import eq12_speedup, eq15_speedup
from xncost.core.shapes import CAPS_PRESETS, MOBILENET_FC_DIMS, RESNET_CHANNELS
from xncost.exact import exact_str
from xncost.paper.labels import model_label, model_layer
from xncost.paper.printed import READING_WORDS, READINGS, Printed, Reading
from xncost.paper.store import load_table, sourced


def _sourced_caps_in() -> dict[str, dict[int, str]]:
    """Capsule counts with a source, per backbone: the paper's (channels / 8) and the authors'
    code's (reference/figures.csv)."""
    code = sourced("code_mobilenet_caps_in")
    channels = {"mobilenet": MOBILENET_FC_DIMS[0], "resnet": RESNET_CHANNELS}
    out = {
        p: {CAPS_PRESETS[p].N: f"the paper's N ({channels[p]} channels / {CAPS_PRESETS[p].D})"}
        for p in ("mobilenet", "resnet")
    }
    out["mobilenet"][int(code.printed.value)] = f"the authors' code's N ({code.quote})"
    return out


SOURCED_CAPS_IN: dict[str, dict[int, str]] = _sourced_caps_in()
SPEEDUP_CAUSES = ("paper", "sourced", "shared", "fit", "none")


def speedup_equation(model: str) -> tuple[str, int, int]:
    """(equation, k, per_n) with Eq. 12 / 15 = x/(x/64 + k), x = per_n·N (Eq. 12: k = D,
    per_n = M·E²·D; Eq. 15: k = E, per_n = M·E²), at the model's preset M, D, E."""
    layer, preset = model_layer(model)
    s = CAPS_PRESETS[preset]
    if layer == "xnodr":
        return "Eq. 12", s.D, s.M * s.E**2 * s.D
    return "Eq. 15", s.E, s.M * s.E**2


def speedup_at(model: str, n: int) -> Fraction:
    """Eq. 12 (XnODR) or Eq. 15 (XnIDR) as printed, at N = n and the preset M, D, E."""
    layer, preset = model_layer(model)
    s = CAPS_PRESETS[preset]
    if layer == "xnodr":
        return Fraction(eq12_speedup(n, s.M, s.D, s.E))
    return Fraction(eq15_speedup(n, s.M, s.E))


def speedup_range(
    printed: Printed, k: int, per_n: int, word: int = 64, reading: Reading = "round"
) -> tuple[int, int | None, Fraction]:
    """Integers N (lo, hi) for which S = x/(x/64 + k), x = per_n·N, reads as the printed value
    under `reading` (empty when lo > hi; hi None when every N >= lo does, S < word always);
    and the exact N at which S equals the printed value."""
    iv = printed.interval_for(reading)

    def x_at(s: Fraction) -> Fraction:
        return s * k / (1 - s / word)

    n_lo = max(1, math.ceil(x_at(iv.lo) / per_n))
    n_hi = math.ceil(x_at(iv.hi) / per_n) - 1 if iv.hi < word else None
    return n_lo, n_hi, x_at(Fraction(printed.digits)) / per_n


@dataclass(frozen=True)
class SpeedupReading:
    """One printed Table 7 cell under one reading: the value at the paper's N read at the
    printed decimals, the integers N that give the printed figure, the sourced capsule counts
    among them, and the N that also give the same setting's other capsule layer (`partner`)."""

    reading: Reading
    shown: Fraction
    matches: bool
    n_range: tuple[int, int | None] | None
    exact_n: Fraction
    sourced: tuple[int, ...]
    partner: str
    shared: tuple[int, int | None] | None

    @property
    def cause(self) -> str:
        """`paper` (the paper's N gives it), `sourced` (another sourced capsule count does),
        `shared` (no sourced count, but one N gives this cell and its partner), `fit` (N that
        give this cell alone), `none` (no integer N)."""
        if self.matches:
            return "paper"
        if self.sourced:
            return "sourced"
        if self.shared:
            return "shared"
        return "fit" if self.n_range else "none"


NRange = tuple[int, int | None]  # lo, hi (None: unbounded)


def _n_range(printed: Printed, model: str, reading: Reading) -> tuple[NRange | None, Fraction]:
    _, k, per_n = speedup_equation(model)
    lo, hi, exact = speedup_range(printed, k, per_n, reading=reading)
    return ((lo, hi) if hi is None or lo <= hi else None), exact


def _in_range(n: int, rng: NRange | None) -> bool:
    return rng is not None and rng[0] <= n and (rng[1] is None or n <= rng[1])


def _common(a: NRange | None, b: NRange | None) -> NRange | None:
    """The integers two ranges share."""
    if a is None or b is None:
        return None
    lo = max(a[0], b[0])
    his = [h for h in (a[1], b[1]) if h is not None]
    hi = min(his) if his else None
    return (lo, hi) if hi is None or lo <= hi else None


def range_text(rng: NRange | None) -> str:
    """'N in [lo, hi]', 'N >= lo' or 'no integer N'."""
    if rng is None:
        return "no integer N"
    return f"N >= {rng[0]:,}" if rng[1] is None else f"N in [{rng[0]:,}, {rng[1]:,}]"


def _partner(model: str) -> str:
    backbone, layer = model.split("_")
    return f"{backbone}_{'xnidr' if layer == 'xnodr' else 'xnodr'}"


@cache
def speedup_readings() -> dict[tuple[str, str], dict[Reading, SpeedupReading]]:
    """(setting, model) -> reading -> the cell under that reading (Eqs. 12, 15)."""
    printed = {(c.setting, c.model): c.printed for c in load_table(7)}
    out: dict[tuple[str, str], dict[Reading, SpeedupReading]] = {}
    for (setting, model), p in printed.items():
        _, preset = model_layer(model)
        paper_n = CAPS_PRESETS[preset].N
        partner = _partner(model)
        out[(setting, model)] = {}
        for r in READINGS:
            rng, exact = _n_range(p, model, r)
            other, _ = _n_range(printed[(setting, partner)], partner, r)
            shared = _common(rng, other)
            value = speedup_at(model, paper_n)
            sourced = tuple(n for n in SOURCED_CAPS_IN[preset] if _in_range(n, rng))
            out[(setting, model)][r] = SpeedupReading(
                r, p.shown(value, r), p.matches(value, r), rng, exact, sourced, partner, shared
            )
    return out


def _exact_n(x: Fraction) -> str:
    """'79.975', or '3197/120 (~26.64)' where the decimal does not end."""
    text = exact_str(x)
    return text if "/" not in text else f"{text} (~{float(x):.2f})"


def speedup_note(model: str, printed: Printed, sr: SpeedupReading) -> str:
    eq, _, _ = speedup_equation(model)
    _, preset = model_layer(model)
    paper_n = CAPS_PRESETS[preset].N
    word = READING_WORDS[sr.reading]
    head = (
        f"{eq} at the paper's N = {paper_n} gives {float(speedup_at(model, paper_n)):.4f}; "
        f"under {word} {printed.text} needs {range_text(sr.n_range)} (exact N = "
        f"{_exact_n(sr.exact_n)})"
    )
    partner = model_label(sr.partner)
    if sr.cause == "sourced":
        names = ", ".join(
            f"N = {n}, {SOURCED_CAPS_IN[preset][n]}, gives {float(speedup_at(model, n)):.4f}"
            for n in sr.sourced
        )
        return f"{head}; {names}; cause: a sourced capsule count"
    if sr.cause == "shared":
        lo = sr.shared[0]
        counts = ", ".join(map(str, SOURCED_CAPS_IN[preset]))
        return (
            f"{head}; no capsule count with a source ({counts}) does, but "
            f"{range_text(sr.shared)} also gives this setting's {partner} cell (the smallest, "
            f"N = {lo:,}, needs 8·N = {8 * lo:,} channels); cause: one N for both capsule "
            "layers, a fit, not a capsule count either network has"
        )
    return (
        f"{head}; no capsule count with a source does, and no N also gives this setting's "
        f"{partner} cell; cause: unexplained (a fit of this cell alone)"
    )
