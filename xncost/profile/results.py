"""The results of a whole-network summary: one `LayerSummary` per row, the `Summary` with
totals, memory and XNOR-Net speed-ups (docs/conventions.md). All counts are exact ints;
XNOR FLOPs and OPs exact Fractions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from xncost.conventions import MODEL_CONVENTIONS, OPS, Convention, get_convention
from xncost.exact import normalize
from xncost.profile.counter import CONVENTIONS, Eq9


@dataclass(frozen=True)
class LayerSummary:
    """One row of a summary (all counts exact ints; xnor_flops/ops exact Fractions)."""

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    calls: int
    binary: bool
    params: int
    params_1bit: int
    scales: int
    float_macs: int
    float_flops: int
    binary_macs: int
    binary_outputs: int
    bops: int
    flops_by_convention: dict[str, int]
    weight_binarization_flops: int = 0
    eq9: Eq9 | None = None
    word: int = OPS.word_bits
    bops_by_convention: dict[str, int] = field(default_factory=dict)

    @property
    def params_32bit(self) -> int:
        return self.params - self.params_1bit

    @property
    def xnor_flops(self) -> int | Fraction:
        """BOPs / word."""
        return normalize(Fraction(self.bops, self.word))

    @property
    def ops(self) -> int | Fraction:
        """float FLOPs + BOPs / word (under `bnn`: the literature's OPs)."""
        return normalize(self.float_flops + Fraction(self.bops, self.word))

    @property
    def memory_bits(self) -> int:
        """32 bits per float parameter and per scale, 1 bit per binary weight."""
        return 32 * (self.params_32bit + self.scales) + self.params_1bit

    @property
    def memory_bytes(self) -> int:
        return -(-self.memory_bits // 8)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "calls": self.calls,
            "binary": self.binary,
            "params": self.params,
            "params_32bit": self.params_32bit,
            "params_1bit": self.params_1bit,
            "scales": self.scales,
            "float_macs": self.float_macs,
            "float_flops": self.float_flops,
            "binary_macs": self.binary_macs,
            "bops": self.bops,
            "xnor_flops": self.xnor_flops,
            "ops": self.ops,
            "memory_bytes": self.memory_bytes,
            "weight_binarization_flops": self.weight_binarization_flops,
            "eq9": None if self.eq9 is None else self.eq9.as_dict(),
        }


SUM_KEYS = (
    "params",
    "params_32bit",
    "params_1bit",
    "scales",
    "float_macs",
    "float_flops",
    "binary_macs",
    "bops",
    "memory_bytes",
    "weight_binarization_flops",
)


@dataclass(frozen=True)
class Summary:
    """A whole-network summary: rows, totals, memory saving, XNOR-Net speed-ups."""

    model: str
    input_shape: tuple[int, ...]
    convention: str
    layers: tuple[LayerSummary, ...]
    unknown_ops: tuple[str, ...] = ()
    word: int = OPS.word_bits

    @property
    def conv(self) -> Convention:
        """The convention of this summary's float FLOPs and BOPs, at its word size."""
        return get_convention(self.convention, self.word, MODEL_CONVENTIONS)

    def layer(self, name: str) -> LayerSummary:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(name)

    @property
    def totals(self) -> dict[str, Any]:
        t: dict[str, Any] = {k: sum(getattr(r, k) for r in self.layers) for k in SUM_KEYS}
        t["xnor_flops"] = normalize(Fraction(t["bops"], self.word))
        t["ops"] = normalize(t["float_flops"] + Fraction(t["bops"], self.word))
        t["float_memory_bytes"] = 4 * t["params"]
        return t

    @property
    def flops_by_convention(self) -> dict[str, int]:
        return {c: sum(r.flops_by_convention[c] for r in self.layers) for c in CONVENTIONS}

    @property
    def bops_by_convention(self) -> dict[str, int]:
        return {c: sum(r.bops_by_convention[c] for r in self.layers) for c in CONVENTIONS}

    @property
    def memory_saving(self) -> Fraction:
        """All-float parameter bytes / this network's parameter bytes."""
        t = self.totals
        return Fraction(t["float_memory_bytes"], t["memory_bytes"]) if t["memory_bytes"] else 1

    @property
    def speedup(self) -> dict[str, Any]:
        """XNOR-Net speed-ups (None without binary products):

        - `eq9_binary_layers`: Eq. 9 over all binary products together,
          sum(c N_W N_I) / sum(c N_W N_I / word + N_I), i.e. binary MACs / (binary MACs / word +
          binary outputs);
        - `eq9_network`: the same with the network's float MACs added unchanged to both sides
          (XNOR-Net's operation count applied end to end);
        - `ops_network`: under this summary's convention, the network with its binary
          products run in float (the convention's FLOPs per MAC) over the network as counted,
          both without the weight binarization (done once, offline, at deployment): (float
          FLOPs - weight binarization + FLOPs per MAC x binary MACs) / (OPs - weight
          binarization).
        """
        rows = [r for r in self.layers if r.binary_macs]
        if not rows:
            return {"eq9_binary_layers": None, "eq9_network": None, "ops_network": None}
        bm = sum(r.binary_macs for r in rows)
        outs = sum(r.binary_outputs for r in rows)
        t = self.totals
        fm, wb = t["float_macs"], t["weight_binarization_flops"]
        return {
            "eq9_binary_layers": Fraction(bm) / (Fraction(bm, self.word) + outs),
            "eq9_network": Fraction(fm + bm) / (fm + Fraction(bm, self.word) + outs),
            "ops_network": Fraction(t["float_flops"] - wb + self.conv.flops_per_mac * bm)
            / (Fraction(t["ops"]) - wb),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON mapping: model, input, convention, layers, totals (exact)."""
        t = self.totals
        totals = {
            k: t[k]
            for k in (
                "params",
                "params_1bit",
                "float_macs",
                "float_flops",
                "bops",
                "xnor_flops",
                "ops",
                "memory_bytes",
            )
        }
        totals.update(
            params_32bit=t["params_32bit"],
            scales=t["scales"],
            binary_macs=t["binary_macs"],
            weight_binarization_flops=t["weight_binarization_flops"],
            float_memory_bytes=t["float_memory_bytes"],
        )
        return {
            "model": self.model,
            "input": list(self.input_shape),
            "convention": self.convention,
            "word_bits": self.word,
            "layers": [r.as_dict() for r in self.layers],
            "totals": totals,
            "flops_by_convention": self.flops_by_convention,
            "bops_by_convention": self.bops_by_convention,
            "memory_saving": self.memory_saving,
            "speedup": self.speedup,
            "unknown_ops": list(self.unknown_ops),
        }

    def to_frame(self) -> Any:
        """The layers as a pandas DataFrame indexed by layer name (exact values kept as
        Python objects), like `Breakdown.to_frame()`."""
        import pandas as pd

        rows = []
        for r in self.layers:
            d = r.as_dict()
            eq = d.pop("eq9") or {}
            d["output_shape"] = None if r.output_shape is None else tuple(r.output_shape)
            d.update({f"eq9_{k}": eq.get(k) for k in ("c", "n_w", "n_i", "speedup")})
            rows.append(d)
        return pd.DataFrame(rows, dtype=object).set_index("name")
