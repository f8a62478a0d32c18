"""Shape sweeps: exact per-step counts over a grid of shapes, break-even curves, CSV/Parquet.

A grid is the Cartesian product of one range per shape field (`parse_range`); unset fields
default to the paper's MobileNetV2 head (N=160, M=10, D=8, E=16, r=3, B=1; docs/reference.md).
Rows are
evaluated in chunks by `xncost.core.evaluate` (exact: int64 where it cannot overflow, Python ints
elsewhere) and streamed to `sweep_<layer>.csv` (and Parquet when pyarrow is present).
Break-even: for each dim_out, the caps_in at which the layer's total FLOPs (Table 5 "Total")
equal those of the FC head (Table 10) or of dynamic routing (Table 9), solved exactly.

Columns: the shape; `<step>_flops` per step and `<step>_bops` for XNOR steps; totals `flops`
(float FLOPs + BOPs / word, exact decimal text), `binarization_flops`, `xnor_bops`,
`xnor_flops` (BOPs / word, exact), `params`; with `--vs X`, `X_flops` and `ratio_to_X`
= 100 · flops / X_flops (percent, 6 decimals, rounded half to even like `xncost table5`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from xncost.conventions import Convention, get_convention
from xncost.core.evaluate import (
    FIELDS,
    INT64_MAX,
    Evaluation,
    compile_layer,
    evaluate,
    evaluate_fc,
    evaluation_columns,
    generic_branch,
    quotient_text,
)
from xncost.core.shapes import CAPS_PRESETS, MOBILENET_FC_DIMS
from xncost.errors import XncostError
from xncost.exact import all_digits_in, exact_str, is_power_of_two, parse_int
from xncost.io.files import remove_stale, staged_outputs

DEFAULTS: dict[str, int] = CAPS_PRESETS["mobilenet"].as_dict()
MAX_ROWS = 10_000_000
CHUNK_ROWS = 1 << 16
PLOT_MAX = 2**53
VS_LAYERS = ("fc", "dr")


# ----------------------------------------------------------------------------- ranges


def _int(text: str, what: str) -> int:
    t = text.strip()
    if not t:
        raise XncostError(f"{what}: empty value")
    value = parse_int(t, what)
    if value <= 0:
        raise XncostError(f"{what}: {value} is not a positive integer")
    return value


RangeItem = tuple[int, int, int]  # (a, b, step); step 0: the powers of two from a to b


def _range_items(text: str, name: str) -> list[RangeItem]:
    """The items of a range, checked, not expanded (see `parse_range`)."""
    if not isinstance(text, str) or not text.strip():
        raise XncostError(f"--{name}: empty range")
    items: list[RangeItem] = []
    for item in text.split(","):
        what = f"--{name} {item.strip()!r:.60}"
        parts = item.split(":")
        if len(parts) == 1:
            v = _int(parts[0], what)
            items.append((v, v, 1))
            continue
        if len(parts) > 3:
            raise XncostError(f"{what}: expected a:b or a:b:step")
        a, b = _int(parts[0], what), _int(parts[1], what)
        if a > b:
            raise XncostError(f"{what}: start {a} is greater than end {b}")
        if len(parts) == 3:
            items.append((a, b, _int(parts[2], what)))
            continue
        odd = [v for v in (a, b) if not is_power_of_two(v)]
        if odd:
            raise XncostError(
                f"{what}: a:b takes the powers of two from a to b, and {odd[0]} is not one; "
                f"use a:b:step for a linear range or list the values (a,b,c)"
            )
        items.append((a, b, 0))
    return items


def _item_count(item: RangeItem) -> int:
    a, b, step = item
    return b.bit_length() - a.bit_length() + 1 if step == 0 else (b - a) // step + 1


def _expand(items: list[RangeItem]) -> tuple[int, ...]:
    values: set[int] = set()
    for a, b, step in items:
        if step:
            values.update(range(a, b + 1, step))
        else:
            values.update(1 << k for k in range(a.bit_length() - 1, b.bit_length()))
    return tuple(sorted(values))


def parse_range(text: str, name: str = "range") -> tuple[int, ...]:
    """Parse a range of positive ints, sorted and without repeats.

    `a:b` the powers of two from a to b (both must be powers of two: `3:9` is an error, not
    4,8); `a:b:step` a, a+step, ... <= b; `8,16,32` a list; `160` one value.
    Comma-separated items may mix the forms (`8:64,100`). The number of values is counted
    before any is made: more than `MAX_ROWS` is refused.
    """
    items = _range_items(text, name)
    count = sum(_item_count(i) for i in items)
    if count > MAX_ROWS:
        raise XncostError(
            f"--{name}: {count:,} values (more than {MAX_ROWS:,} rows); narrow the range"
        )
    return _expand(items)


@dataclass(frozen=True)
class Grid:
    """The Cartesian product of one sorted tuple of values per shape field (caps_in slowest)."""

    axes: dict[str, tuple[int, ...]]

    def __post_init__(self) -> None:
        for f in FIELDS:
            values = self.axes.get(f)
            if not values or any(not isinstance(v, int) or v <= 0 for v in values):
                raise XncostError(f"grid axis {f} needs positive integers")
        if len(self) > MAX_ROWS:
            raise XncostError(
                f"the grid has {len(self):,} shapes (more than {MAX_ROWS:,}); narrow the ranges"
            )

    @classmethod
    def from_ranges(cls, **ranges: str | None) -> Grid:
        """Ranges as text per field (None: the MobileNetV2 default)."""
        unknown = set(ranges) - set(FIELDS)
        if unknown:
            raise XncostError(f"unknown shape fields: {', '.join(sorted(unknown))}")
        items = {
            f: [(DEFAULTS[f], DEFAULTS[f], 1)]
            if ranges.get(f) is None
            else _range_items(ranges[f], f.replace("_", "-"))  # type: ignore[arg-type]
            for f in FIELDS
        }
        most = math.prod(sum(_item_count(i) for i in items[f]) for f in FIELDS)
        if most > MAX_ROWS:
            raise XncostError(
                f"the grid has up to {most:,} shapes (more than {MAX_ROWS:,}); narrow the ranges"
            )
        return cls({f: _expand(items[f]) for f in FIELDS})

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(self.axes[f]) for f in FIELDS)

    def __len__(self) -> int:
        return math.prod(self.sizes)

    def rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Shape columns of rows [start, stop)."""
        index = np.unravel_index(np.arange(start, stop, dtype=np.int64), self.sizes)
        out = {}
        for f, idx in zip(FIELDS, index, strict=True):
            values = self.axes[f]
            big = max(values) > INT64_MAX
            axis = np.array(values, dtype=object if big else np.int64)
            out[f] = axis[idx]
        return out

    def chunks(self, size: int = CHUNK_ROWS) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(self), size):
            yield self.rows(start, min(start + size, len(self)))

    def fixed(self) -> dict[str, int]:
        """One value per axis for plots: the paper default if swept, else the first value."""
        return {f: DEFAULTS[f] if DEFAULTS[f] in self.axes[f] else self.axes[f][0] for f in FIELDS}

    def corner(self) -> dict[str, int]:
        return {f: max(self.axes[f]) for f in FIELDS}

    def check_plottable(self) -> None:
        """Plots draw float64 values: every shape value must be exact in float64 (<= 2**53,
        so no count can overflow it either)."""
        big = [f for f, v in self.corner().items() if v > PLOT_MAX]
        if big:
            raise XncostError(
                f"plots take shape values up to 2**53, and {big[0]} goes beyond; "
                "pass --no-plots (the CSV and Parquet files hold any size exactly)"
            )


