"""Table 7: each printed Speed Up under rounding and truncation (the N that give it, the
cause), the N, M, D, E solves of the mismatches under the table's reading, and the corrected
speed-ups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xncost.core.formulas import eq12_corrected, eq15_corrected
from xncost.core.shapes import CAPS_PRESETS, CapsShape
from xncost.paper.audit.inverse import Inverse, speedup_inverses
from xncost.paper.cells import Cell, Table
from xncost.paper.printed import Reading
from xncost.paper.speedup_readings import SpeedupReading, speedup_readings
from xncost.paper.tables import reading_verdict


@dataclass(frozen=True)
class SpeedupGroup:
    """The mismatching Table 7 cells of one model printing one value, under the table's
    reading."""

    model: str
    printed: str
    cells: tuple[Cell, ...]
    layer: str
    shape: CapsShape
    reading: Reading
    inverses: tuple[Inverse, ...]
    readings: dict[Reading, SpeedupReading]

    @property
    def equation(self) -> str:
        return "Eq. 12" if self.layer == "xnodr" else "Eq. 15"

    @property
    def n(self) -> Inverse:
        return self.inverses[0]

    @property
    def here(self) -> SpeedupReading:
        """The group's cells under the table's reading."""
        return self.readings[self.reading]


def speedup_groups(table7: Table) -> list[SpeedupGroup]:
    reading = reading_verdict(7).used
    an = speedup_readings()
    groups: dict[tuple[str, str], list[Cell]] = {}
    for c in table7.cells:
        if c.status == "mismatch":
            groups.setdefault((c.model, c.paper.text), []).append(c)
    out = []
    for (model, text), cells in groups.items():
        layer = model.split("_")[1]
        shape = CAPS_PRESETS["resnet" if model.startswith("resnet") else "mobilenet"]
        invs = speedup_inverses(layer, shape, cells[0].paper, reading)
        readings = an[(cells[0].setting, model)]
        out.append(
            SpeedupGroup(model, text, tuple(cells), layer, shape, reading, tuple(invs), readings)
        )
    return out


@dataclass(frozen=True)
class Corrected:
    eq12: Any
    eq15: Any
    d12: Any
    d15: Any
    at12: Any
    at15: Any
    limit12: Any
    limit15: Any


def corrected_speedups() -> Corrected:
    """Eq. 9 applied to the projectors' own dot products (D for XnODR, E for XnIDR)."""
    import sympy as sp

    from xncost.core.formulas import EQUATIONS, limit_in_caps_in, symbolic

    e12 = next(e for e in EQUATIONS if e.number == 12)
    e15 = next(e for e in EQUATIONS if e.number == 15)
    c12, c15 = symbolic(e12, corrected=True), symbolic(e15, corrected=True)
    n = sp.Symbol("N", positive=True, integer=True)
    p = CAPS_PRESETS["mobilenet"]
    return Corrected(
        c12,
        c15,
        sp.simplify(sp.diff(c12, n)) if c12.has(n) else 0,
        sp.simplify(sp.diff(c15, n)) if c15.has(n) else 0,
        sp.Rational(str(eq12_corrected(p.N, p.M, p.D, p.E))),
        sp.Rational(str(eq15_corrected(p.N, p.M, p.E))),
        limit_in_caps_in(e12),
        limit_in_caps_in(e15),
    )
