"""`xncost explain`: the per-step derivation of one layer's cost at one shape.

For each step (Table 2 / Table 3 step, equation): which convention terms it uses and their
values, the symbolic formula with the terms as symbols, the formula under the chosen
convention (`breakdown(layer, CapsShape.symbols(), convention)`), the shape's numbers
substituted, and the exact result; then the totals and the speed-up derivation (Eqs. 9, 12,
15). Text (markdown) or JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from xncost.conventions import Convention, get_convention
from xncost.core.accounting import Breakdown, breakdown
from xncost.core.shapes import CapsShape, FCShape
from xncost.errors import XncostError
from xncost.exact import exact_str

CAPS_SYMBOLS = {
    "caps_in": "N",
    "caps_out": "M",
    "dim_in": "D",
    "dim_out": "E",
    "iterations": "r",
    "batch": "B",
}
COUNTS = ("flops", "bops", "params")


@dataclass(frozen=True)
class Derivation:
    """One count of one step: general formula, this convention's formula, numbers, value."""

    general: str
    formula: str
    substituted: str
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class StepExplanation:
    index: int
    name: str
    title: str
    ref: str
    kind: str
    repeats: Any
    terms: dict[str, int]
    counts: dict[str, Derivation]  # flops, bops, params (zero counts left out)
    xnor_flops: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "title": self.title,
            "ref": self.ref,
            "kind": self.kind,
            "repeats": self.repeats,
            "terms": self.terms,
            **{k: v.as_dict() for k, v in self.counts.items()},
            "xnor_flops": self.xnor_flops,
        }


@dataclass(frozen=True)
class Explanation:
    layer: str
    breakdown: Breakdown
    symbols: dict[str, Any]  # shape field -> (symbol name, value)
    steps: tuple[StepExplanation, ...]
    totals: dict[str, Derivation]
    speedup: dict[str, Derivation]


def _symbolic_convention(conv: Convention) -> Convention:
    import sympy as sp

    terms = {
        name: sp.Symbol(name, integer=True, nonnegative=True) for name in Convention.price_fields()
    }
    return replace(conv, **terms)


def _shape_symbols(shape: CapsShape | FCShape) -> tuple[Any, dict[Any, int], dict[str, Any]]:
    """(symbolic shape, symbol -> value, field -> {symbol, value})."""
    import sympy as sp

    if isinstance(shape, CapsShape):
        sym = CapsShape.symbols()
        values = {getattr(sym, f): getattr(shape, f) for f in CAPS_SYMBOLS}
        table = {f: {"symbol": CAPS_SYMBOLS[f], "value": getattr(shape, f)} for f in CAPS_SYMBOLS}
        return sym, values, table
    dims = [sp.Symbol(f"d{i}", positive=True, integer=True) for i in range(len(shape.dims))]
    b = sp.Symbol("B", positive=True, integer=True)
    values = {**dict(zip(dims, shape.dims, strict=True)), b: shape.batch}
    table = {f"dims[{i}]": {"symbol": f"d{i}", "value": v} for i, v in enumerate(shape.dims)}
    table["batch"] = {"symbol": "B", "value": shape.batch}
    return FCShape(tuple(dims), b), values, table


def resolve_branches(expr: Any, values: dict[Any, int]) -> Any:
    """Replace each Piecewise by the branch that applies at `values`."""
    import sympy as sp

    def pick(pw: Any) -> Any:
        for value, cond in pw.args:
            if bool(sp.sympify(cond).subs(values)):
                return value
        raise XncostError(f"no branch of {pw} applies")

    return sp.sympify(expr).replace(lambda e: isinstance(e, sp.Piecewise), pick)


def substituted(expr: Any, values: dict[Any, int]) -> str:
    """The formula (branches resolved) with the shape's numbers written in for the symbols."""
    import sympy as sp

    text = sp.sstr(resolve_branches(expr, values))
    names = {k.name: str(v) for k, v in values.items()}
    pattern = r"\b(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")\b"
    return re.sub(pattern, lambda m: names[m.group(1)], text)


def formula_text(expr: Any) -> str:
    """sympy's text of `expr`, a Piecewise written as `(a if cond else b)`."""
    import sympy as sp
    from sympy.printing.str import StrPrinter

    class _Printer(StrPrinter):
        def _print_Piecewise(self, pw: Any) -> str:
            *branches, (last, _) = pw.args
            text = self._print(last)
            for value, cond in reversed(branches):
                text = f"{self._print(value)} if {self._print(cond)} else {text}"
            return f"({text})"

        def _print_Equality(self, e: Any) -> str:
            return f"{self._print(e.lhs)} = {self._print(e.rhs)}"

    return _Printer().doprint(sp.sympify(expr))


MAX_LAYERS = 256  # linear layers of an FC chain explain derives (about 2 s)


def _derivation(general: Any, formula: Any, value: Any, values: dict[Any, int]) -> Derivation:
    return Derivation(
        general=formula_text(general),
        formula=formula_text(formula),
        substituted=substituted(formula, values),
        value=value,
    )


