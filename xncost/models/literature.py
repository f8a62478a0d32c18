"""Published BNN figures beside xncost's counts of the same networks (reports/literature.md).

The BNN literature (Bi-Real Net, ReActNet, Real-to-Binary Net, ...) reports FLOPs = the
multiply-accumulates of the real-valued convolutions and FC layers, BOPs = the 1-bit
multiply-accumulates of the binary convolutions, and OPs = FLOPs + BOPs/64; batch norm,
activations, pooling, shortcuts' additions, signs and scaling factors are left out.
`bnn_figures` reads them from a summary taken with `convention="bnn"`; the printed figures,
with their paper and table, are in ``published_bnn.json`` beside this module.

    python -m xncost.models.literature [--out reports/literature.md]
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

from xncost.errors import XncostError

LITERATURE_WORD = 64  # OPs = FLOPs + BOPs/64 (XNOR-Net's 64 binary operations per cycle)
DATA_FILE = Path(__file__).with_name("published_bnn.json")
MODELS = ("birealnet18", "birealnet34", "xnor-resnet18", "reactnet-a")
QUANTITIES = {  # key -> (label, unit of the printed figure)
    "bops": ("BOPs", "1-bit MACs"),
    "flops": ("FLOPs", "real-valued MACs"),
    "ops": ("OPs", "FLOPs + BOPs/64"),
    "memory_mbit": ("memory (Mbit)", "10^6 bits"),
    "memory_saving": ("memory saving", "x"),
    "speedup": ("speed-up", "x"),
}


# ----------------------------------------------------------------------------- convention


@dataclass(frozen=True)
class BnnFigures:
    """One network under the literature's convention (exact integers)."""

    flops: int
    bops: int

    @property
    def ops(self) -> Fraction:
        return self.flops + Fraction(self.bops, LITERATURE_WORD)


def bnn_figures(s: Any) -> BnnFigures:
    """The literature's figures of a summary taken under `convention="bnn"`
    (docs/conventions.md): FLOPs = float MACs of conv/linear/matmul, BOPs = 1-bit MACs."""
    if s.convention != "bnn":
        raise ValueError(f"bnn_figures needs a bnn-convention summary, not {s.convention}")
    t = s.totals
    return BnnFigures(flops=t["float_flops"], bops=t["bops"])


@dataclass(frozen=True)
class Measured:
    """xncost's figures of one network, in the quantities the papers print."""

    model: str
    bnn: BnnFigures
    memory_bits: int
    params: int
    params_1bit: int
    scales: int
    shortcut_params: int
    float_parts: dict[str, int]

    @property
    def float_counterpart_macs(self) -> int:
        """MACs of the same network with every convolution real-valued."""
        return self.bnn.flops + self.bnn.bops

    def value(self, key: str) -> Fraction:
        if key == "memory_mbit":
            return Fraction(self.memory_bits, 10**6)
        if key == "memory_saving":
            return Fraction(32 * self.params, self.memory_bits)
        if key == "speedup":
            return Fraction(self.float_counterpart_macs) / self.bnn.ops
        return Fraction(getattr(self.bnn, key))


def _float_parts(s: Any) -> dict[str, int]:
    """Float MACs by where they run: first convolution, downsampling shortcuts, FC, other."""
    parts = dict.fromkeys(("first convolution", "downsampling shortcuts", "FC", "other"), 0)
    first = True
    for r in s.layers:
        if not r.float_macs:
            continue
        if first and r.type == "Conv2d":
            key = "first convolution"
        elif "downsample" in r.name:
            key = "downsampling shortcuts"
        elif r.type == "Linear":
            key = "FC"
        else:
            key = "other"
        first = False
        parts[key] += r.float_macs
    return parts


def measure(model: str) -> Measured:
    """xncost's figures of registry model `model` at its default input (one summary)."""
    from xncost.profile.summary import summarize_model

    s = summarize_model(model, convention="bnn")
    t = s.totals
    return Measured(
        model=model,
        bnn=bnn_figures(s),
        memory_bits=sum(r.memory_bits for r in s.layers),
        params=t["params"],
        params_1bit=t["params_1bit"],
        scales=t["scales"],
        shortcut_params=sum(r.params for r in s.layers if "downsample" in r.name),
        float_parts=_float_parts(s),
    )


# ----------------------------------------------------------------------------- printed