# ----------------------------------------------------------------------------- comparison


def _vs_totals(
    vs: str | None,
    cols: dict[str, np.ndarray],
    conv: Convention,
    fc_dims: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray] | None:
    """(float FLOPs, BOPs) of the comparison layer per row, or None."""
    if vs is None:
        return None
    if vs == "fc":
        flops = evaluate_fc(fc_dims, cols["batch"], conv)
        return flops, np.zeros(len(flops), dtype=np.int64)
    ev = evaluate(vs, conv, **cols)
    return ev.float_flops, ev.xnor_bops


def _decimal_text(num: int, den: int, places: int) -> str:
    """num / den (>= 0) to `places` decimals, rounded half to even, on integers."""
    q, r = divmod(num * 10**places, den)
    if 2 * r > den or (2 * r == den and q % 2):
        q += 1
    whole, frac = divmod(q, 10**places)
    return f"{whole}.{frac:0{places}d}" if places else str(whole)


def decimal_text(value: Fraction, places: int) -> str:
    """A non-negative exact value to `places` decimals (rounded half to even), any size."""
    return _decimal_text(value.numerator, value.denominator, places)


def _percent_text(num: int, den: int) -> str:
    """100 * num / den to 6 decimals, rounded half to even (as `xncost.paper.tables.value_text`)."""
    return _decimal_text(100 * num, den, 6)