def explain(
    layer: str,
    shape: CapsShape | FCShape,
    convention: str | Convention = "paper",
    word_bits: int | None = None,
) -> Explanation:
    """The derivation of `breakdown(layer, shape, convention)`, step by step (an FC chain of
    at most MAX_LAYERS layers: a derivation is read; `cost` counts longer ones)."""
    import sympy as sp

    if isinstance(shape, FCShape) and len(shape.dims) - 1 > MAX_LAYERS:
        raise XncostError(
            f"explain derives at most {MAX_LAYERS} linear layers, got {len(shape.dims) - 1}; "
            "xncost cost fc --dims counts any number"
        )

    conv = get_convention(convention, word_bits)
    num = breakdown(layer, shape, conv)
    sym_shape, values, table = _shape_symbols(shape)
    per_conv = breakdown(layer, sym_shape, conv)
    general = breakdown(layer, sym_shape, _symbolic_convention(conv))
    term_names = set(Convention.price_fields())
    steps = []
    for i, (n, p, g) in enumerate(zip(num.steps, per_conv.steps, general.steps, strict=True), 1):
        used: set[str] = set()
        counts = {}
        for key in COUNTS:
            ge = sp.sympify(getattr(g, key))
            used |= {s.name for s in ge.free_symbols if s.name in term_names}
            if getattr(n, key) == 0 and ge == 0:
                continue
            counts[key] = _derivation(ge, getattr(p, key), getattr(n, key), values)
        steps.append(
            StepExplanation(
                i,
                n.name,
                n.title,
                n.ref,
                n.kind,
                n.repeats,
                {t: getattr(conv, t) for t in sorted(used)},
                counts,
                n.xnor_flops,
            )
        )
    general_totals, conv_totals = general.totals, per_conv.totals  # each access sums anew
    totals = {
        k: _derivation(general_totals[k], conv_totals[k], v, values) for k, v in num.totals.items()
    }
    speed: dict[str, Derivation] = {}
    if num.speedup is not None:
        for k, v in num.speedup.as_dict().items():
            if k == "equation" or v is None:
                continue
            s = getattr(per_conv.speedup, k)
            speed[k] = _derivation(s, s, v, values)
    return Explanation(layer, num, table, tuple(steps), totals, speed)


# ----------------------------------------------------------------------------- rendering

_COUNT_LABELS = {"flops": "FLOPs", "bops": "BOPs", "params": "params"}
_SPEEDUP_LABELS = {
    "printed": "as printed",
    "eq9": "Eq. 9 applied to the projector's dot products",
    "word_bound": "packed-word bound k / ceil(k / word)",
    "from_steps": "float step FLOPs / xnorized step FLOPs (this convention)",
    "from_steps_with_binarization": "... with the binarization FLOPs in the denominator",
}


def _value(v: Any) -> str:
    text = exact_str(v)
    if isinstance(v, int):
        return f"{v:,}"
    return text


def _ratio4(v: Any) -> str:
    from fractions import Fraction

    return f"{float(Fraction(v)):.4f}"


def _count_lines(label: str, d: Derivation) -> list[str]:
    lines = [f"- {label} = {d.general}"]
    if d.formula != d.general:
        lines.append(f"  - under this convention: {d.formula}")
    lines.append(f"  - substituted: {d.substituted} = **{_value(d.value)}**")
    return lines


def explain_markdown(e: Explanation) -> str:
    """The derivation as markdown-ish text."""
    b = e.breakdown
    shape_text = ", ".join(f"{v['symbol']} = {k} = {v['value']}" for k, v in e.symbols.items())
    out = [
        f"# xncost explain {e.layer}",
        "",
        f"Shape: {shape_text}.",
        f"Convention `{b.convention.name}`: {b.convention.description}. "
        f"Word: {b.convention.word_bits} bits (XNOR FLOPs = BOPs / {b.convention.word_bits}).",
        "",
    ]
    for s in e.steps:
        out.append(f"## Step {s.index}. {s.name}: {s.title}")
        out.append("")
        out.append(f"Reference: {s.ref}; kind: {s.kind}; repeats: {s.repeats}.")
        terms = ", ".join(f"{k} = {v}" for k, v in s.terms.items()) or "none (no arithmetic)"
        out.append(f"Convention terms: {terms}.")
        out.append("")
        if not s.counts:
            out.append("- no FLOPs, BOPs or parameters (data movement or a view)")
        for key, d in s.counts.items():
            out += _count_lines(_COUNT_LABELS[key], d)
        if "bops" in s.counts:
            out.append(
                f"- XNOR FLOPs = BOPs / {b.convention.word_bits} = **{_value(s.xnor_flops)}**"
            )
        out.append("")
    out += ["## Totals", ""]
    sums = {
        "flops": 'float FLOPs of every step + XNOR FLOPs (Table 5 "Total")',
        "binarization_flops": "FLOPs of the binarization steps",
        "xnor_bops": "BOPs of the XNOR steps",
        "xnor_flops": f"XNOR BOPs / {b.convention.word_bits}",
        "params": "parameters (weights) of every step",
    }
    for key, d in e.totals.items():
        out.append(f"- {key}: {sums.get(key, key)}")
        out.append(f"  - = {d.formula}")
        out.append(f"  - = {d.substituted} = **{_value(d.value)}**")
    if e.speedup:
        eq = b.speedup.equation
        out += ["", f"## Speed-up ({eq}, Eq. 9)", ""]
        for key, d in e.speedup.items():
            label = _SPEEDUP_LABELS.get(key, key)
            label = f"{eq} {label}" if key == "printed" else label
            out.append(f"- {label}: {d.formula}")
            exact = exact_str(d.value)
            approx = f" (~{_ratio4(d.value)})" if "/" in exact else ""
            out.append(f"  - = {d.substituted} = {exact}{approx}")
    return "\n".join(out).rstrip("\n") + "\n"


def explain_json(e: Explanation) -> str:
    """The derivation as exact JSON (counts as ints / exact decimals)."""
    from xncost.report.to_json import dumps

    b = e.breakdown
    return dumps(
        {
            "layer": e.layer,
            "shape": e.symbols,
            "convention": b.convention.name,
            "word_bits": b.convention.word_bits,
            "steps": [s.as_dict() for s in e.steps],
            "totals": {k: d.as_dict() for k, d in e.totals.items()},
            "speedup": {k: d.as_dict() for k, d in e.speedup.items()},
            "equation": None if b.speedup is None else b.speedup.equation,
        }
    )
