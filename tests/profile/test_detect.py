"""Automatic 1-bit detection (xncost.profile.detect, provenance): each binarization pattern of
public BNN code (tests/fixtures/public_style/patterns.py), what is not binary, and the
counts a reader is told (kinds, sign(0) zeros, warnings)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xncost.errors import XncostError
from xncost.profile.detect import RTOL, levels
from xncost.profile.summary import summary

sys.path.insert(0, str(Path(__file__).parents[1] / "fixtures" / "public_style"))
import patterns  # noqa: E402
import xnornet  # noqa: E402

CONV = 16 * 6 * 6 * 8 * 9  # outputs x dot length of the 8 -> 16 3x3 convolutions at 6x6


def bnn(model, shape, **kw):
    return summary(model, shape, convention="bnn", **kw)


@pytest.mark.parametrize(
    "build,shape,macs",
    [
        (patterns.WhereSign, (1, 8, 6, 6), CONV),
        (patterns.CompareSign, (2, 32), 2 * 10 * 32),
        (patterns.SteSign, (3, 64), 3 * 32 * 64),
        (patterns.ReluThenSign, (1, 8, 6, 6), CONV),
        (patterns.ZeroWeights, (1, 8, 6, 6), CONV),
        (patterns.SignWithoutZeros, (1, 8, 6, 6), 3 * 8 * 6 * 6 * 8 * 9),
    ],
)
def test_each_binarization_pattern_is_one_bit(build, shape, macs):
    s = bnn(build, shape)
    t = s.totals
    assert t["binary_macs"] == macs
    assert t["bops"] == macs and not any(w.startswith("warning") for w in s.warnings)
    assert s.detection.sign_like_ops > 0
    assert [row for row, _, _ in s.detection.one_bit] == [r.name for r in s.layers if r.binary_macs]


def test_scaled_weights_are_stored_at_one_bit_with_their_scales():
    where = bnn(patterns.WhereSign, (1, 8, 6, 6))  # alpha per output channel
    assert (where.totals["params_1bit"], where.totals["scales"]) == (16 * 8 * 9, 16)
    ste = bnn(patterns.SteSign, (3, 64))  # alpha per output row of the linear weight
    assert (ste.totals["params_1bit"], ste.totals["scales"]) == (32 * 64, 32)
    plain = bnn(patterns.ReluThenSign, (1, 8, 6, 6))  # sign(W): one magnitude
    assert (plain.totals["params_1bit"], plain.totals["scales"]) == (16 * 8 * 9, 1)
    assert plain.layer("conv0").params_1bit == 0  # the float 1x1 before it


def test_sign_zeros_are_counted_not_float():
    zeros = bnn(patterns.ZeroWeights, (1, 8, 6, 6))
    pruned = 16 * 2 * 9  # two input channels of every filter are exactly 0
    padding = 8 * (8 * 8 - 6 * 6)  # the explicit zero padding of sign(x)
    assert zeros.detection.sign_zeros == pruned + padding
    assert any(f"{pruned + padding:,} exact zeros from sign(0)" in w for w in zeros.warnings)
    relu = bnn(patterns.ReluThenSign, (1, 8, 6, 6))
    assert relu.detection.sign_zeros > 0 and relu.totals["binary_macs"] == CONV
    assert bnn(patterns.SignWithoutZeros, (1, 8, 6, 6)).detection.sign_zeros == 0


def test_one_binary_operand_is_float_work_said_so():
    s = bnn(patterns.BinaryActivationFloatWeight, (1, 8, 6, 6))
    t = s.totals
    assert t["binary_macs"] == 0 and t["float_macs"] == t["binary_activation_macs"] == CONV
    assert s.layer("conv").kind == "binary-activation"
    assert any(w.startswith("warning: the model ran 1 sign-like ops") for w in s.warnings)


def test_ternary_weights_are_ternary_not_one_bit():
    s = bnn(patterns.TernaryWeights, (1, 8, 6, 6))
    t = s.totals
    assert t["binary_macs"] == 0 and t["ternary_macs"] == t["float_macs"] == CONV
    assert t["params_1bit"] == 0
    assert s.layer("TernaryWeights").kind == "ternary"


def test_binarized_attention_scores_are_one_bit():
    s = bnn(patterns.SignAttention, (2, 5, 16))
    qk = 2 * 5 * 5 * 16  # sign(Q) @ sign(K)^T
    assert s.totals["binary_macs"] == qk
    assert s.layer("SignAttention").kind == "1-bit+float"  # softmax(scores) @ V stays float
    assert s.detection.one_bit == (("SignAttention", "aten.bmm", 1),)


@pytest.mark.parametrize("op", ["bmm", "einsum", "baddbmm", "matmul"])
def test_products_of_sign_tensors_through_every_matmul(op):
    class Scores(nn.Module):
        def forward(self, x):
            q, k = torch.sign(x), torch.sign(x.flip(-1)) * 0.5
            if op == "bmm":
                return torch.bmm(q, k.transpose(1, 2))
            if op == "einsum":
                return torch.einsum("bid,bjd->bij", q, k)
            if op == "baddbmm":
                return torch.baddbmm(torch.zeros(2, 3, 3), q, k.transpose(1, 2))
            return q @ k.transpose(-2, -1)

    assert bnn(Scores(), (2, 3, 8)).totals["binary_macs"] == 2 * 3 * 3 * 8


def test_values_alone_need_provenance_or_weights():
    torch.manual_seed(0)
    signs = torch.randn(1, 8, 6, 6).sign()  # +-1 made before the forward pass: no provenance
    conv = nn.Conv2d(8, 16, 3, padding=1, bias=False)
    assert bnn(conv, signs).totals["binary_macs"] == 0  # float weights
    with torch.no_grad():  # weights binarized earlier (a loader): exactly +-alpha per filter
        alpha = conv.weight.abs().mean(dim=(1, 2, 3), keepdim=True)
        conv.weight.copy_(conv.weight.sign() * alpha)
    s = bnn(conv, signs)
    assert s.totals["binary_macs"] == 0 and s.totals["binary_weight_macs"] == CONV
    assert (s.totals["params_1bit"], s.totals["scales"]) == (16 * 8 * 9, 16)
    assert bnn(lambda: conv, (1, 8, 6, 6)).totals["binary_weight_macs"] == CONV


def test_float_networks_stay_float():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 5))
    s = bnn(model, (2, 3, 6, 6))
    assert s.totals["binary_macs"] == s.totals["params_1bit"] == 0
    assert not s.warnings and s.detection.sign_like_ops == 0
    assert {r.kind for r in s.layers} == {"float", ""}


def test_weights_binarized_outside_forward_declared_or_found():
    fresh = bnn(xnornet.Net, (1, 3, 32, 32))
    assert fresh.totals["binary_macs"] == 0 and fresh.totals["binary_activation_macs"] > 0
    assert any("pass --binary BinConv2d (API: binary=['BinConv2d'])" in w for w in fresh.warnings)
    declared = bnn(xnornet.Net, (1, 3, 32, 32), binary=["BinConv2d"])
    assert declared.totals["binary_macs"] == fresh.totals["binary_activation_macs"]
    convs = [m.conv for m in xnornet.Net().modules() if isinstance(m, xnornet.BinConv2d)]
    assert declared.totals["params_1bit"] == sum(c.weight.numel() for c in convs)
    assert declared.totals["scales"] == sum(c.out_channels for c in convs)
    by_name = bnn(xnornet.Net, (1, 3, 32, 32), binary=["xnor.[356].conv"])
    assert by_name.totals == declared.totals
    trained = bnn(xnornet.trained, (1, 3, 32, 32))  # BinOp ran: alpha * sign(W) in the weights
    assert trained.totals["binary_macs"] == declared.totals["binary_macs"]
    assert trained.totals["scales"] == declared.totals["scales"]
    with pytest.raises(XncostError, match="matches no module"):
        bnn(xnornet.Net, (1, 3, 32, 32), binary=["NoSuchConv"])


def test_straight_through_rounding_within_the_tolerance_only():
    torch.manual_seed(0)
    x = torch.randn(4, 64)
    q = x * 3.3
    ste = torch.sign(x).detach() * 0.37 - q.detach() + q  # rounds: not exactly +-0.37
    lv = levels(ste, (-1,), RTOL)
    assert lv is not None and lv.per_tensor and levels(ste, (-1,), 0.0) is None
    assert levels(torch.sign(x) * (1 + 4 * RTOL * torch.rand(4, 64)), (-1,), RTOL) is None

    class Noisy(nn.Module):
        def forward(self, x):
            return F.linear(torch.sign(x) * (1 + 0.01 * torch.rand_like(x)), torch.sign(x[:3]))

    assert bnn(Noisy(), (4, 16)).totals["binary_macs"] == 0


@pytest.mark.parametrize("move", ["unsafe_split", "unsafe_chunk", "transpose_", "tensor_split"])
def test_a_sign_tensor_stays_one_bit_through_data_movement(move):
    class Moved(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(16, 4, 3, 3))

        def forward(self, x):
            s = torch.sign(x)
            if move == "unsafe_split":
                s = torch.unsafe_split(s, 4, dim=1)[1]
            elif move == "unsafe_chunk":
                s = torch.unsafe_chunk(s, 2, dim=1)[0]
            elif move == "tensor_split":
                s = torch.tensor_split(s, 2, dim=1)[1]
            else:
                s = s[:, :4].clone().transpose_(2, 3)
            return F.conv2d(s, torch.sign(self.w), padding=1)

    assert bnn(Moved(), (1, 8, 6, 6)).totals["binary_macs"] == CONV // 2
