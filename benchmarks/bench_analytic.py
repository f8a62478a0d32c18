"""Speed of the analytic core (run by hand: `PYTHONPATH=. python benchmarks/bench_analytic.py`).

Measures, per capsule layer under the `paper` convention:
1. one shape through `breakdown()` + `.totals` (exact Python ints), in microseconds;
2. the vectorised evaluator (`xncost.core.evaluate`) over 10^6 random shapes, in shapes per second
   (compilation timed separately, it is cached per layer and convention);
3. plain sympy substitution of the symbolic breakdown per shape, for comparison;
4. the alternative vectorisation: the accounting's step functions called with numpy arrays,
   grouped by (N, D, E) because `ceil_div` / `if_one` need scalar lengths.
Goals: >= 10^6 shapes/s vectorised and >= 1000x faster per shape than sympy substitution.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from xncost.conventions import get_convention
from xncost.core.accounting import LAYERS, breakdown
from xncost.core.evaluate import FIELDS, compile_layer, evaluate
from xncost.core.layers import caps_layers
from xncost.core.shapes import CapsShape

LAYER_NAMES = tuple(caps_layers())  # every capsule layer of the registry


def random_columns(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "caps_in": rng.integers(1, 4097, n),
        "caps_out": rng.integers(1, 65, n),
        "dim_in": rng.integers(1, 129, n),
        "dim_out": rng.integers(1, 129, n),
        "iterations": rng.integers(1, 6, n),
        "batch": rng.integers(1, 65, n),
    }


def best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_single(layer: str, loops: int) -> float:
    shape = CapsShape(160, 10, 8, 16, 3, 1)
    dt = best(lambda: [breakdown(layer, shape).totals for _ in range(loops)], 3)
    return dt / loops


def bench_vectorised(layer: str, cols: dict[str, np.ndarray]) -> tuple[float, float]:
    t = time.perf_counter()
    compile_layer(layer)
    compile_s = time.perf_counter() - t
    n = len(cols["caps_in"])
    dt = best(lambda: evaluate(layer, **cols), 3)
    return n / dt, compile_s


def bench_sympy(layer: str, shapes: int) -> float:
    import sympy as sp

    sym = CapsShape.symbols()
    b = breakdown(layer, sym)
    exprs = [sp.sympify(getattr(s, k)) for s in b.steps for k in ("flops", "bops", "params")]
    exprs += [sp.sympify(v) for v in b.totals.values()]
    cols = random_columns(shapes, seed=1)
    symbols = [getattr(sym, f) for f in FIELDS]

    def run() -> None:
        for i in range(shapes):
            values = {s: int(cols[f][i]) for s, f in zip(symbols, FIELDS, strict=True)}
            for e in exprs:
                e.subs(values)

    return best(run, 2) / shapes


class _ArrayShape:
    """A duck-typed CapsShape holding numpy arrays (M, r, B) and scalars (N, D, E)."""

    def __init__(self, n: int, m: Any, d: int, e: int, r: Any, b: Any) -> None:
        self.N, self.M, self.D, self.E, self.r, self.B = n, m, d, e, r, b


def steps_on_arrays(layer: str, cols: dict[str, np.ndarray]) -> np.ndarray:
    """Total float FLOPs by calling the step functions on arrays, grouped by (N, D, E)."""
    conv = get_convention("paper")
    key = np.stack([cols["caps_in"], cols["dim_in"], cols["dim_out"]], axis=1)
    groups, inverse = np.unique(key, axis=0, return_inverse=True)
    out = np.zeros(len(key), dtype=np.int64)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(groups) + 1))
    for g, (n, d, e) in enumerate(groups.tolist()):
        rows = order[bounds[g] : bounds[g + 1]]
        shape = _ArrayShape(n, cols["caps_out"][rows], d, e, cols["iterations"][rows],
                            cols["batch"][rows])  # fmt: skip
        out[rows] = sum(s.flops for s in LAYERS[layer](shape, conv))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", type=int, default=1_000_000)
    p.add_argument("--sympy-shapes", type=int, default=20)
    args = p.parse_args()
    cols = random_columns(args.shapes)
    print(f"{args.shapes:,} random shapes: N<=4096, M<=64, D,E<=128, r<=5, B<=64\n")
    print(f"{'layer':6} {'breakdown/shape':>16} {'vectorised':>16} {'compile':>8} "
          f"{'sympy/shape':>12} {'speed-up vs sympy':>18}")  # fmt: skip
    rates = []
    for layer in LAYER_NAMES:
        single = bench_single(layer, 2000)
        rate, compile_s = bench_vectorised(layer, cols)
        sym = bench_sympy(layer, args.sympy_shapes)
        print(
            f"{layer:6} {single * 1e6:13.1f} us {rate:12,.0f} /s {compile_s:7.2f}s "
            f"{sym * 1e3:9.2f} ms {sym * rate:17,.0f}x"
        )
        rates.append((rate, sym * rate))
    worst_rate = min(r for r, _ in rates)
    worst_ratio = min(x for _, x in rates)
    print(
        f"\ngoals: >= 1,000,000 shapes/s: {'met' if worst_rate >= 1e6 else 'NOT met'} "
        f"(slowest layer {worst_rate:,.0f}/s); >= 1000x sympy per shape: "
        f"{'met' if worst_ratio >= 1000 else 'NOT met'} (smallest {worst_ratio:,.0f}x)"
    )
    print("\nalternative: step functions on numpy arrays, grouped by (N, D, E)")
    grid = {  # a sweep-like grid: few (N, D, E) groups, many rows each
        "caps_in": np.repeat(2 ** np.arange(3, 13), 100_000),
        "caps_out": np.tile(np.arange(1, 101), 10_000),
        "dim_in": np.full(1_000_000, 8),
        "dim_out": np.tile(np.repeat([4, 8, 16, 32, 64], 20_000), 10),
        "iterations": np.tile(np.repeat(np.arange(1, 5), 25), 10_000),
        "batch": np.tile(np.repeat(np.arange(1, 11), 100), 1_000),
    }
    for name, data in (("sweep grid, 50 groups", grid), ("random, ~all rows unique", cols)):
        n = len(data["caps_in"])
        sub = data if "grid" in name else {k: v[: min(n, 20_000)] for k, v in data.items()}
        m = len(sub["caps_in"])
        for layer in ("xnidr",):
            ref = evaluate(layer, **sub).float_flops
            t = best(lambda sub=sub, layer=layer: steps_on_arrays(layer, sub), 1)
            assert (steps_on_arrays(layer, sub) == ref).all()
            t_l = best(lambda sub=sub, layer=layer: evaluate(layer, **sub), 3)
            print(f"  {name:26} {layer}: step functions {m / t:12,.0f} shapes/s, "
                  f"lambdify {m / t_l:12,.0f} shapes/s ({m:,} rows)")  # fmt: skip


if __name__ == "__main__":
    main()
