"""Packed XNOR kernels: exact against +-1 arithmetic for every dot length, sign convention,
on both backends (numpy and the compiled `xncost.kernels._xnor`), bit-identical."""

import os
import time

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from xncost.kernels import packed
from xncost.kernels.packed import (
    binary_gemm,
    pack_signs,
    unpack_signs,
    xnidr_agreement,
    xnodr_projector,
)
from xncost.nn.binarize import sign_ste

# K = 1, K < 64 (and <= 8, the byte-lane path), multiples of 64, and ragged tails.
DOT_LENGTHS = [1, 3, 8, 9, 16, 63, 64, 65, 100, 128, 200, 1000]
NOT_BUILT = "compiled kernels (xncost.kernels._xnor) not built: no C compiler at install time"
needs_c = pytest.mark.skipif(not packed.COMPILED, reason=NOT_BUILT)
BACKENDS = ["numpy", pytest.param("c", marks=needs_c)]


def signs(x):
    """The float +-1 values the layers compute on: 0 -> -1."""
    return np.where(np.asarray(x) > 0, 1, -1).astype(np.int64)


def rand(rng, shape, zeros=0.15):
    x = rng.standard_normal(shape).astype(np.float32)
    x[rng.random(shape) < zeros] = 0.0
    return x


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", DOT_LENGTHS)
def test_binary_gemm_exact(rng, k, backend):
    a, b = rand(rng, (7, k)), rand(rng, (k, 5))
    expected = signs(a) @ signs(b)
    pa, pb = pack_signs(a, axis=1), pack_signs(b, axis=0)
    for threads in (1, 2):
        got = binary_gemm(pa.words, pb.words, k, threads=threads, backend=backend)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)


def test_binary_gemm_many_tiles_and_ragged_edges(rng, monkeypatch):
    monkeypatch.setattr(packed, "GEMM_TILE_WORDS", 24)  # tiles of a few rows and columns
    monkeypatch.setattr(packed, "GEMM_TILE_COLS", 7)
    a, b = rand(rng, (37, 300)), rand(rng, (300, 29))
    pa, pb = pack_signs(a, axis=1), pack_signs(b, axis=0)
    for threads in (1, 3):
        got = binary_gemm(pa.words, pb.words, 300, threads=threads, backend="numpy")
        np.testing.assert_array_equal(got, signs(a) @ signs(b))


