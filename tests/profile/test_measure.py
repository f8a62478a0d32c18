"""Analytic counts (xncost.core.accounting) against measured ones (thop and dispatch counter)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import invoke

from xncost.core.accounting import TOTAL_KEYS, breakdown
from xncost.core.layers import caps_layers
from xncost.core.shapes import CapsShape, FCShape
from xncost.profile.measure import measure_layer

shapes = st.builds(
    CapsShape,
    st.integers(1, 24),
    st.integers(1, 6),
    st.integers(1, 70),
    st.integers(1, 70),
    st.integers(1, 4),
    st.integers(1, 3),
)

# the custom shape of the issues' "Must show" lines
ISSUE_SHAPE = "--caps-in 37 --caps-out 7 --dim-in 5 --dim-out 11 --iterations 4 --batch 3".split()


def _per_step(m):
    return {k: (v["flops"], v["bops"]) for k, v in m.steps.items()}


@pytest.mark.parametrize("layer", caps_layers())
@settings(max_examples=6, deadline=None)
@given(shape=shapes, conv=st.sampled_from(["paper", "ops"]))
def test_formulas_equal_thop_per_step(layer, shape, conv):
    b = breakdown(layer, shape, conv)
    m = measure_layer(layer, shape, conv, "thop")
    expected = {s.name: (s.flops, s.bops) for s in b.steps if s.name in m.steps}
    assert _per_step(m) == expected
    assert all(s.flops == 0 and s.bops == 0 for s in b.steps if s.name not in m.steps)
    assert {k: m.totals[k] for k in TOTAL_KEYS} == b.totals


@pytest.mark.parametrize("layer", caps_layers())
@settings(max_examples=6, deadline=None)
@given(shape=shapes)
def test_ops_convention_equals_dispatch_counter(layer, shape):
    b = breakdown(layer, shape, "ops")
    m = measure_layer(layer, shape, "ops", "dispatch")
    assert m.unknown_ops == ()
    assert {k: m.totals[k] for k in TOTAL_KEYS} == b.totals
    expected = {s.name: (s.flops, s.bops) for s in b.steps if s.name in m.steps}
    assert _per_step(m) == expected


@pytest.mark.parametrize("dims,batch", [((7, 5, 3), 2), ((1280, 512, 256, 128, 10), 1)])
@pytest.mark.parametrize("conv,method", [("paper", "thop"), ("ops", "thop"), ("ops", "dispatch")])
def test_fc_heads_measured(dims, batch, conv, method):
    shape = FCShape(dims, batch)
    m = measure_layer("fc", shape, conv, method)
    assert {k: m.totals[k] for k in TOTAL_KEYS} == breakdown("fc", shape, conv).totals


def test_cost_measure_json_equals_totals():
    r = invoke(
        [
            "cost",
            "xnidr",
            *ISSUE_SHAPE,
            "--measure",
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["measured"] == d["totals"]


@pytest.mark.heavy
def test_table5_measure_fills_every_cell(tmp_path):
    r = invoke(["table5", "--measure", "--format", "json", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    cells = json.loads(r.stdout)["cells"]
    assert cells and all(c["measured"] == c["xncost"] for c in cells)


def test_measure_uses_the_formulas_word_size():
    r = invoke(
        ["cost", "xnidr", "--dim-out", "40", "--word-bits", "32", "--measure", "-f", "json"],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["measured"] == d["totals"] and d["measured_differs"] == []
    assert d["word_bits"] == 32


@pytest.mark.parametrize(
    "fmt,flag",
    [
        ("json", '"xnor_bops"'),
        ("csv", "differs: xnor_bops"),
        ("md", "DIFFERS"),
        ("table", "DIFFERS"),
    ],
)
def test_a_measured_difference_is_flagged_in_every_format(monkeypatch, fmt, flag):
    import xncost.api

    real = xncost.api.measure_layer_totals

    def off_by_one(b):
        m = dict(real(b))
        m["xnor_bops"] += 1
        return m

    monkeypatch.setattr(xncost.api, "measure_layer_totals", off_by_one)
    r = invoke(["cost", "xnidr", "--measure", "--format", fmt])
    assert r.exit_code == 0, r.output
    assert flag in r.stdout
    if fmt == "json":
        assert json.loads(r.stdout)["measured_differs"] == ["xnor_bops"]


def test_measure_refuses_huge_loop_counts():
    r = invoke(["cost", "xnidr", "--iterations", "1000000000000", "--measure"])
    assert r.exit_code == 2
    assert r.output.count("\n") == 1 and "routing iterations" in r.output
