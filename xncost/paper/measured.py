"""Measured values for the cells of Tables 5, 7 and 9 (`xncost tableN --measure`).

Each cell with a model behind it is measured on the reference PyTorch layer (thop with the
custom ops of `xncost.profile.thop_ops`, `paper` convention); every distinct layer and shape
is run once, with a rich progress bar. Speed-ups (Table 7) are formula values, not counts,
and stay unmeasured.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from xncost.core.shapes import CAPS_PRESETS, MOBILENET_FC_DIMS, SETTINGS, FCShape, resnet_fc_dims
from xncost.paper.cells import Cell
from xncost.paper.tables import BUILDERS

Job = tuple[str, Any]


def cell_job(cell: Cell) -> Job | None:
    """(layer, shape) of the reference layer behind a cell's count, or None."""
    setting = cell.setting if cell.setting in SETTINGS else None
    if cell.model == "mobilenetv2":
        return "fc", FCShape(MOBILENET_FC_DIMS)
    if cell.model == "resnet50":
        if setting is None:
            return None
        return "fc", FCShape(resnet_fc_dims(SETTINGS[setting].paper_map_side))
    backbone, _, layer = cell.model.partition("_")
    preset = "resnet" if backbone == "resnet" else "mobilenet"
    return layer, CAPS_PRESETS[preset]


def _fc_model(model: str) -> str:
    return "resnet50" if model.startswith("resnet") else "mobilenetv2"


def table_measurer(
    number: int, convention: str = "paper", progress: Callable[[int], None] | None = None
) -> Callable[[Cell], Any]:
    """Measure every layer behind table `number` once; return cell -> measured value.
    `progress(1)` after each layer, if given (then no progress bar of its own)."""
    from rich.progress import Progress

    from xncost.profile.measure import measure_layer

    cells = BUILDERS[number]().cells
    jobs: dict[Job, None] = {}
    for c in cells:
        if c.metric == "speedup":
            continue
        for model in (c.model, _fc_model(c.model)) if c.metric == "ratio_to_fc" else (c.model,):
            job = cell_job(Cell(c.table, c.setting, model, "total_flops", None, 0))
            if job is not None:
                jobs[job] = None
    results: dict[Job, dict[str, Any]] = {}
    with Progress(transient=True, disable=progress is not None or not sys.stderr.isatty()) as bar:
        task = bar.add_task(f"measuring table {number}", total=len(jobs))
        for layer, shape in jobs:
            results[(layer, shape)] = measure_layer(layer, shape, convention, "thop").totals
            bar.advance(task)
            if progress is not None:
                progress(1)

    def measured(cell: Cell) -> Any:
        if cell.metric == "speedup":
            return None
        job = cell_job(cell)
        if job is None:
            return None
        totals = results[job]
        if cell.metric == "ratio_to_fc":
            fc = results[
                cell_job(
                    Cell(cell.table, cell.setting, _fc_model(cell.model), "total_flops", None, 0)
                )
            ]
            return Fraction(totals["flops"]) / fc["flops"] * 100
        return totals["flops" if cell.metric == "total_flops" else cell.metric]

    return measured