def ratio_texts(ev: Evaluation, vs: tuple[np.ndarray, np.ndarray]) -> list[str]:
    """Layer total / comparison total in percent, exact to 6 decimals, per row."""
    w = ev.word_bits
    out = []
    rows = zip(
        ev.float_flops.tolist(), ev.xnor_bops.tolist(), vs[0].tolist(), vs[1].tolist(), strict=True
    )
    for f, b, vf, vb in rows:
        out.append(_percent_text(f * w + b, vf * w + vb) if vf * w + vb else "")
    return out


def sweep_columns(
    layer: str,
    cols: dict[str, np.ndarray],
    conv: Convention,
    vs: str | None = None,
    fc_dims: tuple[int, ...] = MOBILENET_FC_DIMS,
) -> tuple[dict[str, Any], int]:
    """The sweep table's columns for a batch of shapes (see `evaluation_columns`), and how
    many rows needed Python ints (int64 could overflow)."""
    ev = evaluate(layer, conv, **cols)
    out = evaluation_columns(ev)
    other = _vs_totals(vs, cols, conv, fc_dims)
    if other is not None:
        out[f"{vs}_flops"] = quotient_text(other[0], other[1], conv.word_bits)
        out[f"ratio_to_{vs}"] = ratio_texts(ev, other)
    return out, int(ev.exact_rows.sum())


def _text_column(values: Any) -> list[str]:
    if isinstance(values, np.ndarray):
        return [str(v) for v in values.tolist()]
    return list(values)


# ----------------------------------------------------------------------------- files


@dataclass
class SweepResult:
    """What a sweep wrote, and the numbers the CLI prints."""

    layer: str
    rows: int
    exact_rows: int
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def column_names(layer: str, conv: Convention, vs: str | None) -> list[str]:
    c = compile_layer(layer, conv)
    names = list(FIELDS)
    for s in c.steps:
        names.append(f"{s.name}_flops")
        if s.has_bops:
            names.append(f"{s.name}_bops")
    names += ["flops", "binarization_flops", "xnor_bops", "xnor_flops", "params"]
    if vs is not None:
        names += [f"{vs}_flops", f"ratio_to_{vs}"]
    return names


def _grid_bound(
    grid: Grid, layer: str, conv: Convention, vs: str | None, fc_dims: tuple[int, ...]
) -> int:
    """An upper bound of every count in the sweep table (majorants at the grid's corner)."""
    corner = grid.corner()
    if max(corner.values()) > INT64_MAX:
        return 10**40
    values = [corner[f] for f in FIELDS]
    bound = compile_layer(layer, conv).bound_int(*values)
    if vs == "dr":
        bound = max(bound, compile_layer("dr", conv).bound_int(*values))
    elif vs == "fc":
        bound = max(bound, int(evaluate_fc(fc_dims, corner["batch"], conv)[0]))
    return bound


