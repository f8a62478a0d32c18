"""The benchmark's cases: row shapes and their limits, the theory of each row, and the timed
callables of each case with their exactness check (`xncost.kernels.bench` times them;
docs/architecture.md).

A case holds, per row, the float product (numpy BLAS float32; optionally torch), the packed
kernel on packed operands, the same with binarization and packing, and the inference
callable (weights packed once, activations every call), built from the layer's xnorized
products (`KERNELS`, keyed by `LayerSpec.xnorizes`). Every size is checked before it is
allocated (`check_size`, `MAX_CASE_BYTES`); the run's planned time before it starts
(`check_timing`).
"""

from __future__ import annotations

import contextlib
import math
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
def torch_threads(n: int) -> Iterator[None]:
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
