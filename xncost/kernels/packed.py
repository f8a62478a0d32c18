"""Bit-packed XNOR kernels in numpy: exact +-1 dot products from uint64 words (Eqs. 9-15).

A +-1 vector of length k is packed along its reduction axis into ceil(k/64) uint64 words,
bit = 1 for +1 and 0 for -1, with the sign convention of `xncost.nn.binarize.sign_ste`
(0 -> -1; see `sign_threshold`). The tail word is zero-padded, so the padding bits are equal
in both operands, XOR to 0 and drop out of the count: dot = k - 2 * popcount(a XOR b)
(= 2 * popcount(XNOR) - k on the valid bits). Results are exact integers (int64 by default).

Implementation (measured on the project machine, see `reports/speed.md`): numpy has no
fused xor-popcount-accumulate, so every step is one ufunc pass over memory.
  - k <= 64 (one word; the paper's D = 8 and E = 16): XOR, `np.bitwise_count`, `k - 2p` in
    int8 (exact, |k - 2p| <= 64), one widening copy. For k <= 8 only the low byte of each
    word carries data, so the kernel works on that byte: 1 byte per dot product moves through
    each pass instead of 8, and numpy's uint8 popcount is vectorised.
  - k > 64: XOR, popcount and a uint16 accumulation, one word at a time over the whole
    output (operands copied word-major so every pass is contiguous), or several words per
    pass when the output is small.
  - `binary_gemm` works word-major too (x[w, i, j] = a[w, i] ^ b[w, j]: long inner loops,
    the reduction adds whole rows) on tiles of about `GEMM_TILE_WORDS` words with
    per-thread buffers, and spreads the tiles over threads (ufunc loops release the GIL).

Backends: `binary_gemm`, `xnodr_projector` and `xnidr_agreement` take `backend="auto"`
(default), `"numpy"` or `"c"`. `"c"` is the compiled extension `xncost.kernels._xnor`
(built from `_xnor.c` at install time when a C compiler is available; `COMPILED` says whether
it imported): fused XOR-popcount-accumulate loops, AVX-512 VPOPCNTDQ, AVX2 (nibble-lookup
popcount), POPCNT or plain C chosen at import from the CPU (`ISA`; the environment variable
`XNCOST_KERNEL_ISA` forces one, see `ISA_NAMES`), register-blocked GEMM tiles over
cache-sized panels of B, a persistent pool of POSIX threads, GIL released (measured in
`reports/speed.md`). It also binarizes and packs float32/float64 arrays (`pack_signs`), with
the same bits as the numpy code.
`"auto"` uses it when built, else numpy. Both backends return bit-identical results.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from numpy.typing import DTypeLike

try:
    from xncost.kernels import _xnor
except ImportError:  # not built (no C compiler at install time): numpy kernels only
    _xnor = None

COMPILED: bool = _xnor is not None
"""Whether the compiled kernels (`xncost.kernels._xnor`) are available."""
ISA_ENV = "XNCOST_KERNEL_ISA"
ISA_NAMES = {  # the values ISA_ENV accepts -> the extension's instruction-set names
    "avx512": "avx512vpopcntdq",
    "avx512vpopcntdq": "avx512vpopcntdq",
    "avx2": "avx2",
    "popcnt": "popcnt",
    "generic": "generic",
}


def _forced_isa(value: str | None) -> tuple[str | None, str | None]:
    """(instruction set, error) for a value of ISA_ENV: (None, None) when unset."""
    if not value:
        return None, None
    name = ISA_NAMES.get(value.strip().lower())
    if name is None:
        return None, (
            f"{ISA_ENV}={value!r} is not an instruction set; expected one of "
            f"{', '.join(sorted(set(ISA_NAMES) - {'avx512vpopcntdq'}))}"
        )
    if _xnor is not None and name not in _xnor.isas:
        return None, (
            f"{ISA_ENV}={value}: this CPU cannot run the {name} kernels (it supports "
            f"{', '.join(_xnor.isas)})"
        )
    return name, None


ISA, ISA_ERROR = _forced_isa(os.environ.get(ISA_ENV))
if ISA is None and ISA_ERROR is None and _xnor is not None:
    ISA = _xnor.isa
"""ISA: the compiled kernels' instruction set (None when not built); ISA_ERROR: why the
value of ISA_ENV cannot be used (the compiled backend then refuses to run)."""
BACKENDS = ("auto", "numpy", "c")
WORD_BITS = 64
BLOCK_WORDS = 1 << 16  # about 512 KiB of uint64 temporaries per block: fits in L2
# GEMM tiles: 2 MiB of XOR words (16 x 256 x 64 at K = 4096). Measured: two threads run
# 1.8x faster than one with these tiles, but no faster with 512 KiB tiles, whose many
# short ufunc calls keep the threads waiting on each other for the GIL.
GEMM_TILE_WORDS = 1 << 18
GEMM_TILE_COLS = 256
MAX_THREADS = 64  # the compiled kernels' thread pool runs at most this many parts per call
PARALLEL_MIN_WORDS = 1 << 23  # below this many XORed words one thread was faster (measured)
# Compiled kernels: below these many XORed words one thread was faster (measured when every
# call started its threads, about 0.1 ms; waking the persistent pool costs about 10 µs, so
# smaller problems might now gain from threads too: not re-measured).
C_GEMM_PARALLEL_MIN_WORDS = 1 << 23
C_CAPS_PARALLEL_MIN_WORDS = 1 << 21
C_PACK_PARALLEL_MIN_ELEMENTS = 1 << 18  # binarize-and-pack: 1 MiB of float32 or more
_C_PACK_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_C_OUT_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
_GATHER_BITS = np.uint64(0x0102040810204080)
_TOP_BYTE = np.uint64(56)


class Packed(NamedTuple):
    """Packed +-1 data: `words` [..., ceil(k/64)] uint64 and the valid bit count `k`."""

    words: np.ndarray
    k: int


def n_words(k: int) -> int:
    """Words needed for k bits: ceil(k / 64)."""
    return -(-k // WORD_BITS)


def sign_threshold(dtype: DTypeLike) -> np.generic | int:
    """Values <= this binarize to -1: 0 for integers and booleans, and
    eps/2 for floats. `sign_ste` computes round(clip(0.5x + 0.5, 0, 1)): for 0 < x <= eps/2,
    0.5x + 0.5 rounds to exactly 0.5, which rounds half-to-even to 0, so such x give -1 too
    (checked against `sign_ste` in float32 and float64)."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return dt.type(np.finfo(dt).eps / 2)
    return 0


