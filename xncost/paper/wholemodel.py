"""Tables 4 and 8: parameters and FLOPs of the paper's whole models, measured.

Each (model, upsampling, input side) of the tables is built from `xncost.models.registry`
(`variant="paper"`, 3 input channels, 10 classes) and run once, batch 1, under the
whole-network counter of `xncost.profile.summary`. The paper's inputs: with upsampling 224
(MNIST, CIFAR-10) and 108 (MultiMNIST); without, 32 and 36. The `xncost` value of a FLOPs
cell is the `ops` total (float FLOPs + BOPs/64); of a PARA cell the trainable parameters
(Keras' count, which the paper prints). Accuracy cells need training: `n/a`.

The paper's FLOPs come from TensorFlow's profiler. The same run is also priced as:
`tf` (the profiler's rules, +-1 products as the float products TF sees), `tf_half` (that
count halved, i.e. per multiply-add), `ptflops` and `macs` (every multiply-accumulate); the
notes say which comes closest. Nothing is tuned to the printed values.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

from xncost.core.shapes import RESNET_CHANNELS, RESNET_FC_HIDDEN, SETTINGS
from xncost.errors import XncostError
from xncost.paper.cells import Cell, Table
from xncost.paper.printed import Printed
from xncost.paper.store import PaperCell, load_table, printed_lookup

TABLES = (4, 8)
TITLES = {
    4: "Table 4: parameters and FLOPs of the models with and without upsampling",
    8: "Table 8: parameters and FLOPs of the models with dynamic routing",
}
DATASETS = ("mnist", "cifar10", "multimnist")
DATASET_LABELS = {"mnist": "MNIST", "cifar10": "CIFAR-10", "multimnist": "MultiMNIST"}
TOP = {"mnist": "Top1", "cifar10": "Top1", "multimnist": "Top2"}
METRICS = ("accuracy", "total_flops", "params")
METRIC_HEADS = {"total_flops": "FLOPs", "params": "PARA"}
FLOP_CONVENTIONS = ("ops", "tf", "tf_half", "ptflops", "macs")
CONVENTION_LABELS = {
    "ops": "ops (xncost: one FLOP per primitive op, + BOPs/64)",
    "tf": "tf (TensorFlow profiler rules: 2 per MAC, bias and element-wise 1, BN/ReLU 0)",
    "tf_half": "tf/2 (the profiler's count halved: per multiply-add)",
    "ptflops": "ptflops (module hooks, MACs + BN/ReLU/pooling)",
    "macs": "macs (every multiply-accumulate, float and 1-bit)",
}
ACCURACY_NOTE = "accuracy: not reproducible without training; see xncost train"
INPUT_SIDES = {("up", False): 224, ("up", True): 108, ("noup", False): 32, ("noup", True): 36}
IN_CHANNELS = 3
NUM_CLASSES = 10


def setting_input(setting: str) -> tuple[bool, int]:
    """(upsampling, input side) of a Table 4/8 setting such as `up-multimnist`."""
    up, _, ds = setting.partition("-")
    if up not in ("up", "noup") or ds not in DATASETS:
        raise XncostError(f"unknown Table 4/8 setting {setting!r}")
    return up == "up", INPUT_SIDES[(up, ds == "multimnist")]


@dataclass(frozen=True)
class ModelCount:
    """One counted forward pass: trainable parameters and whole-model FLOPs per convention."""

    model: str
    upsampling: bool
    side: int
    params: int
    flops: dict[str, Any]

    @property
    def key(self) -> tuple[str, bool, int]:
        return (self.model, self.upsampling, self.side)


Measure = Callable[[str, bool, int], ModelCount]


@cache
def measure_model(model: str, upsampling: bool, side: int) -> ModelCount:
    """Build the registry model at `side` and count one forward pass (cached per process)."""
    from xncost.models.registry import count_parameters
    from xncost.profile.summary import build_registry_model, summary

    net, shape = build_registry_model(
        model, upsampling=upsampling, input_shape=(1, IN_CHANNELS, side, side)
    )
    s = summary(net, shape, convention="ops", name=model)
    t, conv = s.totals, s.flops_by_convention
    tf = conv["tf"] + 2 * t["binary_macs"]  # TF runs the +-1 products as float products
    flops = {
        "ops": t["ops"],
        "tf": tf,
        "tf_half": Fraction(tf, 2) if tf % 2 else tf // 2,
        "ptflops": conv["ptflops"],
        "macs": t["float_macs"] + t["binary_macs"],
    }
    return ModelCount(model, upsampling, side, count_parameters(net), flops)


# ----------------------------------------------------------------------------- notes


def relative(value: Any, printed: Printed) -> float:
    """(value / printed - 1) in percent."""
    return float(Fraction(value) / printed.value - 1) * 100


def _fc_params(side: int) -> int:
    dims = (side * side * RESNET_CHANNELS, *RESNET_FC_HIDDEN)
    return sum(a * b + b for a, b in zip(dims[:-1], dims[1:], strict=True))


def _fc_tf_flops(side: int) -> int:
    dims = (side * side * RESNET_CHANNELS, *RESNET_FC_HIDDEN)
    return sum(2 * a * b + b for a, b in zip(dims[:-1], dims[1:], strict=True))


def _table5_side(setting: str) -> int:
    up, _, ds = setting.partition("-")
    return SETTINGS[
        f"{up}-{'multimnist' if ds == 'multimnist' else 'mnist-cifar10'}"
    ].paper_map_side


def _real_side(count: ModelCount) -> int:
    from xncost.models.registry import feature_map_side

    return feature_map_side("resnet50", count.upsampling, count.side)


def params_note(pc: PaperCell, count: ModelCount) -> str:
    """Why a PARA cell differs, with the variants that would give the printed value."""
    from xncost.models.registry import parameter_count

    p = pc.printed
    base = f"xncost {count.params:,} ({relative(count.params, p):+.2f}%)"
    code = parameter_count(
        count.model, upsampling=count.upsampling, input_side=count.side, variant="code"
    )
    if count.model == "resnet50":
        real = _real_side(count)
        backbone = count.params - _fc_params(real)
        t5 = _table5_side(pc.setting)
        head = (
            f"{base}: the registry's paper variant flattens the real {real}x{real}x2048 map "
            "into the FC head 1024-512-10; "
        )
        if p.matches(code):
            return head + (
                f"the printed value is that of global average pooling before the head (the "
                f"authors' code, variant code): {code:,}"
            )
        sides = [s for s in range(2, 8) if p.matches(backbone + _fc_params(s))]
        closest = min(range(2, 8), key=lambda s: abs(backbone + _fc_params(s) - p.value))
        implied = (
            f"the printed value is that of a flattened {sides[0]}x{sides[0]}x2048 map "
            f"({backbone + _fc_params(sides[0]):,}"
            + (", the side Table 5's FC figures imply)" if sides[0] == t5 else ")")
            if sides
            else f"no flattened map gives it (closest {closest}x{closest}: "
            f"{backbone + _fc_params(closest):,})"
        )
        return head + f"{implied}; global average pooling gives {code:,}"
    if count.model.startswith("mobilenet_") and count.upsampling:
        without = printed_lookup(pc.table)[("no" + pc.setting, pc.model, pc.metric)].printed
        return (
            f"{base}: the paper prints {without.text} for the same models without upsampling, "
            "and upsampling changes no MobileNetV2 parameter (only the stem stride), so the "
            f"printed {p.text} matches no single architecture; the authors'-code head (variant "
            f"code, N=128 after a 1x1 conv 1280->1024) gives {code:,}"
        )
    return f"{base}; variant code gives {code:,}"


def _closest(pc: PaperCell, count: ModelCount) -> tuple[str, Any]:
    return min(
        ((k, v) for k, v in count.flops.items()),
        key=lambda kv: abs(Fraction(kv[1]) - pc.printed.value),
    )


def flops_note(pc: PaperCell, count: ModelCount) -> str:
    """Relative difference, the closest convention and the likely reason."""
    p = pc.printed
    ops = count.flops["ops"]
    name, value = _closest(pc, count)
    matches = [k for k, v in count.flops.items() if p.matches(v)]
    head = (
        f"ops {float(ops):,.0f} = {float(Fraction(ops) / p.value):.3f}x the printed {p.text}; "
        f"closest: {name} {float(value):,.0f} ({relative(value, p):+.3f}%"
        + (", rounds to the printed value)" if name in matches else ")")
    )
    half = count.flops["tf_half"]
    if count.model == "resnet50":
        real, t5 = _real_side(count), _table5_side(pc.setting)
        alt = {
            "global average pooling": Fraction(half)
            - Fraction(_fc_tf_flops(real) - _fc_tf_flops(1), 2),
            f"the {t5}x{t5} map Table 5 implies": Fraction(half)
            - Fraction(_fc_tf_flops(real) - _fc_tf_flops(t5), 2),
        }
        why = (
            f"the FC head flattens the real {real}x{real}x2048 map here; tf/2 with "
            + ", with ".join(
                f"{k}: {float(v):,.0f} ({relative(v, p):+.2f}%)" for k, v in alt.items()
            )
        )
    elif count.model.startswith("resnet"):
        why = (
            f"tf/2 is within {abs(relative(half, p)):.2f}%: the paper's FLOPs behave like "
            "TensorFlow profiler FLOPs halved (BN and ReLU free); the rest is Keras-graph detail"
        )
    else:
        why = (
            f"tf/2 is {relative(half, p):+.2f}%, much further than for the ResNet models: a "
            "difference between Keras' MobileNetV2 graph and this PyTorch port, not found here"
        )
    return f"{head}; {why}"


# ----------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class WholeTable:
    """Table 4 or 8 (`table`, the cells of reference/tableN.csv) and the counts behind it."""

    table: Table
    counts: dict[tuple[str, bool, int], ModelCount]

    @property
    def number(self) -> int:
        return self.table.number

    def convention_matches(self) -> dict[str, int]:
        """How many FLOPs cells each convention rounds to the printed value."""
        return _convention_matches(self.table.cells, self.counts)


def _convention_matches(cells: Any, counts: dict[tuple[str, bool, int], ModelCount]) -> dict:
    out = dict.fromkeys(FLOP_CONVENTIONS, 0)
    for c in cells:
        if c.metric != "total_flops":
            continue
        count = counts[(c.model, *setting_input(c.setting))]
        for k in FLOP_CONVENTIONS:
            out[k] += c.paper.matches(count.flops[k])
    return out


def _jobs(number: int) -> list[tuple[str, bool, int]]:
    jobs: dict[tuple[str, bool, int], None] = {}
    for pc in load_table(number):
        if pc.metric != "accuracy":
            jobs[(pc.model, *setting_input(pc.setting))] = None
    return list(jobs)


def build_whole_table(
    number: int, measure: Measure | None = None, progress: bool = False
) -> WholeTable:
    """Table `number` (4 or 8): every distinct (model, input) measured once by `measure`."""
    if number not in TABLES:
        known = ", ".join(map(str, TABLES))
        raise XncostError(f"unknown whole-model table {number} (known: {known})")
    measure = measure or measure_model
    counts: dict[tuple[str, bool, int], ModelCount] = {}
    jobs = _jobs(number)
    from rich.progress import Progress

    with Progress(transient=True, disable=not (progress and sys.stderr.isatty())) as bar:
        task = bar.add_task(f"measuring table {number}", total=len(jobs))
        for model, up, side in jobs:
            bar.update(task, description=f"table {number}: {model} at {side}x{side}")
            counts[(model, up, side)] = measure(model, up, side)
            bar.advance(task)
    cells = []
    for pc in load_table(number):
        if pc.metric == "accuracy":
            cells.append(
                Cell(
                    str(number),
                    pc.setting,
                    pc.model,
                    pc.metric,
                    pc.printed,
                    None,
                    None,
                    "n/a",
                    ACCURACY_NOTE,
                )
            )
            continue
        count = counts[(pc.model, *setting_input(pc.setting))]
        if pc.metric == "params":
            value = count.params
            note_fn = params_note
        elif pc.metric == "total_flops":
            value = count.flops["ops"]
            note_fn = flops_note
        else:
            raise XncostError(f"table{number}.csv: unknown metric {pc.metric!r}")
        status = "match" if pc.printed.matches(value) else "mismatch"
        note = "" if status == "match" else note_fn(pc, count)
        cells.append(
            Cell(
                str(number), pc.setting, pc.model, pc.metric, pc.printed, value, value, status, note
            )
        )
    matched = _convention_matches(cells, counts)
    total = sum(c.metric == "total_flops" for c in cells)
    notes = (
        "Every value is one forward pass (batch 1, 3 input channels, 10 classes) of the "
        "registry model (variant paper) at the paper's input: 224 (MNIST, CIFAR-10) and 108 "
        "(MultiMNIST) with upsampling, 32 and 36 without; `measured` = `xncost` (both are the "
        "count of that pass). PARA = trainable parameters.",
        "FLOPs cells whose printed value each convention reproduces: "
        + ", ".join(f"{k} {v}/{total}" for k, v in matched.items())
        + ". The `xncost` FLOPs value is `ops`; see the convention table below.",
        f"{ACCURACY_NOTE}.",
    )
    return WholeTable(Table(number, TITLES[number], tuple(cells), notes), counts)


def convention_rows(wt: WholeTable) -> list[dict[str, Any]]:
    """One row per distinct printed FLOPs figure: the paper's and every convention's value."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, bool, int]] = set()
    for c in wt.table.cells:
        if c.metric != "total_flops":
            continue
        up, side = setting_input(c.setting)
        if (c.model, up, side) in seen:
            continue
        seen.add((c.model, up, side))
        count = wt.counts[(c.model, up, side)]
        rows.append(
            {
                "model": c.model,
                "upsampling": up,
                "input": side,
                "paper_text": c.paper.text,
                "paper": c.paper.value,
                **count.flops,
            }
        )
    return rows
