"""Table 5's "Ratio to original FC" cells: the cause each mismatch's numbers establish."""

from __future__ import annotations

from dataclasses import dataclass

from xncost.paper.cells import Table
from xncost.paper.printed import RatioCause, ratio_cause
from xncost.paper.store import PaperCell, printed_lookup
from xncost.paper.tables import caps_breakdown, fc_head


@dataclass(frozen=True)
class RatioCheck:
    """One mismatching ratio cell, its two printed totals and the established cause."""

    cell: PaperCell
    total: PaperCell
    fc: PaperCell
    total_exact: int
    fc_exact: int
    why: RatioCause


def fc_model(model: str) -> str:
    return "resnet50" if model.startswith("resnet") else "mobilenetv2"


def ratio_checks(table5: Table) -> list[RatioCheck]:
    """Every Table 5 ratio cell that does not match, with `paper.ratio_cause`'s verdict."""
    lookup = printed_lookup(5)
    out = []
    for c in table5.cells:
        if c.metric != "ratio_to_fc" or c.status != "mismatch":
            continue
        cell = lookup[(c.setting, c.model, c.metric)]
        total = lookup[(c.setting, c.model, "total_flops")]
        fc = lookup[(c.setting, fc_model(c.model), "total_flops")]
        total_exact = caps_breakdown(c.model).totals["flops"]
        fc_exact, _ = fc_head(fc_model(c.model), c.setting)
        why = ratio_cause(cell.printed, total.printed, total_exact, fc.printed, fc_exact)
        out.append(RatioCheck(cell, total, fc, total_exact, fc_exact, why))
    return out
