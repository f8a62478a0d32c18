"""The results of a whole-network summary: one `LayerSummary` per row, the `Summary` with
totals, memory, XNOR-Net speed-ups and what was decided about binary work (`Detection`;
docs/conventions.md). All counts are exact ints; XNOR FLOPs and OPs exact Fractions.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from xncost.conventions import MODEL_CONVENTIONS, OPS, Convention, Count, get_convention
from xncost.profile.counter import Eq9
from xncost.profile.detect import KINDS


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
    macs_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> Count:
        """The row's count record under the summary's convention."""
        return Count(self.float_macs, self.binary_macs, self.float_flops, self.bops, self.word)

    @property
    def params_32bit(self) -> int:
        return self.params - self.params_1bit

    @property
    def xnor_flops(self) -> int | Fraction:
        """BOPs / word."""
        return self.count.xnor_flops

    @property
    def ops(self) -> int | Fraction:
        """float FLOPs + BOPs / word (under `bnn`: the literature's OPs)."""
        return self.count.total

    @property
    def kind(self) -> str:
        """The kinds of the row's products, `+`-joined (1-bit, binary-weight,
        binary-activation, ternary, float); empty for a row without products."""
        return "+".join(k for k in KINDS if self.macs_by_kind.get(k))

    @property
    def binary_weight_macs(self) -> int:
        """Float MACs whose weight is binary up to scale and input real (BWN)."""
        return self.macs_by_kind.get("binary-weight", 0)

    @property
    def binary_activation_macs(self) -> int:
        """Float MACs whose input is binary up to scale and weight real."""
        return self.macs_by_kind.get("binary-activation", 0)

    @property
    def ternary_macs(self) -> int:
        """Float MACs with a ternary operand ({-a, 0, +a}, zeros from a threshold)."""
        return self.macs_by_kind.get("ternary", 0)

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
            "kind": self.kind,
            "binary": self.binary,
            "params": self.params,
            "params_32bit": self.params_32bit,
            "params_1bit": self.params_1bit,
            "scales": self.scales,
            "float_macs": self.float_macs,
            "float_flops": self.float_flops,
            "binary_macs": self.binary_macs,
            "binary_weight_macs": self.binary_weight_macs,
            "binary_activation_macs": self.binary_activation_macs,
            "ternary_macs": self.ternary_macs,
            "bops": self.bops,
            "xnor_flops": self.xnor_flops,
            "ops": self.ops,
            "memory_bytes": self.memory_bytes,
            "weight_binarization_flops": self.weight_binarization_flops,
            "eq9": None if self.eq9 is None else self.eq9.as_dict(),
        }


def _integral(v: Any) -> bool:
    """A Fraction that is a whole number."""
    return isinstance(v, Fraction) and v.denominator == 1


SUM_KEYS = (
    "params",
    "params_32bit",
    "params_1bit",
    "scales",
    "float_macs",
    "float_flops",
    "binary_macs",
    "binary_weight_macs",
    "binary_activation_macs",
    "ternary_macs",
    "bops",
    "memory_bytes",
    "weight_binarization_flops",
)


@dataclass(frozen=True)
class Detection:
    """What a summary decided about binary work (docs/conventions.md, "Binary work"):
    `one_bit` (row, aten op, products) of the products counted as 1-bit; `binarizations`
    (origin, count) of the sign-like ops run; `sign_zeros`, exact zeros seen in binary
    operands (sign(0)); `patterns`, the `--binary` declarations; `suggested`, the `--binary`
    patterns that would declare the weights of the layers with binary inputs and real weights
    (`xncost.profile.binary.suggested_patterns`)."""

    one_bit: tuple[tuple[str, str, int], ...] = ()
    binarizations: tuple[tuple[str, int], ...] = ()
    sign_zeros: int = 0
    patterns: tuple[str, ...] = ()
    suggested: tuple[str, ...] = ()

    @property
    def sign_like_ops(self) -> int:
        return sum(n for _, n in self.binarizations)

    def as_dict(self) -> dict[str, Any]:
        return {
            "one_bit_products": [
                {"layer": row, "op": op, "count": n} for row, op, n in self.one_bit
            ],
            "sign_like_ops": dict(self.binarizations),
            "sign_zeros": self.sign_zeros,
            "binary_patterns": list(self.patterns),
            "suggested_binary": list(self.suggested),
        }


