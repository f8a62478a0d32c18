"""Per-step cost of FC, DR, XnODR (Table 2), XnIDR (Table 3) and XnBDR layers
(`xncost.core.layers`).

Each step function takes a shape (ints or sympy symbols) and a `Convention` and returns
`Step`s whose counts are exact: ints/Fractions for numbers, sympy expressions for symbols.
Step names equal the leaf module names of the reference layers in `xncost.nn`, so measured
and analytic counts line up step by step. Counts cover one forward pass of `batch` samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from xncost.conventions import Convention, get_convention, xnor_flops
from xncost.core.formulas import (
    call_with_symbols,
    eq9_speedup,
    eq9_speedup_sum,
    word_bound,
    word_bound_sum,
)
from xncost.core.layers import get_layer
from xncost.core.shapes import CapsShape, FCShape
from xncost.errors import XncostError
from xncost.exact import exact_str, if_one, is_symbolic, ratio, to_float

KINDS = ("data", "linear", "binarization", "xnor", "routing", "fc")


@dataclass(frozen=True)
class Step:
    """One step of a layer: float FLOPs, binary operations and stored parameters."""

    name: str
    title: str
    ref: str
    kind: str
    repeats: Any = 1
    flops: Any = 0
    bops: Any = 0
    params: Any = 0
    params_1bit: Any = 0
    params_32bit: Any = 0
    word_bits: int = 64

    @property
    def xnor_flops(self) -> Any:
        """BOPs / word (Table 5's "XNOR FLOPs")."""
        return xnor_flops(self.bops, self.word_bits)

    @property
    def total_flops(self) -> Any:
        return self.flops + self.xnor_flops

    @property
    def memory_bits(self) -> Any:
        """Inference storage of this step's parameters: 32 bits each, 1 bit if binarized."""
        return 32 * self.params_32bit + self.params_1bit


def total(values: Iterable[Any]) -> Any:
    """The sum of step counts: ints, or sympy expressions (`xncost explain`) added at once,
    since adding them one by one re-sorts the growing sum each time (quadratic)."""
    terms = list(values)
    if any(hasattr(t, "free_symbols") for t in terms):
        import sympy as sp

        return sp.Add(*terms)
    return sum(terms, 0)


TOTAL_KEYS = ("flops", "binarization_flops", "xnor_bops", "xnor_flops", "params")


@dataclass(frozen=True)
class Speedup:
    """Speed-up of the xnorized products, several ways (Eqs. 9, 12, 15; `PROJECTORS`)."""

    equation: str
    printed: Any
    eq9: Any
    word_bound: Any
    from_steps: Any
    from_steps_with_binarization: Any

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Breakdown:
    """A layer's steps under one convention, with totals (`xncost cost --format json`)."""

    layer: str
    shape: CapsShape | FCShape
    convention: Convention
    steps: tuple[Step, ...]
    speedup: Speedup | None = field(default=None)

    @property
    def totals(self) -> dict[str, Any]:
        """flops = float FLOPs + XNOR FLOPs; binarization_flops; xnor_bops; xnor_flops; params."""
        return {
            "flops": total(s.total_flops for s in self.steps),
            "binarization_flops": total(s.flops for s in self.steps if s.kind == "binarization"),
            "xnor_bops": total(s.bops for s in self.steps),
            "xnor_flops": total(s.xnor_flops for s in self.steps),
            "params": total(s.params for s in self.steps),
        }

    @property
    def memory(self) -> dict[str, Any]:
        """Stored parameters at inference: 32-bit count, 1-bit count, bits, and training bits."""
        p32 = sum((s.params_32bit for s in self.steps), 0)
        p1 = sum((s.params_1bit for s in self.steps), 0)
        return {
            "params_32bit": p32,
            "params_1bit": p1,
            "memory_bits": 32 * p32 + p1,
            "float_memory_bits": 32 * self.totals["params"],
        }

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (counts stay exact: ints or exact Fractions)."""
        return {
            "layer": self.layer,
            "shape": self.shape.as_dict(),
            "convention": self.convention.name,
            "word_bits": self.convention.word_bits,
            "steps": [
                {
                    "name": s.name,
                    "title": s.title,
                    "ref": s.ref,
                    "kind": s.kind,
                    "repeats": s.repeats,
                    "flops": s.flops,
                    "bops": s.bops,
                    "xnor_flops": s.xnor_flops,
                    "params": s.params,
                    "params_1bit": s.params_1bit,
                    "params_32bit": s.params_32bit,
                    "memory_bits": s.memory_bits,
                }
                for s in self.steps
            ],
            "totals": self.totals,
            "memory": self.memory,
            "speedup": None if self.speedup is None else self.speedup.as_dict(),
            "measured": None,
        }

    def to_frame(self) -> Any:
        """The steps as a pandas DataFrame (exact values kept as Python objects)."""
        import pandas as pd

        rows = self.to_dict()["steps"]
        return pd.DataFrame(rows, dtype=object).set_index("name")


def _macs_flops(conv: Convention, macs: Any) -> Any:
    return conv.flops_per_mac * macs


def _contraction_flops(conv: Convention, outputs: Any, length: Any) -> Any:
    """`outputs` dot products of `length`: 2 per MAC, `single_mac_flops` when length is 1."""
    if conv.single_mac_flops == conv.flops_per_mac:
        return outputs * conv.flops_per_mac * length
    return outputs * if_one(length, conv.single_mac_flops, conv.flops_per_mac * length)


def _xnor_bops(conv: Convention, dots: Any, length: Any) -> Any:
    """BOPs of `dots` packed dot products of `length` bits each."""
    return conv.bops(dots, length)


def _step(conv: Convention, **kw: Any) -> Step:
    return Step(word_bits=conv.word_bits, **kw)


def routing_steps(s: CapsShape, conv: Convention, xnor_agreement: bool) -> list[Step]:
    """Dynamic routing (Section 3.1; Table 3 steps 5-10): r softmax/sum/squash, r-1 updates."""
    n, m, e, r, b = s.N, s.M, s.E, s.r, s.B
    pairs = b * n * m
    steps = [
        _step(
            conv,
            name="softmax",
            title="coupling coefficients c = softmax(b)",
            ref="Eq. 5; Table 3 step 5",
            kind="routing",
            repeats=r,
            flops=r * conv.softmax_per_element * pairs,
        ),
        _step(
            conv,
            name="weighted_sum",
            title="s_j = sum_i c_ij u_hat_j|i",
            ref="Eq. 3; Table 3 step 6",
            kind="routing",
            repeats=r,
            flops=r * _contraction_flops(conv, b * m * e, n),
        ),
        _step(
            conv,
            name="squash",
            title="v_j = squash(s_j)",
            ref="Eq. 4; Table 3 step 7",
            kind="routing",
            repeats=r,
            flops=r * b * m * (conv.squash_per_element * e + conv.squash_per_capsule),
        ),
    ]
    updates = r - 1
    if not xnor_agreement:
        steps.append(
            _step(
                conv,
                name="agreement",
                title="b <- b + u_hat . v (float dot products of E)",
                ref="Eqs. 6, 8",
                kind="routing",
                repeats=updates,
                flops=updates * (_contraction_flops(conv, pairs, e) + conv.agreement_add * pairs),
            )
        )
        return steps
    steps += [
        _step(
            conv,
            name="binarize_uhat",
            title="binarize u_hat over E -> B_u, alpha_u",
            ref="Table 3 step 8; Eqs. 16-18",
            kind="binarization",
            repeats=updates,
            flops=updates * conv.binarize_per_element * pairs * e,
        ),
        _step(
            conv,
            name="binarize_v",
            title="binarize v over E -> B_v, alpha_v",
            ref="Table 3 step 9; Eqs. 16-18",
            kind="binarization",
            repeats=updates,
            flops=updates * conv.binarize_per_element * b * m * e,
        ),
        _step(
            conv,
            name="xnor_agreement",
            title="b <- b + (B_u xnor B_v) . alpha_u alpha_v (packed dot products of E)",
            ref="Table 3 step 10; Eqs. 8, 20",
            kind="xnor",
            repeats=updates,
            flops=updates * (conv.rescale_per_output + conv.agreement_add) * pairs,
            bops=updates * _xnor_bops(conv, pairs, e),
        ),
    ]
    return steps


def _lp_out(s: CapsShape, conv: Convention) -> Step:
    params = s.N * s.M * s.D * s.E
    return _step(
        conv,
        name="lp_out",
        title="u_hat = W u (float, dot products of D)",
        ref="Eqs. 2, 7",
        kind="linear",
        flops=_contraction_flops(conv, s.B * s.N * s.M * s.E, s.D),
        params=params,
        params_32bit=params,
    )


def dr_steps(s: CapsShape, conv: Convention) -> list[Step]:
    """Dynamic routing layer (Sabour et al. 2017; Table 9's DR)."""
    return [_lp_out(s, conv), *routing_steps(s, conv, xnor_agreement=False)]


def xnor_projector_steps(s: CapsShape, conv: Convention) -> list[Step]:
    """XnODR's xnorized LP_out, Table 2 steps 1-5."""
    n, m, d, e, b = s.N, s.M, s.D, s.E, s.B
    params = n * m * d * e
    outputs = b * n * m * e
    return [
        _step(
            conv,
            name="expand",
            title="tile I_Prim [B,N,D] -> I_Cap [B,N,M,D] (a view)",
            ref="Table 2 step 1",
            kind="data",
        ),
        _step(
            conv,
            name="weight",
            title="W_Cap [N,M,D,E]; stored as B_W (1 bit) + alpha_W",
            ref="Table 2 step 2",
            kind="data",
            params=params,
            params_1bit=params,
            params_32bit=n * m * e,
        ),
        _step(
            conv,
            name="binarize_input",
            title="binarize I_Cap over D -> B_I, alpha_I",
            ref="Table 2 step 3; Eqs. 16-18",
            kind="binarization",
            flops=conv.binarize_per_element * b * n * m * d,
        ),
        _step(
            conv,
            name="binarize_weight",
            title="binarize W_Cap over D -> B_W, alpha_W",
            ref="Table 2 step 4; Eqs. 16-18",
            kind="binarization",
            flops=conv.binarize_per_element * params,
        ),
        _step(
            conv,
            name="xnor_affine",
            title="(B_I xnor B_W) . alpha_I alpha_W (packed dot products of D)",
            ref="Table 2 steps 5-6; Eqs. 7, 20",
            kind="xnor",
            flops=conv.rescale_per_output * outputs,
            bops=_xnor_bops(conv, outputs, d),
        ),
    ]


def xnodr_steps(s: CapsShape, conv: Convention) -> list[Step]:
    """XnODR, Table 2 steps 1-7."""
    return [*xnor_projector_steps(s, conv), *routing_steps(s, conv, xnor_agreement=False)]


def xnidr_steps(s: CapsShape, conv: Convention) -> list[Step]:
    """XnIDR, Table 3 steps 1-11 (steps 1, 3, 4 and 11 move no arithmetic)."""
    return [_lp_out(s, conv), *routing_steps(s, conv, xnor_agreement=True)]


def xnbdr_steps(s: CapsShape, conv: Convention) -> list[Step]:
    """XnBDR (Section 3.3.2): XnODR's xnorized LP_out (Table 2 steps 1-5), then XnIDR's routing
    with the xnorized agreement (Table 3 steps 5-10); softmax and weighted sum stay float."""
    return [*xnor_projector_steps(s, conv), *routing_steps(s, conv, xnor_agreement=True)]


def fc_steps(s: FCShape, conv: Convention) -> list[Step]:
    """Fully connected head (Table 10): 2 FLOPs per MAC, plus bias and ReLU under `ops`."""
    steps = []
    last = len(s.dims) - 2
    for i, (fan_in, fan_out) in enumerate(zip(s.dims[:-1], s.dims[1:], strict=True)):
        outputs = s.B * fan_out
        act = conv.fc_activation * outputs if i < last else 0
        steps.append(
            _step(
                conv,
                name=f"fc{i + 1}",
                title=f"linear {fan_in} -> {fan_out}" + (" + ReLU" if i < last else ""),
                ref="Table 10",
                kind="fc",
                flops=_macs_flops(conv, s.B * fan_in * fan_out) + conv.fc_bias * outputs + act,
                params=fan_in * fan_out + fan_out,
                params_32bit=fan_in * fan_out + fan_out,
            )
        )
    return steps


@dataclass(frozen=True)
class Projector:
    """An xnorized product and the float step of DR it replaces (Eq. 9's c·N_W = k per dot
    product, `dots` dot products per run, `runs` runs per forward pass)."""

    xnor_step: str
    float_step: str
    length: Callable[[CapsShape], Any]
    dots: Callable[[CapsShape], Any]
    runs: Callable[[CapsShape], Any]


PROJECTORS = (
    Projector("xnor_affine", "lp_out", lambda s: s.D, lambda s: s.B * s.N * s.M * s.E, lambda s: 1),
    Projector(
        "xnor_agreement", "agreement", lambda s: s.E, lambda s: s.B * s.N * s.M, lambda s: s.r - 1
    ),
)


def _speedup(layer: str, s: CapsShape, conv: Convention, steps: list[Step]) -> Speedup | None:
    """The layer's speed-up equation (Eqs. 12, 15; see `xncost.core.layers`) beside Eq. 9 and
    per-step ratios over its xnorized products. One product: Eq. 9 per run (it does not
    depend on how often the product runs); several: Eq. 9 over all of them per forward pass."""
    spec = get_layer(layer)
    formula = spec.speedup_formula()
    mine = {st.name: st for st in steps}
    used = [p for p in PROJECTORS if p.xnor_step in mine]
    if formula is None or not used:
        return None
    dr = {st.name: st for st in dr_steps(s, conv)}
    binarization = sum((st.flops for st in steps if st.kind == "binarization"), 0)
    float_cost = sum((dr[p.float_step].flops for p in used), 0)
    xnor = sum((mine[p.xnor_step].total_flops for p in used), 0)
    if len(used) == 1:
        k = used[0].length(s)
        eq9 = eq9_speedup(k, 1, used[0].dots(s), conv.word_bits)
        bound = word_bound(k, conv.word_bits)
    else:
        terms = [(p.length(s), p.runs(s) * p.dots(s)) for p in used]
        eq9 = eq9_speedup_sum(terms, conv.word_bits)
        bound = word_bound_sum(terms, conv.word_bits)
    return Speedup(
        equation=spec.speedup_label or spec.speedup,
        printed=call_with_symbols(formula, s, conv.word_bits),
        eq9=eq9,
        word_bound=bound,
        from_steps=_ratio_or_none(float_cost, xnor),
        from_steps_with_binarization=_ratio_or_none(float_cost, xnor + binarization),
    )


def _ratio_or_none(num: Any, den: Any) -> Any:
    """num / den, or None when den is the number 0 (e.g. XnIDR with one routing iteration)."""
    return ratio(num, den) if is_symbolic(den) or den != 0 else None


def breakdown(
    layer: str,
    shape: CapsShape | FCShape,
    convention: str | Convention = "paper",
    word_bits: int | None = None,
) -> Breakdown:
    """Cost of a registered `layer` (`xncost.core.layers`) at `shape` under a convention."""
    spec = get_layer(layer)
    if spec.is_caps == isinstance(shape, FCShape):
        kind = "CapsShape" if spec.is_caps else "FCShape"
        raise XncostError(f"layer {layer!r} needs a {kind}")
    conv = get_convention(convention, word_bits)
    steps = spec.step_function()(shape, conv)
    return Breakdown(layer, shape, conv, tuple(steps), _speedup(layer, shape, conv, steps))


def totals_text(b: Breakdown) -> dict[str, str]:
    """Totals as exact text (for CSV/markdown)."""
    return {k: exact_str(v) for k, v in b.totals.items()}


__all__ = [
    "Breakdown",
    "KINDS",
    "PROJECTORS",
    "Speedup",
    "Step",
    "TOTAL_KEYS",
    "breakdown",
    "dr_steps",
    "fc_steps",
    "routing_steps",
    "to_float",
    "totals_text",
    "xnbdr_steps",
    "xnidr_steps",
    "xnodr_steps",
    "xnor_projector_steps",
]
