"""Vectorised exact evaluation (xncost.core.evaluate) against single `breakdown()` calls."""

import decimal
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from xncost.core.accounting import breakdown
from xncost.core.evaluate import (
    FIELDS,
    compile_layer,
    evaluate,
    evaluate_fc,
    evaluate_shapes,
    quotient_text,
)
from xncost.core.layers import caps_layers
from xncost.core.shapes import CapsShape, FCShape
from xncost.errors import XncostError
from xncost.exact import exact_str

LAYERS = caps_layers()


def _random_columns(rng, n):
    cols = {
        "caps_in": rng.integers(1, 3000, n),
        "caps_out": rng.integers(1, 40, n),
        "dim_in": rng.integers(1, 200, n),
        "dim_out": rng.integers(1, 200, n),
        "iterations": rng.integers(1, 6, n),
        "batch": rng.integers(1, 50, n),
    }
    # the special cases of the accounting: length-1 contractions, words of 64 and 65 bits
    cols["caps_in"][:4] = 1
    cols["dim_in"][4:8] = [1, 64, 65, 128]
    cols["dim_out"][8:12] = [1, 64, 65, 129]
    cols["iterations"][12:14] = 1
    return cols


def _shape(cols, i):
    return CapsShape(**{f: int(cols[f][i]) for f in FIELDS})


def _assert_row_equals_breakdown(ev, cols, i, layer, conv):
    b = breakdown(layer, _shape(cols, i), conv)
    assert ev.totals(i) == b.totals
    for s in b.steps:
        assert int(ev.step_flops[s.name][i]) == s.flops, s.name
        assert int(ev.step_bops[s.name][i]) == s.bops, s.name
        assert int(ev.step_params[s.name][i]) == s.params, s.name
    assert ev.flops_text()[i] == exact_str(b.totals["flops"])
    assert ev.xnor_flops_text()[i] == exact_str(b.totals["xnor_flops"])


@pytest.mark.parametrize("conv", ["paper", "ops"])
@pytest.mark.parametrize("layer", LAYERS)
def test_random_rows_equal_breakdown(layer, conv):
    rng = np.random.default_rng(7)
    cols = _random_columns(rng, 2000)
    ev = evaluate(layer, conv, **cols)
    assert ev.float_flops.dtype == np.int64 and not ev.exact_rows.any()
    for i in [*range(14), *rng.integers(14, 2000, 40).tolist()]:
        _assert_row_equals_breakdown(ev, cols, i, layer, conv)


@pytest.mark.parametrize("layer", LAYERS)
def test_rows_that_overflow_int64_are_exact(layer):
    cols = {
        "caps_in": [160, 10**7, 256, 10**7, 3],
        "caps_out": [10, 10, 10, 1000, 2],
        "dim_in": [8, 8, 8, 8, 3],
        "dim_out": [16, 10**4, 16, 10**4, 5],
        "iterations": [3, 3, 3, 7, 2],
        "batch": [1, 2**20, 1, 10**6, 1],
    }
    ev = evaluate(layer, **cols)
    assert ev.exact_rows.tolist() == [False, True, False, True, False]
    assert ev.float_flops.dtype == object
    for i in range(5):
        _assert_row_equals_breakdown(ev, cols, i, layer, "paper")
    assert ev.totals(1)["flops"] > 2**63 and ev.totals(3)["flops"] > 2**63


def test_the_int64_path_would_have_wrapped():
    """The overflow row really overflows int64: evaluated naively it would be wrong."""
    c = compile_layer("xnidr")
    cols = [np.array([v], dtype=np.int64) for v in (10**7, 10, 8, 10**4, 3, 2**20)]
    with np.errstate(over="ignore"):
        naive = sum(int(v[0]) for v in c.count_fn(*cols) if isinstance(v, np.ndarray))
    exact = evaluate("xnidr", **dict(zip(FIELDS, (10**7, 10, 8, 10**4, 3, 2**20), strict=True)))
    assert int(exact.float_flops[0]) + int(exact.xnor_bops[0]) != naive


