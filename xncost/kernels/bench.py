"""Measured speed of the packed XNOR kernels against float, next to Eqs. 9, 12 and 15.

The rows are the capsule layers of the layer registry (`xncost.core.layers`) whose xnorized
products (`LayerSpec.xnorizes`) all have a packed kernel (`cases.KERNELS`: XnODR's LP_out
projector, XnIDR's agreement), each timing every product of its layer once per call (XnBDR:
both), plus a plain binary GEMM. `bench_layers()` lists them; `excluded_layers()` says why
the other layers have no row.

Each row times, interleaved within one run (so machine load affects all alike):
  - float: the same dot products in float32 with numpy BLAS matmul (weights in a matmul
    layout prepared once, as a float layer would keep them); optionally torch as well;
  - binary: the packed kernel on already packed operands (`xncost.kernels.packed`), with the
    backend given ("auto": the compiled kernels when built, else numpy; the row's `backend`
    says which ran);
  - binary with packing: binarization (sign, 0 -> -1) and packing of every operand from
    float32, then the kernel. XnODR packs the weights too (Table 2 binarizes W_Cap on
    every forward pass);
  - inference: what a deployed layer runs. Weights are packed once, outside the timed
    region (XnODR's W, the GEMM's right operand B); activations are binarized and packed
    from float32 on every call, inside it (XnODR's input u, the GEMM's A, and both of
    XnIDR's operands u_hat and v, which are activations: for XnIDR inference equals "with
    packing"). `inference_speedup` = float / inference, paired per sample.
The binary results are int32, as wide as the float32 results (exact; the kernels' default
int64 doubles the bytes written where outputs dominate). The kernels compute the integer
dot products only; the alpha scaling (Eq. 18) is timed on neither side. The speed-up is the
median over repeats of the paired ratio float / binary.

Theory per row: the layer's registered speed-up equation as printed (Eq. 12 for xnodr,
x = N·M·E²·D; Eq. 15 for xnidr, y = N·M·E²; their sum for xnbdr), Eq. 9 for gemm with
c·N_W = K and N_I = M·N (one dot product of length K per output); `corrected_speedup` is
Eq. 9's reading 64k / (k + 64) over the row's dot products (`xncost.core.formulas`) and
`word_bound` is k / ceil(k/64): the ceiling set by 64-bit words when a dot product has k
bits. The products' lengths and counts are those of `xncost.core.accounting.PROJECTORS`.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from xncost.errors import XncostError
from xncost.kernels import packed
from xncost.kernels.cases import (
    DEFAULT_CAPS_SHAPES,
    DEFAULT_GEMM_SHAPES,
    GEMM,
    Case,
    Shape,
    bench_layers,
    check_case,
    check_size,
    check_timing,
    dot_length,
    make_case,
    theory,
    torch_threads,
)


def _time(fn: Callable[[], Any], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, q2, q3


def _interleaved(
    fns: dict[str, Callable[[], Any]], repeat: int, min_time: float
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Per-call seconds: `repeat` rounds, each timing every callable once, in turn, over
    enough calls (chosen after one warm-up call) to last >= `min_time` s."""
    number = {}
    for name, fn in fns.items():
        one = _time(fn, 1)
        number[name] = max(1, math.ceil(min_time / one)) if one > 0 else 1
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            samples[name].append(_time(fn, number[name]))
    return samples, number


def _paired(num: list[float], den: list[float]) -> list[float]:
    return [x / y for x, y in zip(num, den, strict=True)]


