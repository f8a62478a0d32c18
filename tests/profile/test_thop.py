"""thop custom ops (xncost.profile.thop_ops): agreement with the dispatch counter under `ops`,
hand counts of docs/conventions.md under `paper`, and the paper's published XnODR figures."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import pytest
import thop
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from xncost.nn.binarize import Binarize
from xncost.nn.capsule import XnIDR, XnorAffine, XnorDotUpdate
from xncost.profile import custom_ops, measure_layer, thop_count
from xncost.profile.thop_ops import ThopRecorder

caps_shapes = st.builds(
    SimpleNamespace,
    caps_in=st.integers(1, 4),
    caps_out=st.integers(1, 4),
    dim_in=st.integers(1, 70),
    dim_out=st.integers(1, 70),
    iterations=st.integers(1, 4),
    batch=st.integers(1, 3),
)
layers = st.sampled_from(["dr", "xnodr", "xnidr"])


def paper_by_hand(layer: str, n: int, m: int, d: int, e: int, r: int, b: int) -> dict:
    """docs/conventions.md per step, generalised by batch: 2 FLOPs per MAC, 9 per binarized element,
    softmax 2 per pair, squash / b-add / alpha rescale free, 3 BOPs per 64-bit word.
    W_Cap is binarized once per forward pass, whatever the batch."""
    words_d, words_e = -(-d // 64), -(-e // 64)
    steps: dict[str, tuple[int, int]] = {}
    if layer == "xnodr":
        steps["expand"] = (0, 0)
        steps["binarize_input"] = (9 * b * n * m * d, 0)
        steps["weight"] = (0, 0)
        steps["binarize_weight"] = (9 * n * m * d * e, 0)
        steps["xnor_affine"] = (0, 3 * words_d * b * n * m * e)
    else:
        steps["lp_out"] = (2 * b * n * m * d * e, 0)
    steps["softmax"] = (2 * r * b * n * m, 0)
    steps["weighted_sum"] = (2 * r * b * n * m * e, 0)
    steps["squash"] = (0, 0)
    if r > 1:
        if layer == "xnidr":
            steps["binarize_uhat"] = (9 * (r - 1) * b * n * m * e, 0)
            steps["binarize_v"] = (9 * (r - 1) * b * m * e, 0)
            steps["xnor_agreement"] = (0, 3 * words_e * (r - 1) * b * n * m)
        else:
            steps["agreement"] = (2 * (r - 1) * b * n * m * e, 0)
    return steps


def _pairs(steps: dict) -> dict:
    return {k: (v["flops"], v["bops"]) for k, v in steps.items()}


@settings(max_examples=20, deadline=None)
@given(shape=caps_shapes, layer=layers)
def test_thop_and_dispatch_agree_under_ops(shape: SimpleNamespace, layer: str) -> None:
    by_thop = measure_layer(layer, shape, convention="ops", method="thop")
    by_dispatch = measure_layer(layer, shape, convention="ops", method="dispatch")
    assert by_dispatch.unknown_ops == ()
    assert by_thop.steps == by_dispatch.steps
    assert by_thop.totals == by_dispatch.totals
    assert by_thop.calls == by_dispatch.calls


@settings(max_examples=20, deadline=None)
@given(shape=caps_shapes, layer=layers)
def test_thop_paper_matches_spec_by_hand(shape: SimpleNamespace, layer: str) -> None:
    s = shape
    meas = measure_layer(layer, s, convention="paper", method="thop")
    want = paper_by_hand(layer, s.caps_in, s.caps_out, s.dim_in, s.dim_out, s.iterations, s.batch)
    assert _pairs(meas.steps) == want
    n_w = s.caps_in * s.caps_out * s.dim_in * s.dim_out
    assert meas.totals["params"] == n_w
    assert meas.steps["weight" if layer == "xnodr" else "lp_out"]["params"] == n_w
    bops = sum(b for _, b in want.values())
    flops = sum(f for f, _ in want.values())
    assert meas.totals["xnor_bops"] == bops
    assert meas.totals["flops"] == flops + Fraction(bops, 64)
    assert meas.totals["binarization_flops"] == sum(
        f for k, (f, _) in want.items() if k.startswith("binarize")
    )


PAPER_SHAPE = SimpleNamespace(caps_in=160, caps_out=10, dim_in=8, dim_out=16, iterations=3, batch=1)


def test_paper_xnodr_mobilenet_figures() -> None:
    """Table 5 at N = 160 (docs/conventions.md): 1.96M binarization, 76,800 BOPs, 2.23M in total."""
    totals = measure_layer("xnodr", PAPER_SHAPE, convention="paper").totals
    assert totals["binarization_flops"] == 1_958_400
    assert totals["xnor_bops"] == 76_800
    assert totals["xnor_flops"] == 1_200
    assert totals["flops"] == 2_225_200
    assert isinstance(totals["flops"], int)


def test_paper_dr_and_fc_figures() -> None:
    """Table 9 DR at N = 160 (675,200) and the MobileNetV2 FC head (1,640,960)."""
    assert measure_layer("dr", PAPER_SHAPE, convention="paper").totals["flops"] == 675_200
    fc = SimpleNamespace(dims=(1280, 512, 256, 128, 10), batch=1)
    assert measure_layer("fc", fc, convention="paper").totals["flops"] == 1_640_960


def test_fc_thop_and_dispatch_agree_under_ops() -> None:
    fc = SimpleNamespace(dims=(9, 70, 1, 4), batch=3)
    by_thop = measure_layer("fc", fc, convention="ops", method="thop")
    by_dispatch = measure_layer("fc", fc, convention="ops", method="dispatch")
    assert by_thop.steps == by_dispatch.steps
    assert by_thop.totals == by_dispatch.totals


@pytest.mark.parametrize("convention", ["paper", "ops"])
def test_binarize_costs_nine_per_element(convention: str) -> None:
    x = torch.randn(2, 3, 11)
    result = thop_count(Binarize(dim=-1), x, convention=convention)
    assert result.recorder.float_flops == 9 * x.numel()
    assert result.thop_total == 9 * x.numel()


@pytest.mark.parametrize("convention", ["paper", "ops"])
def test_thop_binary_check_uses_values(convention: str) -> None:
    b, n, m, d, e = 2, 3, 4, 5, 6
    outputs = b * n * m * e
    b_in, b_w = torch.randn(b, n, m, d), torch.randn(n, m, d, e)
    alphas = torch.rand(b, n, m, 1), torch.rand(n, m, 1, e)
    binary = thop_count(
        XnorAffine(), b_in.sign(), alphas[0], b_w.sign(), alphas[1], convention=convention
    )
    floats = thop_count(XnorAffine(), b_in, alphas[0], b_w, alphas[1], convention=convention)
    rescale = 0 if convention == "paper" else 2 * outputs
    assert (binary.recorder.bops, binary.recorder.float_flops) == (3 * outputs, rescale)
    assert (floats.recorder.bops, floats.recorder.float_flops) == (0, 2 * outputs * d + rescale)


def test_thop_total_is_flops_plus_xnor_flops_and_nothing_else() -> None:
    """thop's own functional counter must see no einsum outside the custom-op modules."""
    torch.manual_seed(1)
    model = XnIDR(5, 3, 4, 65, 3)
    result = thop_count(model, torch.randn(2, 5, 4), convention="ops")
    rec = result.recorder
    assert result.thop_total == pytest.approx(float(rec.float_flops + Fraction(rec.bops, 64)))
    assert rec.steps["xnor_agreement"].bops == 3 * 2 * 2 * 2 * 5 * 3
    assert result.thop_params == sum(p.numel() for p in model.parameters())


def test_custom_ops_is_usable_directly_with_thop() -> None:
    ops = custom_ops("paper")
    for cls in (Binarize, XnorAffine, XnorDotUpdate, nn.Linear):
        assert callable(ops[cls])
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    total, _ = thop.profile(model, inputs=(torch.randn(5, 4),), custom_ops=ops, verbose=False)
    assert total == 2 * 5 * (4 * 3 + 3 * 2)
    recorder = ThopRecorder(model)
    thop.profile(
        model, inputs=(torch.randn(5, 4),), custom_ops=custom_ops("ops", recorder), verbose=False
    )
    assert recorder.steps["1"].flops == 5 * 3
    assert recorder.steps["0"].flops == 2 * 5 * 4 * 3 + 5 * 3