@dataclass(frozen=True)
class Summary:
    """A whole-network summary: rows, totals, memory saving, XNOR-Net speed-ups."""

    model: str
    input_shape: tuple[int, ...]
    convention: str
    layers: tuple[LayerSummary, ...]
    unknown_ops: tuple[str, ...] = ()
    word: int = OPS.word_bits
    detection: Detection = field(default_factory=Detection)
    inputs: tuple[tuple[int, ...], ...] = ()
    modules: dict[str, tuple[str, tuple[int, ...] | None]] = field(default_factory=dict)
    comparisons: tuple[str, ...] = ()  # beside published figures (xncost.paper.comparisons)
    notes: tuple[str, ...] = ()

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Every input's shape (one per model argument)."""
        return self.inputs or (self.input_shape,)

    @property
    def input_text(self) -> str:
        """`1x3x32x32`, or `1x3x32x32, 1x10` for several inputs."""
        return ", ".join("x".join(map(str, s)) for s in self.input_shapes)

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
        count = Count(t["float_macs"], t["binary_macs"], t["float_flops"], t["bops"], self.word)
        t["xnor_flops"] = count.xnor_flops
        t["ops"] = count.total
        t["float_memory_bytes"] = 4 * t["params"]
        return t

    @property
    def flops_by_convention(self) -> dict[str, int]:
        return {c: sum(r.flops_by_convention[c] for r in self.layers) for c in self._names}

    @property
    def bops_by_convention(self) -> dict[str, int]:
        return {c: sum(r.bops_by_convention[c] for r in self.layers) for c in self._names}

    @property
    def _names(self) -> tuple[str, ...]:
        return tuple(self.layers[0].flops_by_convention) if self.layers else ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the reader must know about the binary-work decision, then how the model's
        code was run (`notes`: CUDA on the CPU, legacy Functions, missing modules;
        `xncost.profile.compat`)."""
        d, t = self.detection, self.totals
        out = []
        if d.sign_like_ops and not t["binary_macs"]:
            ops = ", ".join(f"{op} x{n}" for op, n in d.binarizations)
            half = [
                f"{t[k]:,} {label}"
                for k, label in (
                    ("binary_weight_macs", "MACs have binary weights"),
                    ("binary_activation_macs", "MACs have binary inputs"),
                    ("ternary_macs", "MACs have a ternary operand"),
                )
                if t[k]
            ]
            out.append(
                f"warning: the model ran {d.sign_like_ops:,} sign-like ops ({ops}) but no "
                "product had both operands binary up to scale, so every product is counted "
                "as float work"
                + (f" ({'; '.join(half)})" if half else "")
                + "; "
                + _declare_hint(d.suggested)
            )
        if d.sign_zeros:
            out.append(
                f"note: {d.sign_zeros:,} exact zeros from sign(0) were seen in binary operands, "
                "counted as binary values, not as float work (a deployed network stores each as "
                "+1 or -1)."
            )
        return (*out, *self.notes)

    def __repr__(self) -> str:
        t = self.totals
        return (
            f"Summary({self.model}: input {self.input_text}, convention {self.convention}, "
            f"{len(self.layers)} layers; params {t['params']:,} ({t['params_1bit']:,} at 1 bit); "
            f"float MACs {t['float_macs']:,}, 1-bit MACs {t['binary_macs']:,}; "
            f"{self.conv.total_label} {_text(t['ops'])})"
        )

    def folded(self, depth: int) -> Summary:
        """The same summary with the rows deeper than `depth` (components of their
        qualified name) folded into their ancestor at that depth; totals unchanged."""
        groups: dict[str, list[LayerSummary]] = {}
        for r in self.layers:
            groups.setdefault(".".join(r.name.split(".")[:depth]), []).append(r)
        layers = tuple(_fold(name, rows, self.modules.get(name)) for name, rows in groups.items())
        one_bit: dict[tuple[str, str], int] = {}
        for row, op, n in self.detection.one_bit:
            key = (".".join(row.split(".")[:depth]), op)
            one_bit[key] = one_bit.get(key, 0) + n
        merged = tuple((row, op, n) for (row, op), n in one_bit.items())
        return replace(self, layers=layers, detection=replace(self.detection, one_bit=merged))

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
            binary_weight_macs=t["binary_weight_macs"],
            binary_activation_macs=t["binary_activation_macs"],
            ternary_macs=t["ternary_macs"],
            weight_binarization_flops=t["weight_binarization_flops"],
            float_memory_bytes=t["float_memory_bytes"],
        )
        return {
            "model": self.model,
            "input": [list(s) for s in self.inputs] if self.inputs else list(self.input_shape),
            "convention": self.convention,
            "word_bits": self.word,
            "layers": [r.as_dict() for r in self.layers],
            "totals": totals,
            "flops_by_convention": self.flops_by_convention,
            "bops_by_convention": self.bops_by_convention,
            "memory_saving": self.memory_saving,
            "speedup": self.speedup,
            "unknown_ops": list(self.unknown_ops),
            "detection": self.detection.as_dict(),
            "warnings": list(self.warnings),
            **({"comparisons": list(self.comparisons)} if self.comparisons else {}),
        }

    def to_frame(self) -> Any:
        """The layers as a pandas DataFrame indexed by layer name: counts as int64 (Python ints
        where they exceed it), a column holding a fraction (XNOR FLOPs, OPs: BOPs / word) and
        Eq. 9 as float64 (exact values: `to_dict()`)."""
        import pandas as pd

        rows = []
        for r in self.layers:
            d = r.as_dict()
            eq = d.pop("eq9") or {}
            d["output_shape"] = "" if r.output_shape is None else "x".join(map(str, r.output_shape))
            d.update({f"eq9_{k}": eq.get(k) for k in ("c", "n_w", "n_i", "speedup")})
            rows.append(d)
        df = pd.DataFrame(rows).set_index("name")
        for col in df.columns:
            values = [v.numerator if _integral(v) else v for v in df[col].tolist()]
            if col == "eq9_speedup" or any(isinstance(v, Fraction) for v in values):
                df[col] = pd.Series(
                    [float("nan") if v is None else float(v) for v in values], index=df.index
                )
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                if all(-(2**63) <= v < 2**63 for v in values):
                    df[col] = pd.Series(values, index=df.index, dtype="int64")
            elif col.startswith("eq9_"):
                df[col] = pd.Series(
                    [pd.NA if v is None else v for v in values], index=df.index, dtype="Int64"
                )
        return df


def _declare_hint(suggested: tuple[str, ...]) -> str:
    """How to declare weights binarized outside forward: the `--binary` patterns that cover
    the layers with binary inputs and real weights, when there are such layers."""
    if not suggested:
        return (
            "weights binarized outside forward (by a training loop) are declared with "
            "--binary PATTERN (API: binary=[...])."
        )
    options = " ".join(f"--binary {shlex.quote(p)}" for p in suggested)
    return (
        f"if a training loop binarizes the weights of {', '.join(suggested)} outside "
        f"forward (as XNOR-Net's BinOp does), pass {options} (API: binary={list(suggested)!r})."
    )


def _text(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else f"{float(v):,.2f}"


def _fold(
    name: str, rows: list[LayerSummary], module: tuple[str, tuple[int, ...] | None] | None
) -> LayerSummary:
    """Rows summed into one named `name`, with the type and output of the module `name`."""
    if len(rows) == 1 and rows[0].name == name:
        return rows[0]
    own = next((r for r in rows if r.name == name), None)
    kind, shape = module or (f"{len(rows)} layers", rows[-1].output_shape)
    eqs = [r.eq9 for r in rows if r.eq9 is not None]
    kinds: dict[str, int] = {}
    for r in rows:
        for k, v in r.macs_by_kind.items():
            kinds[k] = kinds.get(k, 0) + v
    convs = tuple(rows[0].flops_by_convention)
    return LayerSummary(
        name=name,
        type=kind,
        output_shape=shape,
        calls=own.calls if own is not None else max(r.calls for r in rows),
        binary=any(r.binary for r in rows),
        params=sum(r.params for r in rows),
        params_1bit=sum(r.params_1bit for r in rows),
        scales=sum(r.scales for r in rows),
        float_macs=sum(r.float_macs for r in rows),
        float_flops=sum(r.float_flops for r in rows),
        binary_macs=sum(r.binary_macs for r in rows),
        binary_outputs=sum(r.binary_outputs for r in rows),
        bops=sum(r.bops for r in rows),
        flops_by_convention={c: sum(r.flops_by_convention[c] for r in rows) for c in convs},
        weight_binarization_flops=sum(r.weight_binarization_flops for r in rows),
        eq9=max(eqs, key=lambda e: e.c * e.n_w) if eqs else None,
        word=rows[0].word,
        bops_by_convention={c: sum(r.bops_by_convention[c] for r in rows) for c in convs},
        macs_by_kind=kinds,
    )