def measure(case: Case, repeat: int = 7, min_time: float = 0.02) -> dict[str, Any]:
    """Time one case and return its row (keys in the module docstring and `ROW_KEYS`).

    The torch baseline, if any, is timed in a second interleaved loop against the binary
    kernel and inference only: right after a numpy BLAS call, OpenBLAS threads still spin and
    would slow a torch call that follows (and vice versa) on a small machine; and in a third
    with torch on one thread (`torch1_*`), since torch's intra-op threads wait on a busy
    core of a loaded machine.
    """
    if not math.isfinite(min_time) or min_time < 0:
        raise XncostError(f"min_time must be a finite number >= 0, got {min_time}")
    check_timing(repeat, min_time)
    fns = {"float": case.float_fn, "binary": case.binary_fn, "packing": case.packing_fn}
    if case.inference_fn is not case.packing_fn:
        fns["inference"] = case.inference_fn
    samples, number = _interleaved(fns, repeat, min_time)
    samples.setdefault("inference", samples["packing"])
    ratios = _paired(samples["float"], samples["binary"])
    inference = _paired(samples["float"], samples["inference"])
    stats = {name: _quartiles(xs) for name, xs in samples.items()}
    th = theory(case.layer, case.shape)
    row: dict[str, Any] = {
        "layer": case.layer,
        "shape": case.shape.spec(),
        "backend": case.backend,
        "isa": packed.ISA if case.backend == "c" else None,
        "float_s": stats["float"][1],
        "binary_s": stats["binary"][1],
        "binary_with_packing_s": stats["packing"][1],
        "inference_s": stats["inference"][1],
        "measured_speedup": statistics.median(ratios),
        "inference_speedup": statistics.median(inference),
        "theoretical_speedup": float(th["printed"]),
        "word_bound": float(th["word_bound"]),
        "dot_length": dot_length(case.layer, case.shape),
        "theoretical_equation": th["equation"],
        "corrected_speedup": float(th["corrected"]),
        "measured_speedup_with_packing": statistics.median(
            _paired(samples["float"], samples["packing"])
        ),
        "speedup_min": min(ratios),
        "speedup_max": max(ratios),
        "inference_speedup_min": min(inference),
        "inference_speedup_max": max(inference),
        "float_iqr_s": stats["float"][2] - stats["float"][0],
        "binary_iqr_s": stats["binary"][2] - stats["binary"][0],
        "binary_with_packing_iqr_s": stats["packing"][2] - stats["packing"][0],
        "inference_iqr_s": stats["inference"][2] - stats["inference"][0],
        "repeat": repeat,
        "calls_per_sample": ";".join(f"{k}:{v}" for k, v in number.items()),
    }
    if case.torch_fn is not None:
        tsamples, _ = _interleaved(
            {"torch": case.torch_fn, "binary": case.binary_fn, "inference": case.inference_fn},
            repeat,
            min_time,
        )
        torch_inference = _paired(tsamples["torch"], tsamples["inference"])
        row["torch_float_s"] = statistics.median(tsamples["torch"])
        row["torch_speedup"] = statistics.median(_paired(tsamples["torch"], tsamples["binary"]))
        row["torch_inference_speedup"] = statistics.median(torch_inference)
        row["torch_inference_speedup_min"] = min(torch_inference)
        row["torch_inference_speedup_max"] = max(torch_inference)
        with torch_threads(1):  # torch without its intra-op threads, the same loop again
            tsamples, _ = _interleaved(
                {"torch": case.torch_fn, "inference": case.inference_fn}, repeat, min_time
            )
        torch_inference = _paired(tsamples["torch"], tsamples["inference"])
        row["torch1_float_s"] = statistics.median(tsamples["torch"])
        row["torch1_inference_speedup"] = statistics.median(torch_inference)
        row["torch1_inference_speedup_min"] = min(torch_inference)
        row["torch1_inference_speedup_max"] = max(torch_inference)
    return row


def run_bench(
    items: list[tuple[str, Shape]],
    repeat: int = 7,
    min_time: float = 0.02,
    use_torch: bool = False,
    check: bool = True,
    threads: int | None = None,
    backend: str = "auto",
) -> list[dict[str, Any]]:
    """Benchmark rows for (layer, shape) items, in order; `check` verifies exactness first.
    Each row's memory and the whole run's planned time are bounded first (`check_size`,
    `check_timing`)."""
    check_timing(repeat, min_time, len(items), use_torch)
    for layer, shape in items:
        check_size(layer, shape, use_torch)
    rows = []
    for layer, shape in items:
        case = make_case(layer, shape, use_torch=use_torch, threads=threads, backend=backend)
        if check:
            check_case(case)
        rows.append(measure(case, repeat=repeat, min_time=min_time))
    return rows


def default_items(layers: tuple[str, ...] | None = None) -> list[tuple[str, Shape]]:
    """The default rows: the paper's shapes and batch 64 for each capsule layer, GEMMs, for
    the given layers (default: `bench_layers()`)."""
    return [
        (layer, s)
        for layer in (bench_layers() if layers is None else layers)
        for s in (DEFAULT_GEMM_SHAPES if layer == GEMM else DEFAULT_CAPS_SHAPES)
    ]