def pack_signs(
    x: np.ndarray, axis: int = -1, backend: str = "auto", threads: int | None = None
) -> Packed:
    """Binarize `x` as `xncost.nn.binarize.sign_ste` does (+1 if x > 0, else -1, so 0 -> -1;
    see `sign_threshold` for positive floats below eps/2) and pack the bits along `axis`.

    The packed axis becomes the last axis of `words` (length ceil(k/64)); the other axes keep
    their order. Element j of the vector is bit j % 64 (least significant first) of word
    j // 64; the bits past k are zero. Returns `Packed(words, k)`. float32 and float64 input
    is packed by the compiled extension when `backend` resolves to "c" (`threads` workers;
    default all CPUs for large arrays), everything else by numpy; the bits are the same.
    """
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("pack_signs needs at least one axis")
    axis = axis % x.ndim
    k = int(x.shape[axis])
    if x.dtype in _C_PACK_DTYPES and x.size and resolve_backend(backend) == "c":
        return _pack_compiled(x, axis, k, threads)
    if sys.byteorder != "little":  # the fast paths below rely on little-endian memory
        return _pack_packbits(x, axis, k)
    if axis == x.ndim - 1 or k < WORD_BITS:
        return _pack_lanes(x, axis, k)
    return _pack_strided(x, axis, k)


