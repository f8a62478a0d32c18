"""The Python API behind the CLI: shapes in, breakdowns and tables out."""

from __future__ import annotations

from typing import Any

from xncost.core.accounting import TOTAL_KEYS, Breakdown, breakdown
from xncost.core.layers import get_layer
from xncost.core.shapes import CAPS_PRESETS, CapsShape, FCShape, parse_dims
from xncost.errors import XncostError
from xncost.paper.cells import Table
from xncost.paper.tables import build_table


def cost(
    layer: str,
    *,
    caps_in: int | None = None,
    caps_out: int | None = None,
    dim_in: int | None = None,
    dim_out: int | None = None,
    iterations: int | None = None,
    batch: int = 1,
    dims: str | tuple[int, ...] | None = None,
    preset: str = "mobilenet",
    convention: str = "paper",
    word_bits: int | None = None,
) -> Breakdown:
    """Breakdown of a registered `layer` (`xncost.core.layers`); unset capsule sizes come from
    `preset`, an fc layer takes `dims`."""
    if not get_layer(layer).is_caps:
        if dims is None:
            raise XncostError("fc needs dims, e.g. dims='1280,512,256,128,10'")
        sizes = parse_dims(dims) if isinstance(dims, str) else tuple(dims)
        return breakdown(layer, FCShape(sizes, batch), convention, word_bits)
    try:
        base = CAPS_PRESETS[preset]
    except KeyError:
        raise XncostError(f"unknown preset {preset!r} (known: {', '.join(CAPS_PRESETS)})") from None
    given = {
        "caps_in": caps_in,
        "caps_out": caps_out,
        "dim_in": dim_in,
        "dim_out": dim_out,
        "iterations": iterations,
        "batch": batch,
    }
    shape = CapsShape(**{**base.as_dict(), **{k: v for k, v in given.items() if v is not None}})
    return breakdown(layer, shape, convention, word_bits)


def table(number: int, measure: bool = False) -> Table:
    """Table 5, 7 or 9; with `measure`, the measured column comes from the reference models."""
    if not measure:
        return build_table(number)
    if number == 7:
        raise XncostError(
            "Table 7 holds Speed Up ratios of Eqs. 12 and 15, not counts: nothing to measure "
            "(count the layers with `xncost cost LAYER --measure`, time them with `xncost bench`)"
        )
    from xncost.paper.measured import table_measurer

    return build_table(number, table_measurer(number))


def measure_layer_totals(b: Breakdown) -> dict[str, Any]:
    """Measure the reference layer of a breakdown (thop, cross-checked by the dispatch counter)."""
    try:
        from xncost.profile.measure import measure_layer
    except ModuleNotFoundError as e:
        raise XncostError(f"measurement needs torch and thop ({e.name} missing)") from None
    thop = measure_layer(b.layer, b.shape, b.convention, method="thop")
    return {k: thop.totals[k] for k in TOTAL_KEYS}


def formulas_text(latex: bool = False) -> str:
    """Eqs. 9-15 as printed and corrected (pretty text or LaTeX), with limits as N grows."""
    import sympy as sp

    from xncost.core.formulas import EQUATIONS, limit_in_caps_in, symbolic

    show = sp.latex if latex else (lambda e: sp.pretty(e, use_unicode=False))
    out = []
    for eq in EQUATIONS:
        out.append(f"Eq. {eq.number}: {eq.name}")
        out.append("  printed:")
        out += ["    " + line for line in show(symbolic(eq)).splitlines()]
        corrected = symbolic(eq, corrected=True)
        if corrected is not None:
            out.append("  corrected:")
            out += ["    " + line for line in show(corrected).splitlines()]
        if eq.number in (9, 12, 15):
            var = "c" if eq.number == 9 else "N"
            out.append(f"  limit {var} -> oo: {show(limit_in_caps_in(eq))}")
        out.append(f"  note: {eq.note}")
        out.append("")
    return "\n".join(out)