@dataclass(frozen=True)
class Printed:
    """A printed figure: decimal mantissa string and power of ten, as in the paper."""

    text: str

    @property
    def mantissa(self) -> str:
        return self.text.split("e")[0]

    @property
    def exponent(self) -> int:
        return int(self.text.split("e")[1]) if "e" in self.text else 0

    @property
    def decimals(self) -> int:
        return len(self.mantissa.split(".")[1]) if "." in self.mantissa else 0

    @property
    def value(self) -> Fraction:
        return Fraction(self.mantissa) * 10**self.exponent

    def render(self) -> str:
        return self.mantissa + (f" x 10^{self.exponent}" if self.exponent else "")

    def at_precision(self, x: Fraction, truncate: bool = False) -> Fraction:
        """x in this figure's unit, rounded half up (or truncated) to its decimals."""
        q = Fraction(10) ** (self.decimals - self.exponent)
        scaled = x * q
        n = int(scaled) if truncate else int(scaled + Fraction(1, 2))
        return Fraction(n) / q

    def status(self, x: Fraction) -> str:
        if self.at_precision(x) == self.value:
            return "equal"
        if self.at_precision(x, truncate=True) == self.value:
            return "equal if truncated"
        return "differs"

    def format(self, x: Fraction) -> str:
        v = self.at_precision(x) / Fraction(10) ** self.exponent
        s = f"{v.numerator / v.denominator:.{self.decimals}f}"
        return s + (f" x 10^{self.exponent}" if self.exponent else "")


@dataclass(frozen=True)
class PrintedRow:
    model: str
    source: str
    row: str
    figures: dict[str, Printed]
    checked: tuple[str, ...]


def _parse_printed(text: str, where: str) -> Printed:
    p = Printed(text)
    try:
        _ = p.value
    except (ValueError, ZeroDivisionError, IndexError):
        raise XncostError(f"{where}: not a decimal figure: {text!r}") from None
    return p


