"""Packed XNOR kernels: exact against +-1 arithmetic for every dot length, sign convention."""

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


@pytest.mark.parametrize("k", DOT_LENGTHS)
def test_binary_gemm_exact(rng, k):
    a, b = rand(rng, (7, k)), rand(rng, (k, 5))
    expected = signs(a) @ signs(b)
    pa, pb = pack_signs(a, axis=1), pack_signs(b, axis=0)
    for threads in (1, 2):
        got = binary_gemm(pa.words, pb.words, k, threads=threads)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)


def test_binary_gemm_many_tiles_and_ragged_edges(rng, monkeypatch):
    monkeypatch.setattr(packed, "GEMM_TILE_WORDS", 24)  # tiles of a few rows and columns
    monkeypatch.setattr(packed, "GEMM_TILE_COLS", 7)
    a, b = rand(rng, (37, 300)), rand(rng, (300, 29))
    pa, pb = pack_signs(a, axis=1), pack_signs(b, axis=0)
    for threads in (1, 3):
        got = binary_gemm(pa.words, pb.words, 300, threads=threads)
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
    got = binary_gemm(pack_signs(a, 1).words, pack_signs(b, 0).words, k)
    np.testing.assert_array_equal(got, signs(a) @ signs(b))


@pytest.mark.parametrize("k", [5, 64, 150])
def test_all_zero_operands_are_all_minus_one(k):
    a, b = np.zeros((3, k)), np.zeros((k, 4))
    got = binary_gemm(pack_signs(a, 1).words, pack_signs(b, 0).words, k)
    np.testing.assert_array_equal(got, np.full((3, 4), k))  # (-1)(-1) summed k times
    one = np.ones((k, 4))
    got = binary_gemm(pack_signs(a, 1).words, pack_signs(one, 0).words, k)
    np.testing.assert_array_equal(got, np.full((3, 4), -k))


@pytest.mark.parametrize("d", [1, 5, 8, 16, 64, 65, 130])
def test_xnodr_projector_exact(rng, d):
    bsz, n, m, e = 2, 5, 3, 4
    u, w = rand(rng, (bsz, n, d)), rand(rng, (n, m, d, e))
    expected = np.einsum("bnd,nmde->bnme", signs(u), signs(w))
    pw = pack_signs(w, axis=2)
    got = xnodr_projector(pack_signs(u), pw)
    assert got.shape == (bsz, n, m, e) and got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    tiled = np.broadcast_to(u[:, :, None, :], (bsz, n, m, d))  # I_Cap of Table 2 step 1
    np.testing.assert_array_equal(xnodr_projector(pack_signs(tiled), pw), expected)


def test_multiword_dots_in_word_blocks(rng, monkeypatch):
    monkeypatch.setattr(packed, "BLOCK_WORDS", 8)  # one word per block for these sizes
    u, w = rand(rng, (2, 3, 200)), rand(rng, (3, 2, 200, 4))
    got = xnodr_projector(pack_signs(u), pack_signs(w, axis=2))
    np.testing.assert_array_equal(got, np.einsum("bnd,nmde->bnme", signs(u), signs(w)))


@pytest.mark.parametrize("e", [1, 8, 16, 17, 64, 65, 100])
def test_xnidr_agreement_exact(rng, e):
    bsz, n, m = 3, 6, 4
    u_hat, v = rand(rng, (bsz, n, m, e)), rand(rng, (bsz, m, e))
    got = xnidr_agreement(pack_signs(u_hat), pack_signs(v))
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


@pytest.mark.parametrize("k,dtype", [(100, np.int8), (300, np.int16), (8, np.int8), (64, np.int8)])
def test_narrow_output_dtypes_stay_exact(rng, k, dtype):
    a, b = rand(rng, (9, k)), rand(rng, (k, 6))
    a[0], b[:, 0] = 1.0, 1.0  # an entry at +k
    a[1] = -1.0  # and one at -k
    got = binary_gemm(pack_signs(a, 1).words, pack_signs(b, 0).words, k, dtype=dtype)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, signs(a) @ signs(b))


def test_bad_arguments_raise_value_error(rng):
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
