"""Identities the paper's tables imply across each other, checked with print intervals.

A printed figure stands for the interval of exact values that round to it; sums and differences
of printed figures give intervals too (`xncost.paper.printed.Interval`). Each identity below
pairs such an interval with the candidates that should fall in it (xncost's exact values, or the
other tables' printed figures) and records which are consistent. Whole-model figures (Tables 4,
8) are only used through differences of models that share a backbone, an assumption each family
states.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from xncost.core.accounting import breakdown
from xncost.core.shapes import (
    CAPS_PRESETS,
    MOBILENET_FC_DIMS,
    RESNET_CHANNELS,
    RESNET_FC_HIDDEN,
    SETTINGS,
    FCShape,
    resnet_fc_dims,
)
from xncost.paper.printed import Interval
from xncost.paper.store import PaperCell, printed_lookup
from xncost.paper.tables import table5_setting

BACKBONES = {"mobilenet": "mobilenetv2", "resnet": "resnet50"}
DATA_SETS = ("mnist", "multimnist")  # CIFAR-10 has MNIST's input size (checked separately)
STEM_CHANNELS, IMAGE_CHANNELS = 64, 3  # ResNet-50's stem: 64 filters on 3 input channels


@dataclass(frozen=True)
class Term:
    sign: int
    cell: PaperCell

    @property
    def text(self) -> str:
        return ("+ " if self.sign > 0 else "- ") + f"T{self.cell.table} {self.cell.printed.text}"


@dataclass(frozen=True)
class Candidate:
    label: str
    values: Interval

    def consistent(self, printed: Interval) -> bool:
        return printed.overlaps(self.values)


@dataclass(frozen=True)
class Identity:
    """printed terms (their interval) = each candidate, if the family's assumption holds."""

    label: str
    terms: tuple[Term, ...]
    candidates: tuple[Candidate, ...]

    @property
    def interval(self) -> Interval:
        total = Interval.point(0)
        for t in self.terms:
            iv = t.cell.printed.interval
            total = total + (iv if t.sign > 0 else -iv)
        return total

    def verdicts(self) -> dict[str, bool]:
        return {c.label: c.consistent(self.interval) for c in self.candidates}


@dataclass(frozen=True)
class Family:
    key: str
    title: str
    assumption: str
    identities: tuple[Identity, ...]

    def tally(self) -> dict[str, tuple[int, int]]:
        """candidate label -> (consistent, contradicted) over the family."""
        out: dict[str, tuple[int, int]] = {}
        for ident in self.identities:
            for label, ok in ident.verdicts().items():
                a, b = out.get(label, (0, 0))
                out[label] = (a + ok, b + (not ok))
        return out


def _cell(table: int, setting: str, model: str, metric: str) -> PaperCell:
    return printed_lookup(table)[(setting, model, metric)]


def _head(layer: str, backbone: str, key: str = "flops") -> int:
    return breakdown(layer, CAPS_PRESETS[backbone]).totals[key]


def _fc(backbone: str, setting: str, key: str = "flops") -> int:
    """The FC head of `backbone` as Table 5 counts it in a Table 4 setting."""
    if backbone == "mobilenet":
        dims = MOBILENET_FC_DIMS
    else:
        dims = resnet_fc_dims(SETTINGS[table5_setting(setting)].paper_map_side)
    return breakdown("fc", FCShape(dims)).totals[key]


def _pooled(key: str = "flops") -> int:
    return breakdown("fc", FCShape((RESNET_CHANNELS, *RESNET_FC_HIDDEN))).totals[key]


def _settings() -> list[str]:
    return [f"{up}-{ds}" for up in ("up", "noup") for ds in DATA_SETS]


def _printed(table: int, setting: str, model: str, metric: str = "total_flops") -> Interval:
    return _cell(table, setting, model, metric).printed.interval


def _diff(
    label: str, plus: tuple[int, str, str], minus: tuple[int, str, str], metric: str,
    cands: list[Candidate],
) -> Identity:  # fmt: skip
    """printed plus - printed minus (each (table, setting, model)) against the candidates."""
    return Identity(
        label,
        (Term(1, _cell(*plus, metric)), Term(-1, _cell(*minus, metric))),
        tuple(cands),
    )