@given(
    m=st.integers(1, 6),
    k=st.integers(1, 200),
    n=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_binary_gemm_exact_random_shapes(m, k, n, seed):
    g = np.random.default_rng(seed)
    a, b = g.choice([-1.0, 0.0, 1.0], (m, k)), g.choice([-1.0, 0.0, 1.0], (k, n))
    pa, pb = pack_signs(a, 1).words, pack_signs(b, 0).words
    for backend in ("numpy", "c") if packed.COMPILED else ("numpy",):
        got = binary_gemm(pa, pb, k, backend=backend)
        np.testing.assert_array_equal(got, signs(a) @ signs(b))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", [5, 64, 150, 600])
def test_all_zero_operands_are_all_minus_one(k, backend):
    a, b = np.zeros((3, k)), np.zeros((k, 4))
    got = binary_gemm(pack_signs(a, 1).words, pack_signs(b, 0).words, k, backend=backend)
    np.testing.assert_array_equal(got, np.full((3, 4), k))  # (-1)(-1) summed k times
    one = np.ones((k, 4))
    got = binary_gemm(pack_signs(a, 1).words, pack_signs(one, 0).words, k, backend=backend)
    np.testing.assert_array_equal(got, np.full((3, 4), -k))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("d", [1, 5, 8, 16, 64, 65, 130, 256, 300])
def test_xnodr_projector_exact(rng, d, backend):
    bsz, n, m, e = 2, 5, 3, 6
    u, w = rand(rng, (bsz, n, d)), rand(rng, (n, m, d, e))
    expected = np.einsum("bnd,nmde->bnme", signs(u), signs(w))
    pw = pack_signs(w, axis=2)
    got = xnodr_projector(pack_signs(u), pw, backend=backend)
    assert got.shape == (bsz, n, m, e) and got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    tiled = np.broadcast_to(u[:, :, None, :], (bsz, n, m, d))  # I_Cap of Table 2 step 1
    got = xnodr_projector(pack_signs(tiled), pw, backend=backend)
    np.testing.assert_array_equal(got, expected)
    cap = rand(rng, (bsz, n, m, d))  # I_Cap with its own values per output capsule
    got = xnodr_projector(pack_signs(cap), pw, backend=backend)
    np.testing.assert_array_equal(got, np.einsum("bnmd,nmde->bnme", signs(cap), signs(w)))


def test_multiword_dots_in_word_blocks(rng, monkeypatch):
    monkeypatch.setattr(packed, "BLOCK_WORDS", 8)  # one word per block for these sizes
    u, w = rand(rng, (2, 3, 200)), rand(rng, (3, 2, 200, 4))
    got = xnodr_projector(pack_signs(u), pack_signs(w, axis=2), backend="numpy")
    np.testing.assert_array_equal(got, np.einsum("bnd,nmde->bnme", signs(u), signs(w)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("e", [1, 8, 16, 17, 64, 65, 100, 256])
def test_xnidr_agreement_exact(rng, e, backend):
    bsz, n, m = 3, 6, 4
    u_hat, v = rand(rng, (bsz, n, m, e)), rand(rng, (bsz, m, e))
    got = xnidr_agreement(pack_signs(u_hat), pack_signs(v), backend=backend)
    assert got.shape == (bsz, n, m)
    np.testing.assert_array_equal(got, np.einsum("bnme,bme->bnm", signs(u_hat), signs(v)))


def test_kernels_equal_the_torch_layers_float_computation():
    """Against the reference layers' own binarizer and float einsums (Tables 2 and 3)."""
    g = torch.Generator().manual_seed(0)
    u = torch.randn(2, 6, 8, generator=g)
    u[0, 0, :3] = 0.0
    w = torch.randn(6, 10, 8, 16, generator=g)
    b_in = sign_ste(u.unsqueeze(2).expand(2, 6, 10, 8))
    want = torch.einsum("bnmd,nmde->bnme", b_in, sign_ste(w))
    got = xnodr_projector(pack_signs(u.numpy()), pack_signs(w.numpy(), axis=2))
    np.testing.assert_array_equal(got, want.numpy().astype(np.int64))

    u_hat, v = torch.randn(2, 6, 10, 16, generator=g), torch.randn(2, 10, 16, generator=g)
    v[:, 0] = 0.0
    want = torch.einsum("bnme,bme->bnm", sign_ste(u_hat), sign_ste(v))
    got = xnidr_agreement(pack_signs(u_hat.numpy()), pack_signs(v.numpy()))
    np.testing.assert_array_equal(got, want.numpy().astype(np.int64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pack_signs_matches_sign_ste_bit_for_bit(dtype):
    half_eps = np.finfo(dtype).eps / 2
    special = np.array(
        [
            0.0,
            -0.0,
            1.0,
            -1.0,
            half_eps,
            np.nextafter(half_eps, 1),
            half_eps / 2,
            1e-300,
            -1e-30,
            np.inf,
            -np.inf,
            np.finfo(dtype).tiny,
            0.5,
            -0.5,
        ],
        dtype=dtype,
    )
    g = np.random.default_rng(1)
    x = np.concatenate([special, g.standard_normal(500) * np.logspace(-20, 3, 500)]).astype(dtype)
    want = sign_ste(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(unpack_signs(pack_signs(x)), want)


@pytest.mark.parametrize("shape", [(1,), (70,), (3, 5, 13), (2, 70, 3), (4, 64, 2), (130, 4)])
def test_pack_unpack_roundtrip_every_axis(rng, shape):
    x = rand(rng, shape, zeros=0.3)
    for axis in range(len(shape)):
        p = pack_signs(x, axis=axis)
        k = shape[axis]
        assert p.k == k and p.words.dtype == np.uint64
        assert p.words.shape == tuple(np.delete(shape, axis)) + (-(-k // 64),)
        np.testing.assert_array_equal(unpack_signs(p), np.moveaxis(signs(x), axis, -1))
        if k % 64:
            assert not (p.words[..., -1] >> np.uint64(k % 64)).any()  # padding bits are zero


@pytest.mark.parametrize("shape,axis", [((3, 5, 13), 1), ((2, 70, 3), 1), ((130, 4), 0)])
def test_pack_paths_agree(rng, shape, axis):
    x = rand(rng, shape)
    k = shape[axis]
    ref = packed._pack_packbits(x, axis, k).words
    np.testing.assert_array_equal(packed._pack_lanes(x, axis, k).words, ref)
    np.testing.assert_array_equal(packed._pack_strided(x, axis, k).words, ref)


def test_pack_signs_integer_and_bool_inputs():
    ints = np.array([[-2, 0, 3, 1, -1]])
    np.testing.assert_array_equal(unpack_signs(pack_signs(ints)), [[-1, -1, 1, 1, -1]])
    bools = np.array([True, False, True])
    np.testing.assert_array_equal(unpack_signs(pack_signs(bools)), [1, -1, 1])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "k,dtype", [(100, np.int8), (300, np.int16), (8, np.int8), (64, np.int8), (70, np.int32)]
)
def test_narrow_output_dtypes_stay_exact(rng, k, dtype, backend):
    a, b = rand(rng, (9, k)), rand(rng, (k, 6))
    a[0], b[:, 0] = 1.0, 1.0  # an entry at +k
    a[1] = -1.0  # and one at -k
    pa, pb = pack_signs(a, 1).words, pack_signs(b, 0).words
    got = binary_gemm(pa, pb, k, dtype=dtype, backend=backend)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, signs(a) @ signs(b))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_arguments_raise_value_error(rng, backend, monkeypatch):
    monkeypatch.setattr(packed, "resolve_backend", lambda _b="auto": backend)
    pa = pack_signs(rand(rng, (3, 70)), 1)
    pb = pack_signs(rand(rng, (70, 2)), 0)
    with pytest.raises(ValueError):
        binary_gemm(pa.words, pb.words, 60)  # 60 bits need 1 word, not 2
    with pytest.raises(ValueError):
        binary_gemm(pa.words.astype(np.int64), pb.words, 70)
    with pytest.raises(ValueError):
        binary_gemm(pa.words, pb.words, 70, dtype=np.uint8)
    wide_a, wide_b = pack_signs(rand(rng, (2, 200)), 1), pack_signs(rand(rng, (200, 2)), 0)
    with pytest.raises(ValueError):
        binary_gemm(wide_a.words, wide_b.words, 200, dtype=np.int8)  # int8 cannot hold 200
    with pytest.raises(ValueError):
        xnodr_projector(pack_signs(rand(rng, (1, 4, 8))), pack_signs(rand(rng, (4, 2, 9, 3)), 2))
    with pytest.raises(ValueError):
        xnidr_agreement(pack_signs(rand(rng, (1, 4, 2, 16))), pack_signs(rand(rng, (1, 3, 16))))
    with pytest.raises(ValueError):
        pack_signs(np.float32(1.0))


# ---- the compiled backend -------------------------------------------------------------------

# (M, K, N): K = 1, K < 64, K = 64 and 4096 (multiples of 64), ragged K; M or N = 1 (GEMV),
# N = 2, 3 < M (rows and columns swapped, strided output); 1-3 words (column-vectorised
# path); K past 512 words (several word blocks, partial counts kept in the output); 600
# words with N = 41 (several column blocks of B); ragged 4 x 4, 8 x 16 edge tiles.
GEMM_SHAPES = [
    (1, 1, 1),
    (5, 1, 7),
    (6, 37, 3),
    (1, 64, 9),
    (9, 64, 1),
    (13, 128, 11),
    (7, 150, 1),
    (11, 300, 2),
    (40, 4100, 3),
    (1, 200, 6),
    (10, 256, 10),
    (17, 1000, 23),
    (1, 4096, 3),
    (33, 4096, 30),
    (3, 40000, 5),
    (4, 40001, 3),
    (9, 38400, 41),
]


def _isas():
    from xncost.kernels import _xnor

    return _xnor.isas


@needs_c
@pytest.mark.parametrize("m,k,n", GEMM_SHAPES)
def test_compiled_gemm_equals_float_and_numpy_on_every_isa(rng, m, k, n):
    from xncost.kernels import _xnor

    a, b = rand(rng, (m, k)), rand(rng, (k, n))
    want = signs(a) @ signs(b)
    pa, pb = pack_signs(a, axis=1).words, pack_signs(b, axis=0).words
    np.testing.assert_array_equal(binary_gemm(pa, pb, k, backend="numpy"), want)
    for isa in _isas():
        for dt in (np.int32, np.int64):
            for threads in (1, 2, 3):
                out = np.full((m, n), 12345, dtype=dt)
                _xnor.gemm(pa, pb, k, out, threads=threads, isa=isa)
                np.testing.assert_array_equal(out, want, err_msg=f"{isa} {dt} {threads}")


@needs_c
def test_compiled_gemm_large_enough_for_threads_and_blocks(rng):
    """Past C_GEMM_PARALLEL_MIN_WORDS the default uses every CPU; bit-identical to numpy."""
    m, k, n = 200, 4160, 160  # 65 words: 8-word vectors plus a 1-word tail
    pa = pack_signs(rand(rng, (m, k)), 1).words
    pb = pack_signs(rand(rng, (k, n)), 0).words
    want = binary_gemm(pa, pb, k, backend="numpy")
    for threads in (None, 1, 2, 4):
        got = binary_gemm(pa, pb, k, threads=threads, backend="c", dtype=np.int32)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)


@needs_c
@pytest.mark.parametrize("d", [1, 8, 64, 100, 256, 520])
def test_compiled_capsule_kernels_on_every_isa(rng, d):
    from xncost.kernels import _xnor

    bsz, n, m, e = 3, 7, 5, 6
    u, w = rand(rng, (bsz, n, d)), rand(rng, (n, m, d, e))
    cap = rand(rng, (bsz, n, m, d))
    pu, pw, pc = pack_signs(u), pack_signs(w, axis=2), pack_signs(cap)
    want_prim = np.einsum("bnd,nmde->bnme", signs(u), signs(w))
    want_cap = np.einsum("bnmd,nmde->bnme", signs(cap), signs(w))
    v = rand(rng, (bsz, m, d))
    pv = pack_signs(v)
    want_agree = np.einsum("bnmd,bmd->bnm", signs(cap), signs(v))
    for isa in _isas():
        for threads in (1, 2):
            out = np.empty((bsz, n, m, e), np.int32)
            _xnor.xnodr(pu.words[:, :, None, :], pw.words, d, out, threads=threads, isa=isa)
            np.testing.assert_array_equal(out, want_prim, err_msg=isa)
            _xnor.xnodr(pc.words, pw.words, d, out, threads=threads, isa=isa)
            np.testing.assert_array_equal(out, want_cap, err_msg=isa)
            agree = np.empty((bsz, n, m), np.int64)
            _xnor.xnidr(pc.words, pv.words, d, agree, threads=threads, isa=isa)
            np.testing.assert_array_equal(agree, want_agree, err_msg=isa)
    np.testing.assert_array_equal(xnodr_projector(pu, pw, backend="numpy"), want_prim)
    np.testing.assert_array_equal(xnidr_agreement(pc, pv, backend="numpy"), want_agree)


@needs_c
def test_compiled_kernels_reject_bad_buffers(rng):
    from xncost.kernels import _xnor

    pa = pack_signs(rand(rng, (4, 100)), 1).words
    pb = pack_signs(rand(rng, (100, 3)), 0).words
    out = np.empty((4, 3), np.int32)
    bad_calls = [
        (pa.astype(np.int64), pb, 100, out),  # signed words
        (pa, pb[:, :1], 100, out),  # word counts differ
        (pa, pb, 60, out),  # 60 bits need 1 word, not 2
        (pa, pb, 100, np.empty((4, 3), np.float32)),  # float output
        (pa, pb, 100, np.empty((3, 4), np.int32)),  # output shape
        (pa, pb, 100, np.empty((4, 3), np.int16)),  # only int32 / int64 outputs
        (pa[:, :, None], pb, 100, out),  # 3-D words
    ]
    for args in bad_calls:
        with pytest.raises(ValueError):
            _xnor.gemm(*args)
    with pytest.raises((ValueError, BufferError)):
        _xnor.gemm(pa, pb, 100, np.empty((3, 4), np.int32).T)  # not C-contiguous
    with pytest.raises(ValueError):
        _xnor.gemm(pa, pb, 100, out, isa="no-such-isa")
    with pytest.raises(ValueError):
        _xnor.xnidr(pa[None, :, :, None], pb[None], 100, out[None])  # shapes do not fit
    assert "generic" in _xnor.isas and _xnor.isa in _xnor.isas


def test_backend_selection(monkeypatch):
    assert packed.resolve_backend("numpy") == "numpy"
    assert packed.resolve_backend("auto") == ("c" if packed.COMPILED else "numpy")
    with pytest.raises(ValueError):
        packed.resolve_backend("fortran")
    monkeypatch.setattr(packed, "COMPILED", False)
    assert packed.resolve_backend("auto") == "numpy"
    with pytest.raises(RuntimeError, match="not built"):
        packed.resolve_backend("c")
    w = pack_signs(np.ones((2, 70)), 1).words
    np.testing.assert_array_equal(binary_gemm(w, w, 70), np.full((2, 2), 70))  # numpy path


# ---- compiled binarize-and-pack, forced instruction sets, the thread pool ----------------------

PACK_SHAPES = [  # (shape, axis): k = 1, ragged, multiples of 64, past 40,000; last and middle axes
    ((5, 1), -1),
    ((3, 7), -1),
    ((4, 64), -1),
    ((2, 3, 65), -1),
    ((3, 200), -1),
    ((2, 40001), -1),
    ((1, 5), 0),
    ((64, 9), 0),
    ((130, 300), 0),
    ((2, 70, 3), 1),
    ((3, 9, 257), 1),
    ((40001, 2), 0),
]


def special_values(rng, shape, dtype):
    """Random values with 0, -0, eps/2 (-> -1, as sign_ste), eps, tiny, inf and NaN mixed in."""
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    half_eps = np.finfo(dtype).eps / 2
    for step, value in zip(
        (5, 7, 11, 13, 17, 19),
        (0.0, half_eps, 2 * half_eps, np.finfo(dtype).tiny, -np.inf, np.nan),
        strict=True,
    ):
        flat[::step] = value
    flat[1::23] = -0.0
    return x


@needs_c
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", PACK_SHAPES)
def test_compiled_pack_equals_numpy_on_every_isa(rng, shape, axis, dtype):
    from xncost.kernels import _xnor

    x = special_values(rng, shape, dtype)
    axis %= len(shape)
    k = shape[axis]
    want = packed._pack_packbits(x, axis, k).words
    lead, rest = shape[:axis], shape[axis + 1 :]
    outer, inner = int(np.prod(lead)), int(np.prod(rest))
    for isa in _isas():
        for threads in (1, 2, 3):
            out = np.full((outer, inner, -(-k // 64)), 0xDEAD, dtype=np.uint64)
            _xnor.pack(x.reshape(outer, k, inner), out, threads=threads, isa=isa)
            np.testing.assert_array_equal(out.reshape(want.shape), want, err_msg=f"{isa}")
    np.testing.assert_array_equal(pack_signs(x, axis, backend="c").words, want)
    np.testing.assert_array_equal(pack_signs(x, axis, backend="numpy").words, want)


@needs_c
def test_pack_signs_compiled_handles_views_byte_order_and_other_dtypes(rng):
    x = special_values(rng, (6, 130, 4), np.float32)
    for view, axis in ((x[:, ::2], 1), (x.transpose(2, 0, 1), 2), (x.astype(">f4"), 1)):
        want = packed._pack_packbits(np.asarray(view, dtype=np.float32), axis, view.shape[axis])
        np.testing.assert_array_equal(pack_signs(view, axis, backend="c").words, want.words)
    half = x.astype(np.float16)  # not a compiled dtype: the numpy code packs it
    np.testing.assert_array_equal(
        pack_signs(half, 1, backend="c").words, packed._pack_packbits(half, 1, 130).words
    )


@needs_c
def test_compiled_pack_rejects_bad_buffers():
    from xncost.kernels import _xnor

    x = np.ones((2, 70, 3), np.float32)
    out = np.empty((2, 3, 2), np.uint64)
    _xnor.pack(x, out)
    for bad_x, bad_out in (
        (x.astype(np.int32), out),  # not float
        (x[0], out),  # 2-D
        (x, out.astype(np.int64)),  # signed words
        (x, np.empty((2, 3, 1), np.uint64)),  # 70 bits need 2 words
        (x, np.empty((3, 2, 2), np.uint64)),  # outer and inner swapped
    ):
        with pytest.raises(ValueError):
            _xnor.pack(bad_x, bad_out)
    with pytest.raises(ValueError, match="no-such-isa"):
        _xnor.pack(x, out, isa="no-such-isa")


def test_forced_isa_names_and_refusals(monkeypatch):
    class FakeExtension:
        isas = ("popcnt", "generic")
        isa = "popcnt"

    monkeypatch.setattr(packed, "_xnor", FakeExtension)
    assert packed._forced_isa(None) == (None, None)
    assert packed._forced_isa("") == (None, None)
    assert packed._forced_isa("Generic") == ("generic", None)
    assert packed._forced_isa("popcnt") == ("popcnt", None)
    name, err = packed._forced_isa("avx512")
    assert name is None and "cannot run the avx512vpopcntdq kernels" in err
    name, err = packed._forced_isa("sse9")
    assert name is None and "not an instruction set" in err and "avx2" in err
    monkeypatch.setattr(packed, "COMPILED", True)
    monkeypatch.setattr(packed, "ISA_ERROR", err)
    for backend in ("auto", "c"):
        with pytest.raises(RuntimeError, match="not an instruction set"):
            packed.resolve_backend(backend)
    assert packed.resolve_backend("numpy") == "numpy"


@pytest.mark.heavy
@needs_c
def test_environment_variable_forces_each_path():
    import subprocess
    import sys

    from xncost.kernels import _xnor

    code = (
        "import numpy as np; from xncost.kernels import packed as p; "
        "a = np.random.default_rng(0).standard_normal((9, 300)); "
        "got = p.binary_gemm(p.pack_signs(a, 1).words, p.pack_signs(a.T, 0).words, 300); "
        "want = np.where(a > 0, 1, -1) @ np.where(a > 0, 1, -1).T; "
        "print(p.ISA, bool((got == want).all()))"
    )
    forced = {"avx512vpopcntdq": "avx512"}
    for isa in _xnor.isas:
        env = {**os.environ, packed.ISA_ENV: forced.get(isa, isa)}
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [isa, "True"]


@needs_c
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_thread_pool_under_concurrent_callers_and_after_fork(rng):
    """Calls from several Python threads at once (one uses the pool, the others run alone)
    and a forked child (no workers inherited: the pool restarts) all give exact results."""
    from concurrent.futures import ThreadPoolExecutor

    a, b = rand(rng, (64, 700)), rand(rng, (700, 48))
    pa, pb = pack_signs(a, 1).words, pack_signs(b, 0).words
    want = signs(a) @ signs(b)

    def run(_):
        return binary_gemm(pa, pb, 700, threads=2, backend="c")

    with ThreadPoolExecutor(4) as pool:
        for got in pool.map(run, range(16)):
            np.testing.assert_array_equal(got, want)
    pid = os.fork()
    if pid == 0:  # child: must not wait for workers that do not exist here
        os._exit(0 if np.array_equal(run(0), want) else 1)
    for _ in range(400):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("forked child hung in the thread pool")
    assert os.waitstatus_to_exitcode(status) == 0


# ---- packed inference in the layers (xncost.nn.inference) ---------------------------------------


def test_packed_xnodr_keeps_its_packed_weights_until_they_change():
    from xncost.nn import XnODR, inference, use_packed

    torch.manual_seed(3)
    layer = XnODR(12, 4, 8, 16, 3).eval()
    x = torch.randn(5, 12, 8)
    step = layer.projector.xnor_affine
    with torch.no_grad():
        want = layer(x)
        use_packed(layer)
        assert torch.equal(layer(x), want)
        first = step._packed_weight
        assert torch.equal(layer(x), want)
        assert step._packed_weight is first  # packed once, reused
        layer.projector.weight.weight.mul_(-1.5)  # an in-place update (optimizer step)
        use_packed(layer, False)
        want2 = layer(x)
        use_packed(layer)
        assert torch.equal(layer(x), want2) and not torch.equal(want2, want)
        assert step._packed_weight is not first
    words, alpha = inference.packed_weight(step, layer.projector.weight.weight)
    assert words.words.shape == (12, 4, 16, 1) and alpha.shape == (12, 4, 1, 16)


def test_packed_xnbdr_equals_its_float_path_bit_for_bit():
    """XnBDR packs both binary steps: its projector's weights once, the agreement per call."""
    from xncost.nn import XnBDR, use_packed

    torch.manual_seed(5)
    layer = XnBDR(20, 6, 8, 16, 3).eval()
    x = torch.randn(3, 20, 8)
    x[0, 0] = 0.0  # sign(0) = -1 on both paths
    with torch.no_grad():
        want = layer(x)
        use_packed(layer)
        assert torch.equal(layer(x), want)
        assert layer.projector.xnor_affine._packed_weight is not None