def _parquet_writer(
    sink: Any, names: list[str], bound: int, conv: Convention, vs: str | None
) -> tuple[Any, Any]:
    """A Parquet writer whose column types hold every row of `grid` exactly: int64 when the
    grid's majorant fits, else decimal128 (or text beyond 38 digits)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    digits = (conv.word_bits.bit_length() - 1) or 0
    text_cols = {"flops", "xnor_flops", f"{vs}_flops"}
    types = {}
    for n in names:
        if n.startswith("ratio_to_"):
            types[n] = pa.decimal128(38, 6) if bound < 10**30 else pa.string()
        elif n in text_cols:
            types[n] = pa.decimal128(38, digits) if bound < 10 ** (38 - digits) else pa.string()
        else:
            types[n] = (
                pa.int64()
                if bound <= INT64_MAX
                else (pa.decimal128(38, 0) if bound < 10**38 else pa.string())
            )
    schema = pa.schema([(n, types[n]) for n in names])
    return pq.ParquetWriter(sink, schema), schema


def _arrow_column(values: Any, typ: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_string(typ):
        return pa.array(_text_column(values), type=typ)
    if pa.types.is_decimal(typ):
        return pa.array([Decimal(t) if t != "" else None for t in _text_column(values)], type=typ)
    return pa.array(np.asarray(values, dtype=np.int64), type=typ)


@all_digits_in
def run_sweep(
    layer: str,
    grid: Grid,
    out_dir: Path,
    convention: str | Convention = "paper",
    vs: str | None = None,
    fc_dims: tuple[int, ...] = MOBILENET_FC_DIMS,
    parquet: bool = True,
    progress: Callable[[int], None] | None = None,
) -> SweepResult:
    """Evaluate every shape of `grid` and write `sweep_<layer>.csv` (and `.parquet`)."""
    conv = get_convention(convention)
    if vs is not None and vs not in VS_LAYERS:
        raise XncostError(f"--vs must be one of {', '.join(VS_LAYERS)}, got {vs!r}")
    names = column_names(layer, conv, vs)
    csv_path = Path(out_dir) / f"sweep_{layer}.csv"
    pq_path = Path(out_dir) / f"sweep_{layer}.parquet"
    result = SweepResult(layer, len(grid), 0)
    want_parquet = parquet
    if want_parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            want_parquet = False
            result.notes.append("Parquet skipped: pyarrow is not installed")
    writer = None
    with staged_outputs(out_dir) as staged, contextlib.ExitStack() as files:
        try:
            stage_csv = staged.path(csv_path.name)
            if want_parquet:
                bound = _grid_bound(grid, layer, conv, vs, fc_dims)
                # an open file, not its name: pyarrow cannot take a name that is not UTF-8
                sink = files.enter_context(open(staged.path(pq_path.name), "wb"))  # noqa: SIM115
                writer, schema = _parquet_writer(sink, names, bound, conv, vs)
            with open(stage_csv, "w", encoding="utf-8", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(names)
                for cols in grid.chunks():
                    table, exact = sweep_columns(layer, cols, conv, vs, fc_dims)
                    result.exact_rows += exact
                    texts = [_text_column(table[n]) for n in names]
                    w.writerows(zip(*texts, strict=True))
                    if writer is not None:
                        import pyarrow as pa

                        arrays = [_arrow_column(table[n], schema.field(n).type) for n in names]
                        writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                    if progress is not None:
                        progress(len(cols["caps_in"]))
        except OSError as e:
            where = f"{csv_path.parent}/sweep_{layer}.*"
            raise XncostError(f"cannot write {where}: {e.strerror or e}") from None
        finally:
            if writer is not None:
                writer.close()
    result.files.append(csv_path)
    if want_parquet:
        result.files.append(pq_path)
    return result


def output_names(layer: str) -> tuple[str, ...]:
    """Every file a sweep of `layer` may write into its directory."""
    return (
        f"sweep_{layer}.csv",
        f"sweep_{layer}.parquet",
        f"breakeven_{layer}.csv",
        f"cost_{layer}.png",
        f"breakeven_{layer}.png",
        f"speedup_{layer}.png",
    )


def remove_stale_outputs(out_dir: Path, layer: str, written: list[Path]) -> None:
    """Delete, with the sweep's publish, the files of an earlier sweep of `layer` in
    `out_dir` that this one did not write (a Parquet file or plots left beside a new CSV
    would describe another grid)."""
    names = {Path(p).name for p in written}
    for name in output_names(layer):
        if name not in names:
            remove_stale(Path(out_dir) / name)


# ----------------------------------------------------------------------------- break-even


@dataclass(frozen=True)
class BreakEven:
    """caps_in where `layer` and `vs` cost the same total FLOPs, per dim_out."""

    layer: str
    vs: str
    fixed: dict[str, int]
    formula: Any  # sympy: N* as a function of E (generic branch: N, E >= 2)
    points: tuple[tuple[int, Fraction | None], ...]  # (dim_out, exact caps_in or None)
    cheaper_below: bool  # the layer is cheaper than `vs` for caps_in below the break-even
    costlier_without_root: bool  # where no break-even exists, the layer costs more
    fc_dims: tuple[int, ...] = MOBILENET_FC_DIMS  # the FC head compared with (vs == "fc")
    first_costlier: tuple[int | None, ...] = ()  # per point: first caps_in where `layer` costs
    # more than `vs` (None: at no caps_in)

    def held_fixed(self) -> str:
        """The values the formula and points hold fixed: 'caps_out=10, dim_in=8, ...'."""
        keys = ("caps_out", "dim_in", "iterations", "batch")
        text = ", ".join(f"{k}={self.fixed[k]}" for k in keys)
        return f"{text}, fc dims {','.join(map(str, self.fc_dims))}" if self.vs == "fc" else text

    def first_integer(self, root: Fraction) -> int:
        return math.floor(root) + 1 if root == int(root) else math.ceil(root)


def _first_costlier(d1: Fraction, d2: Fraction, slope: Fraction) -> int | None:
    """The first caps_in >= 1 where a difference of totals is positive: exact at 1, affine
    d2 + slope (N - 2) from 2 on; None when it never is."""
    if d1 > 0:
        return 1
    if d2 > 0:
        return 2
    if slope <= 0:
        return None
    return math.floor(2 - Fraction(d2) / slope) + 1


def _totals_at(
    layer: str,
    conv: Convention,
    fixed: dict[str, int],
    caps_in: int,
    dim_outs: np.ndarray,
    fc_dims: tuple[int, ...],
) -> list[Fraction]:
    if layer == "fc":
        flops = evaluate_fc(fc_dims, fixed["batch"], conv)[0]
        return [Fraction(int(flops))] * len(dim_outs)
    others = {k: v for k, v in fixed.items() if k not in ("caps_in", "dim_out")}
    ev = evaluate(layer, conv, caps_in=caps_in, dim_out=dim_outs, **others)
    return [Fraction(ev.flops_fraction(i)) for i in range(len(ev))]


def break_even_formula(
    layer: str, vs: str, fixed: dict[str, int], conv: Convention, fc_dims: tuple[int, ...]
) -> Any:
    """N* as a sympy function of E (generic branch: N, E >= 2), or None if not solvable."""
    import sympy as sp

    from xncost.core.accounting import breakdown
    from xncost.core.shapes import CapsShape, FCShape

    sym = CapsShape.symbols()
    shape = CapsShape(
        sym.N, fixed["caps_out"], fixed["dim_in"], sym.E, fixed["iterations"], fixed["batch"]
    )
    mine = sp.sympify(breakdown(layer, shape, conv).totals["flops"])
    if vs == "fc":
        other = breakdown("fc", FCShape(tuple(fc_dims), fixed["batch"]), conv).totals["flops"]
    else:
        other = breakdown(vs, shape, conv).totals["flops"]
    roots = sp.solve(sp.Eq(generic_branch(mine - sp.sympify(other)), 0), sym.N)
    return sp.factor(roots[0]) if len(roots) == 1 else None


def break_even(
    layer: str,
    vs: str,
    fixed: dict[str, int],
    dim_outs: tuple[int, ...],
    convention: str | Convention = "paper",
    fc_dims: tuple[int, ...] = MOBILENET_FC_DIMS,
) -> BreakEven:
    """Solve total_flops(layer) = total_flops(vs) for caps_in, exactly, at each dim_out.

    Both totals are affine in caps_in (for caps_in >= 2), so the exact totals at N = 2, 3, 4
    (evaluated for all dim_outs at once) give slope and intercept; the affinity is checked.
    N = 1 is evaluated on its own for `first_costlier`.
    """
    if vs not in VS_LAYERS:
        raise XncostError(f"--vs must be one of {', '.join(VS_LAYERS)}, got {vs!r}")
    conv = get_convention(convention)
    es = tuple(dim_outs)
    diffs = [
        [
            a - b
            for a, b in zip(
                _totals_at(layer, conv, fixed, n, es, fc_dims),
                _totals_at(vs, conv, fixed, n, es, fc_dims),
                strict=True,
            )
        ]
        for n in (2, 3, 4, 1)
    ]
    points = []
    slopes = []
    firsts = []
    for k, e in enumerate(dim_outs):
        d2, d3, d4, d1 = (d[k] for d in diffs)
        slope = d3 - d2
        if d4 - d3 != slope:
            raise XncostError(f"{layer} - {vs} is not affine in caps_in at dim_out={e}")
        slopes.append(slope)
        root = (2 * slope - d2) / slope if slope else None
        points.append((e, root if root is not None and root > 0 else None))
        firsts.append(_first_costlier(d1, d2, slope))
    cheaper_below = all(s > 0 for s in slopes)
    costlier = all(d > 0 for d, (_, r) in zip(diffs[0], points, strict=True) if r is None)
    formula = break_even_formula(layer, vs, fixed, conv, fc_dims)
    return BreakEven(
        layer,
        vs,
        dict(fixed),
        formula,
        tuple(points),
        cheaper_below,
        costlier,
        tuple(fc_dims),
        tuple(firsts),
    )


@all_digits_in
def break_even_csv(curves: list[BreakEven], grid: tuple[int, ...] = ()) -> str:
    """Per curve and dim_out: whether the dim_out is one of the sweep's (`grid`; the others
    sample the curve between them), the exact break-even caps_in and its decimal (empty where
    the totals never cross at a positive caps_in), and the first caps_in where the layer costs
    more (`none`: at no caps_in)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["layer", "vs", "dim_out", "in_grid", "caps_in_exact", "caps_in", "first_caps_in_costlier"]
    )
    on_grid = set(grid)
    for c in curves:
        for (e, root), first in zip(c.points, c.first_costlier, strict=True):
            cells = ["", ""] if root is None else [exact_str(root), decimal_text(root, 6)]
            shown = "none" if first is None else first
            w.writerow([c.layer, c.vs, e, "yes" if e in on_grid else "no", *cells, shown])
    return buf.getvalue()


def dim_out_samples(values: tuple[int, ...], most: int = 256) -> tuple[int, ...]:
    """Every integer dim_out between the grid's extremes, or `most` geometric samples."""
    lo, hi = min(values), max(values)
    if hi - lo + 1 <= most:
        return tuple(range(lo, hi + 1))
    if hi < 2**53:  # exact in float64
        geo = np.unique(np.round(np.geomspace(lo, hi, most)).astype(np.int64)).tolist()
    else:  # 2**x for x evenly spaced in [log2 lo, log2 hi], on ints: 53 significant bits
        a, b = math.log2(lo), math.log2(hi)
        geo = []
        for k in range(most):
            whole, frac = divmod(a + (b - a) * k / (most - 1), 1.0)
            geo.append(round(2.0 ** (frac + 52)) << int(whole) >> 52)
    return tuple(sorted({min(max(v, lo), hi) for v in geo} | set(values)))