def _model_pair(
    plus: tuple[int, str], minus: tuple[int, str], twin: int, label: str
) -> list[Identity]:
    """Table plus[0] model plus[1] - table minus[0] model minus[1], per setting, against
    xncost's head difference and the same difference of the printed Table 5 / `twin` heads."""
    ids = []
    for s in _settings():
        t5s = table5_setting(s)
        (ta, a), (tb, b) = plus, minus
        head = Interval.point(_head(*_split(a)) - _head(*_split(b)))
        printed = _printed(5, t5s, a) - _printed(twin, t5s, b)
        cands = [Candidate("xncost", head), Candidate(label, printed)]
        ids.append(_diff(f"{a} - {b}, {s}", (ta, s, a), (tb, s, b), "total_flops", cands))
    return ids


def _split(model: str) -> tuple[str, str]:
    """'mobilenet_xnidr' -> ('xnidr', 'mobilenet'): the layer and backbone `_head` takes."""
    bb, layer = model.split("_")
    return layer, bb


def head_differences() -> Family:
    """Table 4 capsule model - Table 8 DR model = capsule head - DR head (shared backbone)."""
    ids = [
        i
        for bb in BACKBONES
        for layer in ("xnodr", "xnidr")
        for i in _model_pair((4, f"{bb}_{layer}"), (8, f"{bb}_dr"), 9, "Tables 5 - 9 as printed")
    ]
    return Family(
        "heads",
        "Capsule heads from Table 4 - Table 8",
        "a capsule model and the DR model of the same backbone and setting share everything "
        "but the capsule layer (the paper replaces only the FC layers, Section 4.5)",
        tuple(ids),
    )


def layer_differences() -> Family:
    """Table 4 XnODR model - XnIDR model = XnODR head - XnIDR head."""
    ids = [
        i
        for bb in BACKBONES
        for i in _model_pair((4, f"{bb}_xnodr"), (4, f"{bb}_xnidr"), 5, "Table 5 as printed")
    ]
    return Family(
        "layers",
        "XnODR - XnIDR within Table 4",
        "both models share the backbone (Table 4 prints equal parameter counts for them)",
        tuple(ids),
    )


def _dr_minus_originals(metric: str, key: str) -> tuple[Identity, ...]:
    """Table 8 DR model - Table 4 original model = DR head - FC head (FLOPs or parameters)."""
    ids = []
    for bb, original in BACKBONES.items():
        for s in _settings():
            dr = _head("dr", bb, key)
            cands = [Candidate("xncost, FC as Table 5 counts it",
                               Interval.point(dr - _fc(bb, s, key)))]  # fmt: skip
            if bb == "resnet":
                cands.append(Candidate("xncost, pooled FC head", Interval.point(dr - _pooled(key))))
            prefix = "PARA " if metric == "params" else ""
            label = f"{prefix}{bb}_dr - {original}, {s}"
            ids.append(_diff(label, (8, s, f"{bb}_dr"), (4, s, original), metric, cands))
    return tuple(ids)


def original_differences() -> Family:
    """DR head - FC head from whole-model FLOPs."""
    return Family(
        "originals",
        "DR head - original FC head from Table 8 - Table 4",
        "the DR model keeps the original model's backbone (the paper says it replaces the "
        "last convolutional layer and the FC layers, Fig. 1: an assumption these rows test)",
        _dr_minus_originals("total_flops", "flops"),
    )


def capsule_parameters() -> Family:
    """Table 4 XnODR / XnIDR parameters = Table 8 DR parameters (same backbone and setting)."""
    ids = []
    for bb in BACKBONES:
        dr = _head("dr", bb, "params")
        for s in _settings():
            for layer in ("xnodr", "xnidr"):
                cand = Candidate("xncost", Interval.point(_head(layer, bb, "params") - dr))
                label = f"PARA {bb}_{layer} - {bb}_dr, {s}"
                ids.append(
                    _diff(label, (4, s, f"{bb}_{layer}"), (8, s, f"{bb}_dr"), "params", [cand])
                )
    return Family(
        "caps-params",
        "Parameters: capsule models vs DR models",
        "the three capsule layers store the same W (N·M·D·E weights) on the same backbone",
        tuple(ids),
    )


def original_parameters() -> Family:
    """DR head - FC head from whole-model parameters."""
    return Family(
        "fc-params",
        "Parameters: DR models vs original models",
        "the original and the DR model share the backbone (as the FLOPs rows above support)",
        _dr_minus_originals("params", "params"),
    )