def _pack_compiled(x: np.ndarray, axis: int, k: int, threads: int | None) -> Packed:
    """`_xnor.pack` on x viewed as [outer, k, inner] (C order; other layouts copied first)."""
    x = np.ascontiguousarray(x)
    if not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    lead, rest = x.shape[:axis], x.shape[axis + 1 :]
    outer, inner = math.prod(lead), math.prod(rest)
    out = np.empty((outer, inner, n_words(k)), dtype=np.uint64)
    nthreads = _default_threads(threads, x.size, C_PACK_PARALLEL_MIN_ELEMENTS)
    _xnor.pack(x.reshape(outer, k, inner), out, threads=nthreads, isa=ISA)
    return Packed(out.reshape(lead + rest + (n_words(k),)), k)


def _pack_packbits(x: np.ndarray, axis: int, k: int) -> Packed:
    """Portable reference: np.packbits bytes read as little-endian words."""
    bits = np.moveaxis(x, axis, -1) > sign_threshold(x.dtype)
    packed = np.packbits(bits, axis=-1, bitorder="little")
    buf = np.zeros(packed.shape[:-1] + (n_words(k) * 8,), dtype=np.uint8)
    buf[..., : packed.shape[-1]] = packed
    return Packed(buf.view("<u8").astype(np.uint64), k)


