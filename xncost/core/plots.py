"""PNG plots of a sweep (optional extra `plot`: matplotlib).

- cost: total FLOPs (Table 5 "Total") vs caps_in, log-log, one line per dim_out, with the
  comparison layer (FC head of Table 10, or DR of Table 9);
- break-even: for each dim_out, the caps_in at which the layer costs as much as the FC head
  or DR (solved exactly, `xncost.core.sweep.break_even`);
- speed-up: the layer's speed-up equation as printed (Eq. 12 / 15; grows with caps_in towards
  64) against Eq. 9 applied to its xnorized dot products (64k/(k+64) for one product,
  independent of caps_in) and the packed-word bound k / ceil(k/64).

Figures are drawn on `matplotlib.figure.Figure` with the Agg canvas (no pyplot state) and
written atomically.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from xncost.conventions import Convention, get_convention
from xncost.core.evaluate import evaluate, evaluate_fc
from xncost.core.layers import LAYERS, get_layer
from xncost.core.sweep import BreakEven
from xncost.errors import XncostError
from xncost.io.files import write_atomic

INSTALL_HINT = "plots need matplotlib: pip install xncost[plot] (or pass --no-plots)"
LABELS = {name: spec.label for name, spec in LAYERS.items()}


def require_matplotlib() -> None:
    """Raise a one-line XncostError if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise XncostError(INSTALL_HINT) from None


def _figure(width: float = 7.5, height: float = 5.0) -> Any:
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return write_atomic(Path(path), buf.getvalue())


def _fixed_text(fixed: dict[str, int], skip: tuple[str, ...]) -> str:
    short = {"caps_in": "N", "caps_out": "M", "dim_in": "D", "dim_out": "E", "iterations": "r"}
    short["batch"] = "B"
    return ", ".join(f"{short[k]}={v}" for k, v in fixed.items() if k not in skip)


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.0, 0.9, max(n, 1))]


def cost_plot(
    layer: str,
    caps_ins: tuple[int, ...],
    dim_outs: tuple[int, ...],
    fixed: dict[str, int],
    path: Path,
    convention: str | Convention = "paper",
    vs: str | None = None,
    fc_dims: tuple[int, ...] = (),
) -> Path:
    """Total FLOPs vs caps_in (log-log), one line per dim_out, and the comparison layer."""
    fig = _figure()
    ax = fig.add_subplot()
    others = {k: v for k, v in fixed.items() if k not in ("caps_in", "dim_out")}
    ns = np.asarray(caps_ins, dtype=np.int64)
    for color, e in zip(_colors(len(dim_outs)), dim_outs, strict=True):
        ev = evaluate(layer, convention, caps_in=ns, dim_out=e, **others)
        y = [float(ev.flops_fraction(i)) for i in range(len(ev))]
        ax.plot(ns, y, marker="o", ms=3, color=color, label=f"{LABELS[layer]} E={e}")
        if vs == "dr" and layer != "dr":
            dr = evaluate("dr", convention, caps_in=ns, dim_out=e, **others)
            ydr = [float(dr.flops_fraction(i)) for i in range(len(dr))]
            ax.plot(ns, ydr, ls="--", color=color, lw=1, label=f"DR E={e}")
    if vs == "fc":
        fc = float(evaluate_fc(fc_dims, fixed["batch"], convention)[0])
        dims = "-".join(map(str, fc_dims))
        ax.axhline(fc, color="crimson", ls="--", lw=1.5, label=f"FC head {dims}: {fc:,.0f}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("caps_in N")
    ax.set_ylabel("total FLOPs (float + BOPs/64)")
    ax.set_title(
        f"{LABELS[layer]} cost vs caps_in ({_fixed_text(fixed, ('caps_in', 'dim_out'))}, "
        f"convention {get_convention(convention).name})",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def break_even_plot(curves: list[BreakEven], path: Path, grid_dim_outs: tuple[int, ...]) -> Path:
    """Break-even caps_in vs dim_out, one line per comparison layer; grid values marked."""
    fig = _figure()
    ax = fig.add_subplot()
    styles = {"fc": ("crimson", "-"), "dr": ("navy", "--")}
    notes = []
    for c in curves:
        pts = [(e, float(r)) for e, r in c.points if r is not None]
        color, ls = styles.get(c.vs, ("black", ":"))
        if not pts:
            how = "more" if c.costlier_without_root else "less"
            notes.append(
                f"no break-even with {LABELS[c.vs]}: {LABELS[c.layer]} costs {how} at every caps_in"
            )
            continue
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, color=color, ls=ls, label=f"{LABELS[c.layer]} = {LABELS[c.vs]}")
        marked = [(e, y) for e, y in pts if e in grid_dim_outs]
        if marked:
            mx, my = zip(*marked, strict=True)
            ax.plot(mx, my, "o", color=color, ms=4)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("dim_out E")
    ax.set_ylabel("break-even caps_in N*")
    layer = curves[0].layer if curves else ""
    fixed = curves[0].fixed if curves else {}
    ax.set_title(
        f"{LABELS.get(layer, layer)}: caps_in where total FLOPs are equal "
        f"({_fixed_text(fixed, ('caps_in', 'dim_out'))})\n"
        f"below the line {LABELS.get(layer, layer)} is cheaper",
        fontsize=10,
    )
    for k, note in enumerate(notes):
        ax.text(0.02, 0.04 + 0.06 * k, note, transform=ax.transAxes, fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(fig, path)


def speedup_plot(
    layer: str,
    caps_ins: tuple[int, ...],
    dim_outs: tuple[int, ...],
    fixed: dict[str, int],
    path: Path,
    word: int = 64,
) -> Path:
    """The layer's speed-up equation as printed (Eq. 12, 15, ...) vs Eq. 9 on its xnorized
    dot products vs the word bound (the `speedup` of `xncost.core.accounting.breakdown`)."""
    from xncost.core.accounting import breakdown
    from xncost.core.shapes import CapsShape

    spec = get_layer(layer)
    if spec.speedup is None:
        with_eq = [n for n, s in LAYERS.items() if s.speedup is not None]
        raise XncostError(f"speed-up plots are for {', '.join(with_eq)}, not {layer}")
    conv = get_convention("paper", word)
    fig = _figure(width=10.5)
    ax = fig.add_subplot()
    ns = list(caps_ins)
    drawn: set[tuple[Any, Any]] = set()
    for color, e in zip(_colors(len(dim_outs)), dim_outs, strict=True):
        speedups = [
            breakdown(layer, CapsShape(**{**fixed, "caps_in": n, "dim_out": e}), conv).speedup
            for n in ns
        ]
        ax.plot(
            ns,
            [float(Fraction(s.printed)) for s in speedups],
            color=color,
            marker="o",
            ms=3,
            label=f"printed E={e}",
        )
        eq9, bound = speedups[0].eq9, speedups[0].word_bound  # independent of caps_in
        if (eq9, bound) in drawn:
            continue
        drawn.add((eq9, bound))
        for value, ls, what in ((eq9, "--", "Eq. 9 corrected"), (bound, ":", "word bound")):
            y = float(Fraction(value))
            ax.axhline(y, color=color, ls=ls, lw=1, label=f"{what} E={e}: {y:.4g}")
    ax.axhline(word, color="gray", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("caps_in N")
    ax.set_ylabel("speed-up of the xnorized products")
    ax.set_title(
        f"{spec.label}: {spec.speedup_label} as printed vs Eq. 9 corrected vs {word}-bit word "
        f"bound ({_fixed_text(fixed, ('caps_in', 'dim_out'))})",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, path)