def upsampling_parameters() -> Family:
    """The same model with and without upsampling differs only in the stem."""
    ids = []
    for bb in BACKBONES:
        stem = STEM_CHANNELS * IMAGE_CHANNELS * (7 * 7 - 3 * 3) if bb == "resnet" else 0
        cand = Candidate("stem change only", Interval.point(stem))
        for model, table in ((f"{bb}_xnodr", 4), (f"{bb}_xnidr", 4), (f"{bb}_dr", 8)):
            for ds in DATA_SETS:
                label = f"PARA {model} up - noup, {ds}"
                up, noup = (table, f"up-{ds}", model), (table, f"noup-{ds}", model)
                ids.append(_diff(label, up, noup, "params", [cand]))
    return Family(
        "up-params",
        "Parameters: with vs without upsampling",
        "upsampling changes only the stem (Section 4.3.2; ResNet-50: 7x7 -> 3x3 kernels, "
        f"{STEM_CHANNELS} x {IMAGE_CHANNELS} x 40 = 7,680 weights; MobileNetV2: a stride, no "
        "weight)",
        tuple(ids),
    )


def fc_twins() -> Family:
    """Tables 5 and 9 print the same FC heads."""
    ids = []
    for s in SETTINGS:
        for model in BACKBONES.values():
            ids.append(
                Identity(
                    f"{model} Table 5 - Table 9, {s}",
                    (
                        Term(1, _cell(5, s, model, "total_flops")),
                        Term(-1, _cell(9, s, model, "total_flops")),
                    ),
                    (Candidate("the same head", Interval.point(0)),),
                )
            )
    return Family(
        "twins", "FC heads in Tables 5 and 9", "both tables count the same head", tuple(ids)
    )


def same_input() -> Family:
    """MNIST and CIFAR-10 use the same input size: every FLOPs, PARA and Speed Up cell equal."""
    ids = []
    for table, metrics in (
        (4, ("total_flops", "params")),
        (7, ("speedup",)),
        (8, ("total_flops", "params")),
    ):
        models = sorted({c.model for c in printed_lookup(table).values()})
        for up in ("up", "noup"):
            for model in models:
                for metric in metrics:
                    ids.append(
                        Identity(
                            f"T{table} {model} {metric} MNIST - CIFAR-10, {up}",
                            (
                                Term(1, _cell(table, f"{up}-mnist", model, metric)),
                                Term(-1, _cell(table, f"{up}-cifar10", model, metric)),
                            ),
                            (Candidate("the same model and input", Interval.point(0)),),
                        )
                    )
    return Family(
        "same-input",
        "MNIST vs CIFAR-10 (same input size) in Tables 4, 7 and 8",
        "MNIST is upsampled to CIFAR-10's size and channels (Section 4.3)",
        tuple(ids),
    )


@dataclass(frozen=True)
class ImpliedHead:
    """A capsule head implied by Table 4 - Table 8 plus the DR head, over all settings."""

    model: str
    per_setting: tuple[tuple[str, Interval], ...]
    common: Interval | None
    table5: Interval
    xncost: int


def implied_heads() -> list[ImpliedHead]:
    """head = (Table 4 model - Table 8 DR) + xncost's DR head (which Table 9 prints)."""
    out = []
    for bb in BACKBONES:
        dr = _head("dr", bb)
        for layer in ("xnodr", "xnidr"):
            model = f"{bb}_{layer}"
            rows = []
            common: Interval | None = None
            for s in _settings():
                iv = _printed(4, s, model) - _printed(8, s, f"{bb}_dr") + dr
                rows.append((s, iv))
                common = iv if not rows[:-1] else (common.intersect(iv) if common else None)
            out.append(
                ImpliedHead(
                    model,
                    tuple(rows),
                    common,
                    _printed(5, "up-mnist-cifar10", model),
                    _head(layer, bb),
                )
            )
    return out


def families() -> list[Family]:
    return [
        head_differences(),
        layer_differences(),
        original_differences(),
        capsule_parameters(),
        original_parameters(),
        upsampling_parameters(),
        fc_twins(),
        same_input(),
    ]


def contains_int(iv: Interval | None, x: int) -> bool:
    return iv is not None and Fraction(x) in iv