def _pack_lanes(x: np.ndarray, axis: int, k: int) -> Packed:
    """Signs into a bool buffer with the packed axis last (padded to whole bytes); each run of
    8 bools, read as one little-endian uint64 of 0/1 bytes, times 0x0102040810204080 has the
    8 bits in its top byte (no carries: every partial product lands on its own bit)."""
    xm = np.moveaxis(x, axis, -1)
    lead = xm.shape[:-1]
    nbytes, words = -(-k // 8), n_words(k)
    bits = np.empty(lead + (nbytes * 8,), dtype=np.bool_)
    np.greater(xm, sign_threshold(x.dtype), out=bits[..., :k])
    bits[..., k:] = False
    lanes = bits.view(np.uint64)
    lanes *= _GATHER_BITS
    lanes >>= _TOP_BYTE
    if nbytes == words * 8:
        out = lanes.astype(np.uint8)
    else:
        out = np.zeros(lead + (words * 8,), dtype=np.uint8)
        out[..., :nbytes] = lanes
    return Packed(out.view(np.uint64), k)


def _pack_strided(x: np.ndarray, axis: int, k: int) -> Packed:
    """Long axis that is not last: build bytes with 8 shift-or passes in x's own layout (rows
    stay contiguous), then move only the bytes (1/8 of the data) to the last axis."""
    b = np.moveaxis(np.greater(x, sign_threshold(x.dtype)).view(np.uint8), axis, 0)
    rest = b.shape[1:]
    full = k // 8
    by = np.zeros((-(-k // 8),) + rest, dtype=np.uint8)
    b3 = b[: full * 8].reshape((full, 8) + rest)
    tmp = np.empty((full,) + rest, dtype=np.uint8)
    np.copyto(by[:full], b3[:, 0])
    for j in range(1, 8):
        np.left_shift(b3[:, j], j, out=tmp)
        np.bitwise_or(by[:full], tmp, out=by[:full])
    for j in range(k - full * 8):
        by[full] |= b[full * 8 + j] << j
    out = np.zeros(rest + (n_words(k) * 8,), dtype=np.uint8)
    out[..., : by.shape[0]] = np.moveaxis(by, 0, -1)
    return Packed(out.view(np.uint64), k)


def unpack_signs(p: Packed) -> np.ndarray:
    """Inverse of `pack_signs` on the last axis: int8 +-1 array [..., k]."""
    words, k = _check(p, "packed")
    raw = np.ascontiguousarray(words, dtype="<u8").view(np.uint8)
    bits = np.unpackbits(raw, axis=-1, count=k, bitorder="little")
    return (bits.astype(np.int8) << 1) - 1


def _check(p: Packed | tuple[np.ndarray, int], name: str) -> tuple[np.ndarray, int]:
    words, k = p
    words = np.asarray(words)
    k = int(k)
    if words.dtype != np.uint64:
        raise ValueError(f"{name}: words must be uint64, got {words.dtype}")
    if k < 0 or words.ndim == 0 or words.shape[-1] != n_words(k):
        raise ValueError(
            f"{name}: last axis has {words.shape[-1] if words.ndim else 0} words, "
            f"k={k} needs {n_words(k)}"
        )
    return words, k


def _out_dtype(dtype: DTypeLike, k: int) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "i" or np.iinfo(dt).max < k:
        raise ValueError(f"dtype {dt} cannot hold dot products of length {k} exactly")
    return dt


def resolve_backend(backend: str = "auto") -> str:
    """The backend that runs: "c" or "numpy" ("auto": "c" when `COMPILED`).

    ValueError for an unknown name; RuntimeError for "c" when the extension is not built,
    and for "c" or "auto" when `XNCOST_KERNEL_ISA` names an instruction set this CPU lacks."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "numpy" or (backend == "auto" and not COMPILED):
        return "numpy"
    if ISA_ERROR is not None:
        raise RuntimeError(ISA_ERROR)
    if not COMPILED:
        raise RuntimeError(
            "backend='c' needs the compiled kernels (xncost.kernels._xnor), which are not "
            "built: reinstall with a C compiler available, or use backend='numpy'"
        )
    return "c"


def _c_call(
    fn_name: str, shape: tuple[int, ...], dt: np.dtype, threads: int, *operands: np.ndarray, k: int
) -> np.ndarray:
    """Run `_xnor.<fn_name>` into a new [shape] array of dtype `dt` (int32 or int64 written
    directly; narrower types computed in int32, then cast: exact, `_out_dtype` checked)."""
    out = np.empty(shape, dtype=dt if dt in _C_OUT_DTYPES else np.int32)
    args = [np.ascontiguousarray(x) for x in operands]
    getattr(_xnor, fn_name)(*args, k, out, threads=threads, isa=ISA)
    return out if out.dtype == dt else out.astype(dt)


def _default_threads(threads: int | None, words: int, minimum: int) -> int:
    if threads is not None:
        return min(max(1, threads), MAX_THREADS)
    return (os.cpu_count() or 1) if words >= minimum else 1


def _finish_small(pc: np.ndarray, k: int, dtype: np.dtype) -> np.ndarray:
    """uint8 popcounts p (k <= 64) -> k - 2p, computed in int8 (exact: |k - 2p| <= 64)."""
    np.add(pc, pc, out=pc)
    np.subtract(np.uint8(k), pc, out=pc)
    return pc.view(np.int8).astype(dtype)


def _byte_lane(words: np.ndarray) -> np.ndarray:
    """Single-word vectors [..., 1] with k <= 8: the low byte of each word (the rest is zero
    padding) as a contiguous uint8 array, so the passes move 1 byte per dot product."""
    return words[..., 0].astype(np.uint8)


def xor_dots(a: np.ndarray, b: np.ndarray, k: int, dtype: DTypeLike = np.int64) -> np.ndarray:
    """Exact +-1 dot products k - 2 * sum_w popcount(a[..., w] ^ b[..., w]).

    `a` and `b` are uint64 word arrays whose leading axes broadcast against each other; the
    last axis (ceil(k/64) words, zero-padded) is reduced. For k > 64 the words are processed
    in blocks so that temporaries stay near `BLOCK_WORDS` words (at least one per output).
    """
    dt = _out_dtype(dtype, k)
    w = a.shape[-1]
    if w == 1:
        if k <= 8:
            x = np.bitwise_xor(_byte_lane(a), _byte_lane(b))
            return _finish_small(np.bitwise_count(x, out=x), k, dt)
        return _finish_small(np.bitwise_count(np.bitwise_xor(a[..., 0], b[..., 0])), k, dt)
    shape = np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    if w == 0:
        return np.zeros(shape, dtype=dt)
    acc_dtype = np.uint16 if k < 1 << 16 else np.int64
    acc = np.zeros(shape, dtype=acc_dtype)
    size = math.prod(shape)
    if size * 2 <= BLOCK_WORDS:  # small output: several words per pass, reduced on the last axis
        chunk = max(1, BLOCK_WORDS // max(size, 1))
        for w0 in range(0, w, chunk):
            x = np.bitwise_xor(a[..., w0 : w0 + chunk], b[..., w0 : w0 + chunk])
            acc += np.bitwise_count(x).sum(axis=-1, dtype=acc_dtype)
    else:  # one word per pass over the whole output, operands word-major and contiguous
        a_t = np.ascontiguousarray(np.moveaxis(a, -1, 0))
        b_t = np.ascontiguousarray(np.moveaxis(b, -1, 0))
        x = np.empty(shape, dtype=np.uint64)
        pc = np.empty(shape, dtype=np.uint8)
        for i in range(w):
            np.bitwise_xor(a_t[i], b_t[i], out=x)
            np.bitwise_count(x, out=pc)
            np.add(acc, pc, out=acc)
    out = np.empty(shape, dtype=dt)
    _finish_counts(acc, k, out)
    return out


def _finish_counts(acc: np.ndarray, k: int, out: np.ndarray) -> None:
    """out = k - 2 * acc for popcount sums acc <= k, without leaving out's range: p, k - p,
    then k - 2p."""
    np.copyto(out, acc, casting="unsafe")
    np.subtract(k, out, out=out)
    np.subtract(out, acc, out=out, casting="unsafe")


class _Buffers(threading.local):
    ready = False
    x: np.ndarray
    pc: np.ndarray
    acc: np.ndarray


def _tile_size(m: int, n: int, w: int) -> tuple[int, int]:
    """GEMM tiles of about GEMM_TILE_WORDS words, at most GEMM_TILE_COLS columns wide."""
    nb = min(n, GEMM_TILE_COLS, max(1, GEMM_TILE_WORDS // w))
    return min(m, max(1, GEMM_TILE_WORDS // (nb * w))), nb


def _tiles(m: int, n: int, mb: int, nb: int) -> Iterator[tuple[int, int, int, int]]:
    for i in range(0, m, mb):
        for j in range(0, n, nb):
            yield i, min(i + mb, m), j, min(j + nb, n)


def binary_gemm(
    a_words: np.ndarray,
    b_words: np.ndarray,
    k: int,
    threads: int | None = None,
    dtype: DTypeLike = np.int64,
    backend: str = "auto",
) -> np.ndarray:
    """Binary GEMM: A (M x K, +-1) times B (K x N, +-1) as exact integers [M, N].

    `a_words` is `pack_signs(A, axis=1).words` [M, W]; `b_words` is `pack_signs(B, axis=0)
    .words` [N, W]; W = ceil(k/64). `threads` workers share the output (default: all CPUs
    when M·N·W >= `PARALLEL_MIN_WORDS`, or `C_GEMM_PARALLEL_MIN_WORDS` for the compiled
    kernel, else one). `dtype`: signed integer type of the result (int64 by default; any type
    holding +-k). `backend`: "auto", "numpy" or "c" (see the module docstring).
    """
    a, k = _check((a_words, k), "a_words")
    b, _ = _check((b_words, k), "b_words")
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"binary_gemm needs 2-D word arrays, got {a.shape} and {b.shape}")
    m, w = a.shape
    n = b.shape[0]
    if resolve_backend(backend) == "c":
        dt = _out_dtype(dtype, k)
        nthreads = _default_threads(threads, m * n * w, C_GEMM_PARALLEL_MIN_WORDS)
        return _c_call("gemm", (m, n), dt, nthreads, a, b, k=k)
    if w <= 1 or m == 0 or n == 0:
        return xor_dots(a[:, None, :], b[None, :, :], k, dtype)
    out = np.empty((m, n), dtype=_out_dtype(dtype, k))
    acc_dtype = np.uint16 if k < 1 << 16 else np.int64
    mb, nb = _tile_size(m, n, w)
    a_t, b_t = np.ascontiguousarray(a.T), np.ascontiguousarray(b.T)  # word-major [W, M], [W, N]
    bufs = _Buffers()

    def tile(t: tuple[int, int, int, int]) -> None:
        i0, i1, j0, j1 = t
        if not bufs.ready:
            bufs.ready = True
            bufs.x = np.empty((w, mb, nb), dtype=np.uint64)
            bufs.pc = np.empty((w, mb, nb), dtype=np.uint8)
            bufs.acc = np.empty((mb, nb), dtype=acc_dtype)
        x = bufs.x[:, : i1 - i0, : j1 - j0]
        pc = bufs.pc[:, : i1 - i0, : j1 - j0]
        acc = bufs.acc[: i1 - i0, : j1 - j0]
        np.bitwise_xor(a_t[:, i0:i1, None], b_t[:, None, j0:j1], out=x)
        np.bitwise_count(x, out=pc)
        np.add.reduce(pc, axis=0, dtype=acc_dtype, out=acc)
        _finish_counts(acc, k, out[i0:i1, j0:j1])

    tiles = list(_tiles(m, n, mb, nb))
    if threads is None:
        threads = (os.cpu_count() or 1) if m * n * w >= PARALLEL_MIN_WORDS else 1
    workers = min(len(tiles), threads)
    if workers <= 1:
        for t in tiles:
            tile(t)
    else:
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(tile, tiles):
                pass
    return out


def xnodr_projector(
    b_in: Packed,
    b_w: Packed,
    dtype: DTypeLike = np.int64,
    backend: str = "auto",
    threads: int | None = None,
) -> np.ndarray:
    """XnODR's binary LP_out (Table 2 step 5): dot products of length D -> [B, N, M, E].

    `b_in`: the input packed over D, words [B, N, W] (I_Prim, tiled over M by broadcasting)
    or [B, N, M, W] (I_Cap); `b_w`: the weights [N, M, D, E] packed over D (`axis=2`),
    words [N, M, E, W]. Equals einsum("bnmd,nmde->bnme") on the +-1 values; `dtype`,
    `backend` and `threads` (compiled kernel only) as in `binary_gemm`.
    """
    a, k = _check(b_in, "b_in")
    w, kw = _check(b_w, "b_w")
    if kw != k:
        raise ValueError(f"b_in has dim_in {k}, b_w has {kw}")
    if w.ndim != 4:
        raise ValueError(f"b_w words must be [N, M, E, W], got shape {w.shape}")
    n, m = w.shape[:2]
    if a.ndim == 3 and a.shape[1] == n:
        lhs = a[:, :, None, None, :]
    elif a.ndim == 4 and a.shape[1:3] == (n, m):
        lhs = a[:, :, :, None, :]
    else:
        raise ValueError(f"b_in words must be [B, {n}, W] or [B, {n}, {m}, W], got {a.shape}")
    if resolve_backend(backend) == "c":
        bsz, e = a.shape[0], w.shape[2]
        x = lhs[:, :, :, 0, :]  # [B, N, 1 or M, W]
        nthreads = _default_threads(
            threads, bsz * n * m * e * w.shape[3], C_CAPS_PARALLEL_MIN_WORDS
        )
        return _c_call("xnodr", (bsz, n, m, e), _out_dtype(dtype, k), nthreads, x, w, k=k)
    return xor_dots(lhs, w[None], k, dtype)


def xnidr_agreement(
    b_u: Packed,
    b_v: Packed,
    dtype: DTypeLike = np.int64,
    backend: str = "auto",
    threads: int | None = None,
) -> np.ndarray:
    """XnIDR's binary agreement (Table 3 step 10): dot products of length E -> [B, N, M].

    `b_u`: predictions u_hat [B, N, M, E] packed over E, words [B, N, M, W]; `b_v`: outputs
    v [B, M, E] packed over E, words [B, M, W]. Equals einsum("bnme,bme->bnm") on +-1 values;
    `dtype`, `backend` and `threads` (compiled kernel only) as in `binary_gemm`.
    """
    u, k = _check(b_u, "b_u")
    v, kv = _check(b_v, "b_v")
    if kv != k:
        raise ValueError(f"b_u has dim_out {k}, b_v has {kv}")
    if u.ndim != 4 or v.ndim != 3 or v.shape[0] != u.shape[0] or v.shape[1] != u.shape[2]:
        raise ValueError(
            f"b_u words must be [B, N, M, W] and b_v [B, M, W], got {u.shape} and {v.shape}"
        )
    if resolve_backend(backend) == "c":
        nthreads = _default_threads(threads, u.size, C_CAPS_PARALLEL_MIN_WORDS)
        return _c_call("xnidr", u.shape[:3], _out_dtype(dtype, k), nthreads, u, v, k=k)
    return xor_dots(u, v[:, None], k, dtype)