@cache
def load_published(path: Path = DATA_FILE) -> tuple[dict[str, dict[str, str]], tuple, tuple]:
    """(sources, figure rows, float-counterpart rows) of the data file; malformed: XncostError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        sources = data["sources"]
        rows = []
        for group in ("figures", "float_counterparts"):
            out = []
            for i, rec in enumerate(data[group]):
                where = f"{path.name} {group}[{i}]"
                if rec["source"] not in sources or rec["model"] not in MODELS:
                    raise XncostError(f"{where}: unknown source or model")
                figs = {k: _parse_printed(str(v), where) for k, v in rec.items() if k in QUANTITIES}
                out.append(
                    PrintedRow(rec["model"], rec["source"], rec["row"], figs, tuple(rec["checked"]))
                )
            rows.append(tuple(out))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise XncostError(f"cannot read {path}: {e}") from None
    return sources, rows[0], rows[1]


# ----------------------------------------------------------------------------- report


def _g(x: Fraction | int, exp: int, digits: int = 4) -> str:
    v = Fraction(x) / 10**exp
    return f"{v.numerator / v.denominator:.{digits}f} x 10^{exp}"


def _num(x: Fraction | int) -> str:
    x = Fraction(x)
    if x.denominator == 1:
        return f"{x.numerator:,}"
    return f"{x.numerator:,}/{x.denominator:,} ({x.numerator / x.denominator:,.4f})"


def explanations(m: dict[str, Measured]) -> dict[tuple[str, str, str], str]:
    """Why xncost's figure and a printed one differ, keyed (model, source, quantity)."""
    b18, x18, b34 = m["birealnet18"], m["xnor-resnet18"], m["birealnet34"]
    down = x18.float_parts["downsampling shortcuts"]
    trunc = (
        f"xncost's OPs are {_num(b18.bnn.ops)} = {_g(b18.bnn.ops, 8)}; the printed 1.63 is "
        "this figure truncated, as the Bi-Real table's own speed-up shows: "
        f"{b18.float_counterpart_macs:,} / {_num(b18.bnn.ops)} = "
        f"{float(b18.value('speedup')):.4f}, printed 11.06"
    )
    no_alpha = b34.memory_bits - 32 * b34.scales
    return {
        ("birealnet18", "reactnet", "flops"): (
            f"xncost: first convolution {b18.float_parts['first convolution']:,}, the three "
            f"downsampling 1x1 convolutions {b18.float_parts['downsampling shortcuts']:,}, FC "
            f"{b18.float_parts['FC']:,} real-valued MACs. The printed row does not add up: "
            "1.68 x 10^9/64 + 1.39 x 10^8 = 1.65 x 10^8, not its printed OPs 1.63 x 10^8; "
            "xncost's FLOPs and OPs satisfy the formula exactly"
        ),
        ("birealnet18", "reactnet", "ops"): trunc,
        ("birealnet18", "bireal", "ops"): trunc,
        ("xnor-resnet18", "reactnet", "bops"): (
            f"printed - xncost is about the {down:,} MACs of the three downsampling 1x1 "
            "convolutions: the ReActNet table counts them as binary; xncost's XNOR-Net "
            "ResNet-18 keeps them real-valued, as Bi-Real Net's comparison does: its 33.7 Mbit "
            f"for XNOR-Net fits real-valued shortcuts, 1-bit ones ({x18.shortcut_params:,} "
            f"parameters) would take {_g(31 * x18.shortcut_params, 6, 2)} bits off"
        ),
        ("xnor-resnet18", "reactnet", "flops"): (
            f"xncost's FLOPs are the same real-valued MACs as Bi-Real Net-18 "
            f"({x18.bnn.flops:,}); the printed 1.41 x 10^8 holds about 0.03 x 10^8 more, "
            "which the paper does not itemize (XNOR-Net's input scale K and the rescaling "
            "by K alpha are not MACs of a convolution or FC, so this convention leaves them "
            "out)"
        ),
        ("xnor-resnet18", "reactnet", "ops"): (
            "follows from the FLOPs above (the BOPs/64 differ by 0.003 x 10^8 only)"
        ),
        ("xnor-resnet18", "bireal", "ops"): (
            "as in the ReActNet table (the same 1.67 x 10^8): the printed FLOPs include "
            "XNOR-Net work that is not a MAC of a convolution or FC"
        ),
        ("xnor-resnet18", "bireal", "speedup"): (
            f"xncost: {x18.float_counterpart_macs:,} / OPs; the printed 10.86 is the same "
            "ratio with the printed OPs 1.67 x 10^8 (1.814 x 10^9 / 1.67 x 10^8 = 10.86)"
        ),
        ("xnor-resnet18", "bireal", "memory_mbit"): (
            f"xncost stores {x18.params_1bit:,} 1-bit weights, {x18.scales:,} 32-bit alphas "
            "and every other parameter at 32 bits; the printed figure is about 0.09 Mbit "
            "(some 2,800 32-bit values) more, which the paper does not itemize"
        ),
        ("birealnet18", "bireal", "memory_saving"): (
            "the printed 33.6 Mbit stands for 33.55 to 33.65 Mbit; the printed saving "
            "puts it at 374.1 / 11.14 = 33.58 Mbit, about 0.06 Mbit below xncost's "
            "figure, a difference the paper does not itemize"
        ),
        ("xnor-resnet18", "bireal", "memory_saving"): "follows from the memory above",
        ("birealnet34", "bireal", "memory_mbit"): (
            f"not explained: the rule that gives Bi-Real Net-18's printed 33.6 Mbit (1-bit "
            "weights, one 32-bit alpha per binary filter, every real-valued parameter at 32 "
            f"bits) gives {_g(b34.memory_bits, 6, 2)} bits here; without the alphas (batch "
            f"norm absorbs them after its retraining) {_g(no_alpha, 6, 2)} bits"
        ),
        ("birealnet34", "bireal", "memory_saving"): "follows from the memory above",
    }


