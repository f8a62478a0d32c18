"""Measured speed of the packed XNOR kernels against float, next to Eqs. 9, 12 and 15.

The rows are the capsule layers of the layer registry (`xncost.core.layers`) whose xnorized
products (`LayerSpec.xnorizes`) all have a packed kernel here (`KERNELS`: XnODR's LP_out
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

import contextlib
import csv
import io
import json
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from xncost.core.layers import caps_layers, get_layer
from xncost.errors import XncostError
from xncost.kernels import packed

GEMM = "gemm"
ROW_KEYS = (
    "layer",
    "shape",
    "float_s",
    "binary_s",
    "binary_with_packing_s",
    "measured_speedup",
    "theoretical_speedup",
    "word_bound",
    "inference_s",
    "inference_speedup",
)
CAPS_KEYS = ("caps_in", "caps_out", "dim_in", "dim_out", "batch")
CAPS_DEFAULTS = {"caps_in": 160, "caps_out": 10, "dim_in": 8, "dim_out": 16, "batch": 1}
OUT_DTYPE = np.int32  # binary results as wide as the float32 baseline's (exact for k < 2**31)
MAX_CASE_BYTES = 1 << 30  # what one row may hold at its peak (`peak_bytes`)
MAX_DOT_LENGTH = 1 << 24  # longest dot product the float32 reference computes exactly
MAX_REPEAT = 1000
MAX_MIN_TIME = 60.0  # seconds
MAX_PLANNED_S = 3600.0  # least time repeat x min-time x rows x timed callables may promise
CHECK_BLOCK_BYTES = 1 << 23  # one block of the exactness check's float reference
SHAPE_HELP = (
    "gemm: MxKxN (e.g. 1024x4096x1024); capsule layers: comma-separated key=value among "
    "caps_in, caps_out, dim_in, dim_out, batch (missing keys take the paper's values "
    "160, 10, 8, 16, 1), e.g. caps_in=256,batch=64"
)


@dataclass(frozen=True)
class GemmShape:
    """A (M x K) times (K x N) product."""

    m: int
    k: int
    n: int

    def spec(self) -> str:
        return f"{self.m}x{self.k}x{self.n}"


BENCH_ITERATIONS = 2  # a row times each product once: LP_out and one agreement (r - 1 = 1)


@dataclass(frozen=True)
class CapsBenchShape:
    """A capsule layer: N = caps_in, M = caps_out, D = dim_in, E = dim_out, B = batch."""

    caps_in: int = 160
    caps_out: int = 10
    dim_in: int = 8
    dim_out: int = 16
    batch: int = 1

    def spec(self) -> str:
        return ",".join(f"{k}={getattr(self, k)}" for k in CAPS_KEYS)

    def caps_shape(self) -> Any:
        """The `xncost.core.shapes.CapsShape` of one timed call (r = `BENCH_ITERATIONS`)."""
        from xncost.core.shapes import CapsShape

        n, m, d, e, b = (getattr(self, k) for k in CAPS_KEYS)
        return CapsShape(n, m, d, e, BENCH_ITERATIONS, b)


Shape = GemmShape | CapsBenchShape

PAPER_SHAPES = (CapsBenchShape(caps_in=160), CapsBenchShape(caps_in=256))
DEFAULT_CAPS_SHAPES: tuple[Shape, ...] = (*PAPER_SHAPES, CapsBenchShape(caps_in=256, batch=64))
DEFAULT_GEMM_SHAPES: tuple[Shape, ...] = (GemmShape(1024, 4096, 1024), GemmShape(256, 1000, 256))


def _no_kernel_reason(layer: str) -> str | None:
    """Why the registered `layer` has no benchmark row, or None when it has one."""
    spec = get_layer(layer)
    if not spec.is_caps:
        return "not a capsule layer"
    if not spec.xnorizes:
        return "it xnorizes no product"
    missing = [p for p in spec.xnorizes if p not in KERNELS]
    return f"no packed kernel for {', '.join(missing)}" if missing else None


def bench_layers() -> tuple[str, ...]:
    """The layers with a benchmark row: every capsule layer of the layer registry whose
    xnorized products all have a kernel (`KERNELS`), then gemm."""
    return (*(n for n in caps_layers() if _no_kernel_reason(n) is None), GEMM)


def excluded_layers() -> dict[str, str]:
    """Registered capsule layers without a benchmark row, each with the reason."""
    reasons = {n: _no_kernel_reason(n) for n in caps_layers()}
    return {n: r for n, r in reasons.items() if r is not None}


def check_layer(layer: str) -> None:
    """XncostError unless `layer` has a benchmark row, naming the reason if it is registered."""
    if layer in bench_layers():
        return
    excluded = excluded_layers()
    why = f" ({layer}: {excluded[layer]})" if layer in excluded else ""
    raise XncostError(f"unknown layer {layer!r}; expected one of {', '.join(bench_layers())}{why}")


def _positive(text: str, what: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise XncostError(f"{what} must be a positive integer, got {text.strip()!r}") from None
    if value <= 0:
        raise XncostError(f"{what} must be a positive integer, got {value}")
    return value


def parse_shape(layer: str, text: str) -> Shape:
    """Parse a --shape value for `layer` (syntax in SHAPE_HELP); XncostError if invalid."""
    check_layer(layer)
    text = text.strip()
    if layer == GEMM:
        parts = text.lower().split("x")
        if len(parts) != 3:
            raise XncostError(f"gemm shape must be MxKxN, got {text!r}")
        m, k, n = (_positive(p, f"gemm {name}") for p, name in zip(parts, "MKN", strict=True))
        shape: Shape = GemmShape(m, k, n)
    else:
        values: dict[str, int] = {}
        for item in filter(None, (s.strip() for s in text.split(","))):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in CAPS_KEYS:
                raise XncostError(
                    f"bad {layer} shape item {item!r}; expected key=value with key in "
                    f"{', '.join(CAPS_KEYS)}"
                )
            if key in values:
                raise XncostError(f"{key} given twice in {layer} shape {text!r}")
            values[key] = _positive(value, key)
        if not values:
            raise XncostError(f"empty {layer} shape; {SHAPE_HELP}")
        shape = CapsBenchShape(**{**CAPS_DEFAULTS, **values})
    check_size(layer, shape)
    return shape


def infer_layers(text: str) -> tuple[str, ...]:
    """Layers a --shape value applies to when --layer is not given."""
    return (GEMM,) if "=" not in text else tuple(n for n in bench_layers() if n != GEMM)


def _sizes(layer: str, s: Shape) -> list[tuple[int, ...]]:
    """Per product of a row: the elements of its two operands and of its results (x2: float
    and binary)."""
    if isinstance(s, GemmShape):
        return [(s.m * s.k, s.k * s.n, s.m * s.n * 2)]
    return [KERNELS[p].sizes(s) for p in get_layer(layer).xnorizes]


def peak_bytes(layer: str, s: Shape, use_torch: bool = False) -> int:
    """Bytes a row holds at its peak, about, summed over its products: the float32 operands
    and one more copy of the larger (a matmul layout, or torch's copy; two with `use_torch`),
    their packed bits (kept, and packed again when timed with packing), the float and binary
    results twice over (timing, or a result and its predecessor in the exactness check), and
    the check's float reference, computed in blocks of about CHECK_BLOCK_BYTES."""
    total = 8 * CHECK_BLOCK_BYTES
    for left, right, results in _sizes(layer, s):
        copies = max(left, right) * (2 if use_torch else 1)
        total += 4 * (left + right + copies) + 2 * ((left + right) // 8) + 2 * 4 * results
    return total


def check_size(layer: str, s: Shape, use_torch: bool = False) -> None:
    """Refuse a row over MAX_CASE_BYTES (`peak_bytes`) or with dot products too long to check."""
    need = peak_bytes(layer, s, use_torch)
    if need > MAX_CASE_BYTES:
        raise XncostError(
            f"{layer} shape {s.spec()} needs about {need:,} bytes (operands, results, packed "
            f"bits); the benchmark allows {MAX_CASE_BYTES:,}"
        )
    longest = max(k for k, _ in _terms(layer, s))
    if longest > MAX_DOT_LENGTH:
        raise XncostError(
            f"{layer} shape {s.spec()}: dot products of {longest:,} elements; the benchmark "
            f"allows {MAX_DOT_LENGTH:,} (its float32 check is exact up to there)"
        )


TIMED = ("float", "binary", "packing", "inference")
TIMED_TORCH = ("torch", "binary", "inference", "torch (1 thread)", "inference")


def check_timing(repeat: int, min_time: float, rows: int = 1, use_torch: bool = False) -> None:
    """Refuse a `repeat` or `min_time` out of range, or a plan that would last more than
    MAX_PLANNED_S (every sample of every timed callable lasts at least `min_time`)."""
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
        raise XncostError(f"--repeat must be between 1 and {MAX_REPEAT}, got {repeat}")
    if not (math.isfinite(min_time) and 0 <= min_time <= MAX_MIN_TIME):
        raise XncostError(f"--min-time must be between 0 and {MAX_MIN_TIME:g} s, got {min_time}")
    per_row = len(TIMED) + (len(TIMED_TORCH) if use_torch else 0)
    planned = rows * per_row * repeat * min_time
    if planned > MAX_PLANNED_S:
        raise XncostError(
            f"--repeat {repeat} and --min-time {min_time:g} over {rows} rows would take at "
            f"least {planned:,.0f} s; the benchmark allows {MAX_PLANNED_S:,.0f} s"
        )


def _terms(layer: str, s: Shape) -> list[tuple[int, int]]:
    """(k, n) per product of one call: n dot products of length k (`accounting.PROJECTORS`)."""
    if isinstance(s, GemmShape):
        return [(s.k, s.m * s.n)]
    from xncost.core.accounting import PROJECTORS

    cs = s.caps_shape()
    by_step = {p.xnor_step: p for p in PROJECTORS}
    return [(by_step[p].length(cs), by_step[p].dots(cs)) for p in get_layer(layer).xnorizes]


def dot_length(layer: str, s: Shape) -> int | str:
    """Length k of one dot product: D (xnodr), E (xnidr), K (gemm); "D+E" for xnbdr."""
    ks = [k for k, _ in _terms(layer, s)]
    return ks[0] if len(ks) == 1 else "+".join(map(str, ks))


def theory(layer: str, s: Shape) -> dict[str, Any]:
    """Theoretical speed-ups (exact): the layer's registered equation as printed (Eq. 9 for
    gemm), Eq. 9's corrected reading and the word bound over the call's dot products."""
    from xncost.core import formulas

    terms = _terms(layer, s)
    if isinstance(s, GemmShape):
        printed, eq = formulas.eq9_speedup(s.k, 1, s.m * s.n), "Eq. 9"
    else:
        spec = get_layer(layer)
        formula = spec.speedup_formula()
        if formula is None:
            printed, eq = formulas.eq9_speedup_sum(terms), "Eq. 9"
        else:
            printed = formulas.call_with_symbols(formula, s.caps_shape())
            eq = spec.speedup_label or spec.speedup
    return {
        "equation": eq,
        "printed": printed,
        "corrected": formulas.eq9_speedup_sum(terms),
        "word_bound": formulas.word_bound_sum(terms),
    }


@dataclass
class Case:
    """One benchmark row's callables: float baseline(s), binary kernel, kernel with packing,
    inference (weights packed once, activations packed per call)."""

    layer: str
    shape: Shape
    float_fn: Callable[[], Any]
    binary_fn: Callable[[], np.ndarray]
    packing_fn: Callable[[], np.ndarray]
    inference_fn: Callable[[], np.ndarray]
    reference: Callable[[], Blocks | list[Blocks]]
    torch_fn: Callable[[], Any] | None = None
    backend: str = "numpy"


Blocks = Iterator[tuple[tuple[slice, ...], np.ndarray]]  # (index into the result, block)


def _signs(x: np.ndarray) -> np.ndarray:
    """Float +-1 values with the layers' sign convention (`sign_ste`, 0 -> -1)."""
    return np.where(x > packed.sign_threshold(x.dtype), np.float32(1), np.float32(-1))


def _blocks(
    length: int, per_item: int, block: Callable[[int, int], np.ndarray], axis: int = 0
) -> Blocks:
    """The float reference in blocks along `axis` (items of `per_item` float32 operand and
    result elements each, about CHECK_BLOCK_BYTES a block)."""
    step = max(1, CHECK_BLOCK_BYTES // (4 * max(1, per_item)))
    for i in range(0, length, step):
        j = min(length, i + step)
        yield (slice(None),) * axis + (slice(i, j),), block(i, j)


def _gemm_blocks(a: np.ndarray, b: np.ndarray) -> Blocks:
    """The float reference of a @ b in tiles whose operands and result hold about
    CHECK_BLOCK_BYTES each."""
    k, items = a.shape[1], CHECK_BLOCK_BYTES // 4
    step = max(1, min(b.shape[1], items // k, math.isqrt(items)))
    for j in range(0, b.shape[1], step):
        sb = _signs(b[:, j : j + step])
        for index, block in _blocks(
            a.shape[0], k + step, lambda r0, r1, sb=sb: _signs(a[r0:r1]) @ sb
        ):
            yield (index[0], slice(j, j + step)), block


@dataclass
class Part:
    """One product's callables (as in `Case`) and the float operands of its torch matmul."""

    float_fn: Callable[[], Any]
    binary_fn: Callable[[], np.ndarray]
    packing_fn: Callable[[], np.ndarray]
    inference_fn: Callable[[], np.ndarray]
    reference: Callable[[], Blocks]
    torch_args: tuple[np.ndarray, np.ndarray]


Pack = Callable[..., packed.Packed]


def _gemm_part(s: GemmShape, rng: np.random.Generator, pack: Pack, opts: dict) -> Part:
    a = rng.standard_normal((s.m, s.k), dtype=np.float32)
    b = rng.standard_normal((s.k, s.n), dtype=np.float32)
    pa, pb = pack(a, axis=1), pack(b, axis=0)

    def gemm(a_words: np.ndarray, b_words: np.ndarray) -> np.ndarray:
        return packed.binary_gemm(a_words, b_words, s.k, dtype=OUT_DTYPE, **opts)

    return Part(
        float_fn=lambda: a @ b,
        binary_fn=lambda: gemm(pa.words, pb.words),
        packing_fn=lambda: gemm(pack(a, axis=1).words, pack(b, axis=0).words),
        inference_fn=lambda: gemm(pack(a, axis=1).words, pb.words),
        reference=lambda: _gemm_blocks(a, b),
        torch_args=(a, b),
    )


def _affine_part(s: CapsBenchShape, rng: np.random.Generator, pack: Pack, opts: dict) -> Part:
    """XnODR's LP_out projector (Table 2 step 5): u [B, N, D] with W [N, M, D, E]."""
    n, m, d, e, bsz = s.caps_in, s.caps_out, s.dim_in, s.dim_out, s.batch
    u = rng.standard_normal((bsz, n, d), dtype=np.float32)
    w = rng.standard_normal((n, m, d, e), dtype=np.float32)
    w_mm = np.ascontiguousarray(w.transpose(0, 2, 1, 3).reshape(n, d, m * e))
    pu, pw = pack(u), pack(w, axis=2)
    return Part(
        float_fn=lambda: np.matmul(u.transpose(1, 0, 2), w_mm),
        binary_fn=lambda: packed.xnodr_projector(pu, pw, OUT_DTYPE, **opts),
        packing_fn=lambda: packed.xnodr_projector(pack(u), pack(w, axis=2), OUT_DTYPE, **opts),
        inference_fn=lambda: packed.xnodr_projector(pack(u), pw, OUT_DTYPE, **opts),
        reference=lambda: _blocks(
            n,
            bsz * d + m * d * e + bsz * m * e,
            lambda i, j: np.einsum("bnd,nmde->bnme", _signs(u[:, i:j]), _signs(w[i:j])),
            axis=1,
        ),
        torch_args=(u.transpose(1, 0, 2).copy(), w_mm),
    )


def _agreement_part(s: CapsBenchShape, rng: np.random.Generator, pack: Pack, opts: dict) -> Part:
    """XnIDR's agreement (Table 3 step 10): u_hat [B, N, M, E] with v [B, M, E]."""
    n, m, e, bsz = s.caps_in, s.caps_out, s.dim_out, s.batch
    uh = rng.standard_normal((bsz, n, m, e), dtype=np.float32)
    v = rng.standard_normal((bsz, m, e), dtype=np.float32)
    pu, pv = pack(uh), pack(v)

    def agreement() -> np.ndarray:
        return packed.xnidr_agreement(pack(uh), pack(v), OUT_DTYPE, **opts)

    return Part(
        float_fn=lambda: np.matmul(uh.transpose(0, 2, 1, 3), v[..., None]),
        binary_fn=lambda: packed.xnidr_agreement(pu, pv, OUT_DTYPE, **opts),
        packing_fn=agreement,
        inference_fn=agreement,  # u_hat and v are both activations
        reference=lambda: _blocks(
            n,
            bsz * m * e + bsz * m,
            lambda i, j: np.einsum("bnme,bme->bnm", _signs(uh[:, i:j]), _signs(v)),
            axis=1,
        ),
        torch_args=(uh.transpose(0, 2, 1, 3).copy(), v[..., None].copy()),
    )


class Kernel(NamedTuple):
    """A packed kernel's benchmark: its `Part` builder and the elements of its operands and
    results (x2: float and binary), bounded by `check_size` before anything is built."""

    build: Callable[..., Part]
    sizes: Callable[[CapsBenchShape], tuple[int, ...]]


# the packed kernel of each xnorized product (`LayerSpec.xnorizes`, `accounting.PROJECTORS`)
KERNELS: dict[str, Kernel] = {
    "xnor_affine": Kernel(
        _affine_part,
        lambda s: (
            s.batch * s.caps_in * s.dim_in,
            s.caps_in * s.caps_out * s.dim_in * s.dim_out,
            s.batch * s.caps_in * s.caps_out * s.dim_out * 2,
        ),
    ),
    "xnor_agreement": Kernel(
        _agreement_part,
        lambda s: (
            s.batch * s.caps_in * s.caps_out * s.dim_out,
            s.batch * s.caps_out * s.dim_out,
            s.batch * s.caps_in * s.caps_out * 2,
        ),
    ),
}


def _joined(fns: list[Callable[[], Any]]) -> Callable[[], Any]:
    """One callable running `fns` in turn (the one itself when alone)."""
    return fns[0] if len(fns) == 1 else lambda: [f() for f in fns]


def make_case(
    layer: str,
    s: Shape,
    seed: int = 0,
    use_torch: bool = False,
    threads: int | None = None,
    backend: str = "auto",
) -> Case:
    """Random float32 operands for one row and the ways of computing its dot products: the
    layer's xnorized products (`KERNELS`), one after the other, or the GEMM.

    `threads` goes to the kernels (default: their own choice, all CPUs for large problems);
    `backend` ("auto", "numpy" or "c") selects the kernels (`packed.resolve_backend`)."""
    check_layer(layer)
    rng = np.random.default_rng(seed)
    try:
        be = packed.resolve_backend(backend)
    except (ValueError, RuntimeError) as exc:
        raise XncostError(str(exc)) from None
    opts = {"threads": threads, "backend": be}

    def pack(x: np.ndarray, axis: int = -1) -> packed.Packed:
        return packed.pack_signs(x, axis=axis, **opts)

    if layer == GEMM:
        assert isinstance(s, GemmShape)
        parts = [_gemm_part(s, rng, pack, opts)]
    else:
        assert isinstance(s, CapsBenchShape)
        parts = [KERNELS[p].build(s, rng, pack, opts) for p in get_layer(layer).xnorizes]
    packing = _joined([p.packing_fn for p in parts])
    same = all(p.inference_fn is p.packing_fn for p in parts)
    return Case(
        layer,
        s,
        float_fn=_joined([p.float_fn for p in parts]),
        binary_fn=_joined([p.binary_fn for p in parts]),
        packing_fn=packing,
        inference_fn=packing if same else _joined([p.inference_fn for p in parts]),
        reference=_joined([p.reference for p in parts]),
        torch_fn=_joined([_torch_matmul(*p.torch_args) for p in parts]) if use_torch else None,
        backend=be,
    )


def _torch_matmul(x: np.ndarray, y: np.ndarray) -> Callable[[], Any]:
    import torch

    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def run() -> Any:
        with torch.no_grad():
            return torch.matmul(tx, ty)

    return run


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to `n` inside the block."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _results(x: np.ndarray | list[np.ndarray]) -> list[np.ndarray]:
    return x if isinstance(x, list) else [x]


def _same(got: np.ndarray, blocks: Blocks) -> bool:
    for index, ref in blocks:
        part = got[index] if got.ndim == ref.ndim else None
        if part is None or part.shape != ref.shape or not np.array_equal(part, ref):
            return False
    return True


def check_case(case: Case) -> None:
    """Every binary path must equal the float +-1 result exactly, product by product (raises
    AssertionError); the reference is compared block by block (float32 holds these integers
    exactly: MAX_DOT_LENGTH)."""
    for fn in (case.binary_fn, case.packing_fn, case.inference_fn):
        got = _results(fn())
        refs = case.reference()
        refs = refs if isinstance(refs, list) else [refs]
        if len(got) != len(refs) or not all(map(_same, got, refs)):
            raise AssertionError(f"{case.layer} {case.shape.spec()}: binary result differs")
        del got


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
        with _torch_threads(1):  # torch without its intra-op threads, the same loop again
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


def human_seconds(s: float) -> str:
    """A duration with a unit: 12.3 µs, 4.56 ms, 1.23 s."""
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    cols = list(ROW_KEYS)
    for row in rows:
        cols += [k for k in row if k not in cols]
    return cols


def rows_json(rows: list[dict[str, Any]]) -> str:
    """The rows as a JSON list (floats in seconds and ratios)."""
    return json.dumps(rows, indent=2) + "\n"


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV: the `ROW_KEYS` columns first, then the extra keys."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


DISPLAY_COLUMNS = (
    "layer",
    "shape",
    "k",
    "backend",
    "float (numpy)",
    "binary",
    "binary + packing",
    "inference",
    "measured speed-up [min, max]",
    "with packing",
    "inference speed-up [min, max]",
    "theoretical",
    "Eq. 9 corrected",
    "word bound",
)


def display_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    """Human-readable cells for `DISPLAY_COLUMNS` (plus torch columns when measured)."""
    out = []
    for r in rows:
        cells = [
            r["layer"],
            r["shape"],
            str(r["dot_length"]),
            r.get("backend", ""),
            f"{human_seconds(r['float_s'])} ± {human_seconds(r['float_iqr_s'] / 2)}",
            f"{human_seconds(r['binary_s'])} ± {human_seconds(r['binary_iqr_s'] / 2)}",
            human_seconds(r["binary_with_packing_s"]),
            human_seconds(r["inference_s"]),
            f"{r['measured_speedup']:.2f} [{r['speedup_min']:.2f}, {r['speedup_max']:.2f}]",
            f"{r['measured_speedup_with_packing']:.2f}",
            f"{r['inference_speedup']:.2f} [{r['inference_speedup_min']:.2f}, "
            f"{r['inference_speedup_max']:.2f}]",
            f"{r['theoretical_speedup']:.2f} ({r['theoretical_equation']})",
            f"{r['corrected_speedup']:.2f}",
            f"{r['word_bound']:.2f}",
        ]
        if "torch_float_s" in r:
            cells += [
                human_seconds(r["torch_float_s"]),
                f"{r['torch_speedup']:.2f}",
                f"{r['torch_inference_speedup']:.2f} [{r['torch_inference_speedup_min']:.2f}, "
                f"{r['torch_inference_speedup_max']:.2f}]",
            ]
        if "torch1_float_s" in r:
            cells += [
                human_seconds(r["torch1_float_s"]),
                f"{r['torch1_inference_speedup']:.2f} [{r['torch1_inference_speedup_min']:.2f}, "
                f"{r['torch1_inference_speedup_max']:.2f}]",
            ]
        out.append(cells)
    return out


def display_columns(rows: list[dict[str, Any]]) -> list[str]:
    cols = list(DISPLAY_COLUMNS)
    if any("torch_float_s" in r for r in rows):
        cols += ["float (torch)", "torch / binary", "torch / inference [min, max]"]
    if any("torch1_float_s" in r for r in rows):
        cols += ["float (torch, 1 thread)", "torch 1 thread / inference [min, max]"]
    return cols


TABLE_TITLE = (
    "Packed XNOR kernels vs float32 (median of interleaved samples; ± half IQR; "
    "speed-up = float / binary)"
)


def rows_rich(rows: list[dict[str, Any]], width: int | None = None) -> Any:
    """The rows as one rich table; when that is wider than `width`, one two-column table
    (column, value) per row, so that it reads at 80 columns."""
    from rich.console import Console, Group
    from rich.table import Table
    from rich.text import Text

    from xncost.io.streams import for_stdout

    cols = display_columns(rows)  # plain text: "[min, max]" is no markup
    title = for_stdout(TABLE_TITLE)
    shown = [[for_stdout(c) for c in cells] for cells in display_rows(rows)]
    wide = Table(title=title)
    for col in cols:
        wide.add_column(Text(col), justify="left" if col in ("layer", "shape") else "right")
    for cells in shown:
        wide.add_row(*map(Text, cells))
    if width is None or Console(width=10_000).measure(wide).maximum <= width:
        return wide
    cards: list[Any] = []
    for cells in shown:
        card = Table(title=Text(f"{cells[0]} {cells[1]}"), show_header=False, title_justify="left")
        card.add_column("column", style="dim")
        card.add_column("value", justify="right", overflow="fold")
        for col, cell in zip(cols[2:], cells[2:], strict=False):
            card.add_row(Text(col), Text(cell))
        cards.append(card)
    return Group(Text(title), *cards)


def rows_markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table (± is half the interquartile range)."""
    cols = display_columns(rows)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for cells in display_rows(rows):
        cells += [""] * (len(cols) - len(cells))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