def test_values_beyond_int64_given_as_python_ints():
    big = 10**20
    ev = evaluate("dr", caps_in=[big, 5], caps_out=3, dim_in=2, dim_out=4, iterations=2, batch=1)
    assert ev.exact_rows.tolist() == [True, False]
    b = breakdown("dr", CapsShape(big, 3, 2, 4, 2, 1))
    assert ev.totals(0) == b.totals


def test_majorant_bounds_every_row():
    rng = np.random.default_rng(3)
    cols = _random_columns(rng, 300)
    for layer in LAYERS:
        c = compile_layer(layer, "ops")
        ev = evaluate(layer, "ops", **cols)
        for i in range(0, 300, 37):
            bound = c.bound_int(*(int(cols[f][i]) for f in FIELDS))
            t = ev.totals(i)
            assert bound >= int(ev.float_flops[i]) + t["xnor_bops"] + t["params"]


def test_evaluate_shapes_and_fc():
    shapes = [CapsShape(160, 10, 8, 16), CapsShape(256, 10, 8, 16, 3, 4)]
    ev = evaluate_shapes("xnodr", shapes)
    assert [ev.totals(i)["flops"] for i in range(2)] == [
        breakdown("xnodr", s).totals["flops"] for s in shapes
    ]
    fc = evaluate_fc((1280, 512, 256, 128, 10), [1, 3], "ops")
    assert fc.tolist() == [
        breakdown("fc", FCShape((1280, 512, 256, 128, 10), b), "ops").totals["flops"]
        for b in (1, 3)
    ]


def test_word_size_is_honoured():
    ev = evaluate(
        "xnidr", word_bits=32, caps_in=7, caps_out=3, dim_in=5, dim_out=40, iterations=3, batch=1
    )
    b = breakdown("xnidr", CapsShape(7, 3, 5, 40, 3, 1), "paper", 32)
    assert ev.totals(0) == b.totals and ev.word_bits == 32


@pytest.mark.parametrize("word", [64, 4096, 2**40])
def test_quotient_text_is_exact(word):
    """Exact for any power-of-two word; a 2**40-bit word must not build per-remainder tables."""
    nums = np.array([0, 1, 63, 64, 65, 4097, 10**15 + 3], dtype=np.int64)
    with decimal.localcontext(prec=100):  # k / 2**j has at most j decimals: exact here
        expected = [format((5 + Decimal(n) / word).normalize(), "f") for n in nums.tolist()]
    assert quotient_text(5, nums, word) == expected
    assert quotient_text(0, nums[:6], 64) == [exact_str(Fraction(n, 64)) for n in nums[:6].tolist()]


@pytest.mark.parametrize(
    "bad",
    [
        {"caps_in": 0},
        {"caps_in": [3, -1]},
        {"caps_in": [2.5]},
        {"caps_in": [True, 2]},
        {"caps_in": ["7"]},
        {"caps_in": [1, 2, 3], "dim_in": [1, 2]},
        {"caps_in": np.ones((2, 2), dtype=np.int64)},
    ],
)
def test_bad_inputs(bad):
    cols = {"caps_in": 1, "caps_out": 1, "dim_in": 1, "dim_out": 1, "iterations": 1, "batch": 1}
    with pytest.raises(XncostError):
        evaluate("dr", **{**cols, **bad})


def test_unknown_layer_and_missing_field():
    with pytest.raises(XncostError):
        evaluate("fc", caps_in=1)
    with pytest.raises(XncostError):
        evaluate("dr", caps_in=1, caps_out=1)


@pytest.mark.parametrize("power", [62, 63, 64, 1023, 1024, 4000])
def test_any_size_is_exact_without_numpy_warnings(power):
    """Mixed small and huge rows (lists of Python ints, as a sweep passes them): exact,
    and no OverflowError or numpy warning (float64 holds neither 2**1024 nor its products)."""
    values = [3, 2**power, 5]
    with np.errstate(all="raise"):
        ev = evaluate("xnidr", "paper", caps_in=values, caps_out=10, dim_in=8, dim_out=values,
                      iterations=3, batch=1)  # fmt: skip
    for i, v in enumerate(values):
        b = breakdown("xnidr", CapsShape(v, 10, 8, v, 3, 1), "paper")
        assert ev.totals(i) == b.totals
    assert ev.exact_rows.tolist() == [False, power > 60, False]