def _printed_rows(rows: tuple, m: dict[str, Measured], notes: dict, used: set) -> list[str]:
    out = [
        "| network (printed row) | quantity | printed | xncost (exact) | xncost at the printed "
        "precision | status | why they differ |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        for key, p in r.figures.items():
            x = m[r.model].value(key)
            status = p.status(x)
            note = notes.get((r.model, r.source, key), "")
            if note:
                used.add((r.model, r.source, key))
            elif status == "differs":
                raise XncostError(f"no explanation for {r.model} {r.source} {key}")
            mark = "" if key in r.checked else " *"
            out.append(
                f"| `{r.model}` ({r.row}) | {QUANTITIES[key][0]} | {p.render()}{mark} | "
                f"{_num(x)} | {p.format(x)} | {status} | {note} |"
            )
    return out


def literature_markdown(measured: dict[str, Measured] | None = None) -> str:
    """reports/literature.md (byte-identical across runs: no dates, no timings)."""
    m = measured or {name: measure(name) for name in MODELS}
    sources, rows, counterparts = load_published()
    notes = explanations(m)
    used: set = set()
    out = [
        "# Published binary networks: printed figures beside xncost's",
        "",
        "Generated by `python -m xncost.models.literature --out reports/literature.md`.",
        "",
        "The BNN literature's convention (`bnn`): FLOPs = multiply-accumulates of the "
        "real-valued convolutions and FC layers; BOPs = 1-bit multiply-accumulates of the binary "
        f"convolutions; OPs = FLOPs + BOPs/{LITERATURE_WORD}. Batch norm, activations, pooling, "
        "the shortcuts' additions, signs and scaling factors are not counted. xncost reads "
        "FLOPs and BOPs from `xncost summary MODEL --convention bnn` ("
        "`xncost.models.literature.bnn_figures`), counted on one forward pass of the networks "
        "in `xncost.models` at 3x224x224 with 1000 classes. Memory: 1 bit per binary weight, "
        "32 bits per other parameter and per scale (one alpha per binary filter); memory "
        "saving = 32 bits x parameters / memory; speed-up = MACs of the same network with "
        "every convolution real-valued / OPs (the Bi-Real table's definition).",
        "",
        "Status: `equal` when xncost's exact figure rounds to the printed one at the printed "
        "precision, `equal if truncated` when it truncates to it, else `differs` (explained "
        "in the last column). A printed figure marked * was transcribed from the paper and "
        "not compared with a second copy; see Sources.",
        "",
        "## xncost's figures",
        "",
        "| network | FLOPs | BOPs | OPs | float counterpart MACs | speed-up | params (1-bit) | "
        "memory (bits) | saving |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in MODELS:
        x = m[name]
        out.append(
            f"| `{name}` | {x.bnn.flops:,} | {x.bnn.bops:,} | {_num(x.bnn.ops)} | "
            f"{x.float_counterpart_macs:,} | {float(x.value('speedup')):.2f} | "
            f"{x.params:,} ({x.params_1bit:,}) | {x.memory_bits:,} | "
            f"{float(x.value('memory_saving')):.2f} |"
        )
    out += [
        "",
        "Where the FLOPs run (real-valued MACs):",
        "",
        "| network | " + " | ".join(next(iter(m.values())).float_parts) + " |",
        "|---|" + "---:|" * len(next(iter(m.values())).float_parts),
    ]
    for name in MODELS:
        out.append(
            f"| `{name}` | " + " | ".join(f"{v:,}" for v in m[name].float_parts.values()) + " |"
        )
    for key, title in (
        ("reactnet", "ReActNet (Liu et al. 2020), comparison table"),
        ("bireal", "Bi-Real Net (Liu et al. 2018), memory and FLOPs table"),
    ):
        out += ["", f"## {title}", ""]
        out += _printed_rows(tuple(r for r in rows if r.source == key), m, notes, used)
    out += [
        "",
        "## Real-valued counterparts (Bi-Real table)",
        "",
        "| printed row | quantity | printed | xncost | status |",
        "|---|---|---:|---:|---|",
    ]
    for r in counterparts:
        x = m[r.model]
        values = {
            "flops": Fraction(x.float_counterpart_macs),
            "memory_mbit": Fraction(32 * x.params, 10**6),
        }
        for key, p in r.figures.items():
            out.append(
                f"| {r.row} (`{r.model}` with real-valued convolutions) | "
                f"{QUANTITIES[key][0]} | {p.render()} * | {_num(values[key])} | "
                f"{p.status(values[key])} |"
            )
    unused = set(notes) - used
    if unused:
        raise XncostError(f"explanations without a printed figure: {sorted(unused)}")
    out += [
        "",
        "## The networks",
        "",
        "- `birealnet18`, `birealnet34` (`xncost.models.bireal`): the authors' PyTorch code; "
        "real-valued first convolution, downsampling shortcuts (2x2 average pool, 1x1 "
        "convolution, BN) and FC; every 3x3 convolution binary (`SignConv2d`).",
        "- `xnor-resnet18` (`xncost.models.xnor_resnet`): ResNet-18 basic blocks with BN -> "
        "`XnorConv2d` (binary input and weights, scales K and alpha); real-valued first "
        "convolution, downsampling shortcuts and FC.",
        "- `reactnet-a` (`xncost.models.reactnet`): the authors' code; real-valued first "
        "convolution and FC, every other convolution binary, RSign and RPReLU as learnable "
        "shifts around sign and PReLU.",
        "",
        "## Sources",
        "",
    ]
    for key, src in sources.items():
        out.append(f"- **{key}**: {src['cite']}; {src['table']}. Checked: {src['verified']}.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print reports/literature.md, or write it with `--out PATH`."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and (args[0] != "--out" or len(args) != 2):
            raise XncostError("usage: python -m xncost.models.literature [--out PATH]")
        text = literature_markdown()
        if args:
            from xncost.files import write_atomic

            write_atomic(args[1], text)
        else:
            sys.stdout.write(text)
    except XncostError as e:
        print(f"xncost: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
