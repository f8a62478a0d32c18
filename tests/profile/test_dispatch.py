"""Dispatch-level op counter (xncost.profile.dispatch) against hand counts of the `ops` rules."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from xncost.errors import XncostError
from xncost.nn.binarize import Binarize
from xncost.nn.capsule import AgreementUpdate, DynamicRouting, XnorAffine, XnorDotUpdate
from xncost.profile import OpCounter, count_ops, flop_counter_mapping, measure_layer


def ceil64(k: int) -> int:
    return -(-k // 64)


def dots(outputs: int, k: int) -> int:
    """A float contraction as einsum runs it: bmm (2 per MAC), or one mul when k == 1."""
    return outputs * (2 * k if k > 1 else 1)


def ops_by_hand(layer: str, n: int, m: int, d: int, e: int, r: int, b: int) -> dict:
    """Per-step (flops, bops) of one forward pass under the `ops` rules, written from the
    op list of xncost/nn/capsule.py and binarize.py."""
    steps: dict[str, tuple[int, int]] = {}
    if layer == "xnodr":
        steps["expand"] = (0, 0)
        steps["binarize_input"] = (9 * b * n * m * d, 0)
        steps["weight"] = (0, 0)
        steps["binarize_weight"] = (9 * n * m * d * e, 0)
        steps["xnor_affine"] = (2 * b * n * m * e, 3 * ceil64(d) * b * n * m * e)
    else:
        steps["lp_out"] = (dots(b * n * m * e, d), 0)
    steps["softmax"] = (r * 5 * b * n * m, 0)
    steps["weighted_sum"] = (r * dots(b * m * e, n), 0)
    steps["squash"] = (r * (3 * b * m * e + 5 * b * m), 0)
    if r > 1:
        if layer == "xnidr":
            steps["binarize_uhat"] = ((r - 1) * 9 * b * n * m * e, 0)
            steps["binarize_v"] = ((r - 1) * 9 * b * m * e, 0)
            steps["xnor_agreement"] = ((r - 1) * 3 * b * n * m, (r - 1) * 3 * ceil64(e) * b * n * m)
        else:
            steps["agreement"] = ((r - 1) * (dots(b * n * m, e) + b * n * m), 0)
    return steps


caps_shapes = st.builds(
    SimpleNamespace,
    caps_in=st.integers(1, 4),
    caps_out=st.integers(1, 4),
    dim_in=st.integers(1, 70),
    dim_out=st.integers(1, 70),
    iterations=st.integers(1, 4),
    batch=st.integers(1, 3),
)


@settings(max_examples=20, deadline=None)
@given(shape=caps_shapes, layer=st.sampled_from(["dr", "xnodr", "xnidr"]))
def test_dispatch_matches_ops_rules_by_hand(shape: SimpleNamespace, layer: str) -> None:
    s = shape
    meas = measure_layer(layer, s, convention="ops", method="dispatch")
    assert meas.unknown_ops == ()
    want = ops_by_hand(layer, s.caps_in, s.caps_out, s.dim_in, s.dim_out, s.iterations, s.batch)
    got = {k: (v["flops"], v["bops"]) for k, v in meas.steps.items()}
    assert got == want
    bops = sum(b for _, b in want.values())
    assert meas.totals["xnor_bops"] == bops
    assert meas.totals["flops"] == sum(f for f, _ in want.values()) + Fraction(bops, 64)


def test_routing_modules_called_r_and_r_minus_1_times() -> None:
    shape = SimpleNamespace(caps_in=3, caps_out=2, dim_in=4, dim_out=5, iterations=4, batch=2)
    meas = measure_layer("xnidr", shape, convention="ops", method="dispatch")
    assert meas.calls["softmax"] == meas.calls["weighted_sum"] == meas.calls["squash"] == 4
    assert meas.calls["binarize_uhat"] == meas.calls["xnor_agreement"] == 3
    assert meas.calls["lp_out"] == 1


def test_binarize_is_nine_ops_per_element() -> None:
    x = torch.randn(3, 5, 7)
    counter = count_ops(Binarize(dim=1), x)
    (step,) = counter.steps.values()
    assert step.flops == 9 * x.numel()
    ops = {op for op, f in step.ops.items() if f}
    assert ops == {
        "aten.mul",
        "aten.add",
        "aten.clamp",
        "aten.round",
        "aten.sub",
        "aten.abs",
        "aten.mean",
    }
    assert step.ops["aten.clamp"] == 2 * x.numel()
    assert step.ops["aten.mul"] == 2 * x.numel()
    # on an expanded (stride-0) view every logical element is computed
    xe = torch.randn(2, 4, 1, 3).expand(2, 4, 6, 3)
    assert count_ops(Binarize(), xe).flops == 9 * 2 * 4 * 6 * 3


class _Holder(nn.Module):
    def __init__(self, step: nn.Module) -> None:
        super().__init__()
        self.xnor_affine = step

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.xnor_affine(*args)


def _affine_inputs(binary: bool) -> tuple[torch.Tensor, ...]:
    b, n, m, d, e = 2, 3, 4, 5, 6
    b_in, b_w = torch.randn(b, n, m, d), torch.randn(n, m, d, e)
    if binary:
        b_in, b_w = b_in.sign(), b_w.sign()
    return b_in, torch.rand(b, n, m, 1), b_w, torch.rand(n, m, 1, e)


def test_binary_step_value_check_is_real() -> None:
    outputs, k = 2 * 3 * 4 * 6, 5
    binary = count_ops(_Holder(XnorAffine()), *_affine_inputs(True)).steps["xnor_affine"]
    assert (binary.bops, binary.flops) == (3 * outputs, 2 * outputs)
    assert binary.ops["aten.bmm (bops)"] == 3 * outputs
    floats = count_ops(_Holder(XnorAffine()), *_affine_inputs(False)).steps["xnor_affine"]
    assert floats.bops == 0
    assert floats.flops == 2 * outputs * k + 2 * outputs
    assert floats.xnor_flops == 0


def test_pm1_product_outside_a_binary_step_is_float() -> None:
    b_hat = torch.randn(2, 3, 4, 5).sign()
    v = torch.randn(2, 4, 5).sign()
    step = count_ops(AgreementUpdate(), torch.zeros(2, 3, 4), b_hat, v).steps["AgreementUpdate"]
    assert step.bops == 0
    assert step.flops == 2 * 24 * 5 + 24


def test_binary_step_word_packing_crosses_64() -> None:
    b, n, m, e = 1, 2, 3, 65
    args = (
        torch.zeros(b, n, m),
        torch.randn(b, n, m, e).sign(),
        torch.rand(b, n, m, 1),
        torch.randn(b, m, e).sign(),
        torch.rand(b, m, 1),
    )
    counter = count_ops(XnorDotUpdate(), *args)
    assert counter.bops == 3 * 2 * b * n * m
    assert counter.xnor_flops == Fraction(3 * 2 * b * n * m, 64)


def test_unknown_ops_are_reported_not_zeroed() -> None:
    class Odd(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cumsum(x, 0) + torch.lgamma(x)

    counter = count_ops(Odd(), torch.randn(4))
    assert "Odd: aten.cumsum" in counter.unknown_ops
    assert "Odd: aten.lgamma" in counter.unknown_ops
    assert counter.flops == 4  # only the add has a rule


def test_ops_outside_modules_are_global_and_counted() -> None:
    with OpCounter() as counter:
        torch.randn(3, 4) @ torch.randn(4, 5)
    assert counter.flops == 2 * 3 * 4 * 5
    assert counter.steps["(global)"].ops["aten.mm"] == 120
    assert "(global): aten.randn" in counter.unknown_ops


def test_fc_stack_counts_bias_and_relu() -> None:
    meas = measure_layer("fc", SimpleNamespace(dims=(7, 5, 3), batch=2), "ops", "dispatch")
    assert list(meas.steps) == ["fc1", "fc2"]  # relu1 is reported inside fc1
    assert meas.by_op["fc1"] == {"aten.t": 0, "aten.addmm": 2 * 2 * 7 * 5 + 2 * 5, "aten.relu": 10}
    assert meas.steps["fc1"]["flops"] == 2 * 2 * 7 * 5 + 2 * 5 + 2 * 5
    assert meas.steps["fc2"]["flops"] == 2 * 2 * 5 * 3 + 2 * 3
    assert meas.totals["params"] == 7 * 5 + 5 + 5 * 3 + 3


def test_flop_counter_mode_mapping_matches_dispatch_on_float_layers() -> None:
    torch.manual_seed(0)
    model = DynamicRouting(6, 3, 5, 7, 3)
    x = torch.randn(2, 6, 5)
    counter = count_ops(model, x)
    with (
        torch.no_grad(),
        FlopCounterMode(display=False, custom_mapping=flop_counter_mapping()) as f,
    ):
        model(x)
    assert f.get_total_flops() == counter.flops
    per_module = {k: sum(v.values()) for k, v in f.get_flop_counts().items()}
    assert per_module["DynamicRouting.routing.softmax"] == counter.steps["softmax"].flops
    assert per_module["DynamicRouting.lp_out"] == counter.steps["lp_out"].flops


def test_measure_rejects_bad_requests() -> None:
    shape = SimpleNamespace(caps_in=2, caps_out=2, dim_in=2, dim_out=2, iterations=1, batch=1)
    with pytest.raises(XncostError):
        measure_layer("capsnet", shape)
    with pytest.raises(XncostError):
        measure_layer("dr", shape, convention="paper", method="dispatch")
    with pytest.raises(XncostError):
        measure_layer("dr", SimpleNamespace(**{**vars(shape), "caps_in": 0}))


def test_prelu_is_priced_per_element() -> None:
    counter = count_ops(nn.PReLU(3), torch.randn(2, 3, 4, 5))
    assert not counter.unknown_ops
    assert counter.flops == 2 * 2 * 3 * 4 * 5  # multiply by the slope, select
