"""Interpolation and data movement (docs/conventions.md, "Interpolation and data movement"):
every mode of F.interpolate and nn.Upsample has a rule in every convention and every counting
path agrees; the antialiased kernel's windows are the input elements it really weighs;
pixel_shuffle and the other copies are free."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from support import crosscheck_module
from torch import nn

from xncost.conventions import OPS, PTFLOPS, TF
from xncost.conventions.interpolation import INTERPOLATIONS, weighted_taps
from xncost.profile.dispatch import OpCounter
from xncost.profile.paths import count_paths
from xncost.profile.summary import summary

Interpolate = crosscheck_module("layer_models").Interpolate  # F.interpolate in a forward

# mode -> (input shape, F.interpolate arguments, input elements weighed per output)
MODES = {
    "nearest": ((2, 3, 5, 6), {"scale_factor": 2}, 0),
    "nearest-exact": ((2, 3, 5, 6), {"size": (7, 9), "mode": "nearest-exact"}, 0),
    "nearest-1d": ((2, 3, 6), {"scale_factor": 1.5}, 0),
    "nearest-3d": ((1, 2, 3, 4, 5), {"size": (4, 6, 7)}, 0),
    "linear": ((2, 3, 6), {"scale_factor": 2, "mode": "linear"}, 2),
    "bilinear": ((2, 3, 5, 6), {"size": (9, 7), "mode": "bilinear"}, 4),
    "bilinear-corners": ((2, 3, 5, 6), {"size": 11, "mode": "bilinear", "align_corners": True}, 4),
    "bicubic": ((2, 3, 5, 6), {"scale_factor": 2, "mode": "bicubic"}, 16),
    "trilinear": ((1, 2, 3, 4, 5), {"scale_factor": 2, "mode": "trilinear"}, 8),
}
ANTIALIAS = {
    "bilinear-aa-down": ((2, 3, 12, 16), {"size": (5, 4), "mode": "bilinear", "antialias": True}),
    "bilinear-aa-up": ((2, 3, 5, 6), {"scale_factor": 2, "mode": "bilinear", "antialias": True}),
    "bicubic-aa": ((2, 3, 12, 10), {"scale_factor": 0.5, "mode": "bicubic", "antialias": True}),
    "bilinear-aa-width": ((2, 3, 6, 16), {"size": (6, 5), "mode": "bilinear", "antialias": True}),
}


def _case(mode: str) -> tuple[nn.Module, torch.Tensor]:
    shape, how = {**MODES, **ANTIALIAS}[mode][:2]
    torch.manual_seed(0)
    return Interpolate(**how), torch.randn(*shape)


def _output_elements(model: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad():
        return model(x).numel()


@pytest.mark.parametrize("mode", MODES)
def test_prices_per_output_element(mode: str) -> None:
    """ops: a dot product over the elements weighed (2 each, a nearest copy 0); tf: free (no
    Resize* entry in the profiler); ptflops: 1 per output element (its F.interpolate hook);
    bnn and macs: no MACs."""
    model, x = _case(mode)
    taps, out = MODES[mode][2], _output_elements(model, x)
    s = summary(model, x)
    assert s.unknown_ops == ()
    assert s.flops_by_convention == {
        "ops": OPS.flops_per_mac * taps * out,
        "tf": 0,
        "ptflops": out,
        "bnn": 0,
        "macs": 0,
    }


@pytest.mark.parametrize("mode", [*MODES, *ANTIALIAS])
def test_every_counting_path_agrees(mode: str) -> None:
    """FlopCounterMode would first decompose `upsample_nearest2d` into index arithmetic (64
    FLOPs on an 8x8 upsampling): it must count the op the engine sees."""
    model, x = _case(mode)
    p = count_paths(model, x)
    assert p["dispatch"]["flops"] == p["summary"]["flops"] == p["flop_counter"]["flops"]


def _influence(model: nn.Module, x: torch.Tensor) -> int:
    """(output, input) pairs whose weight is not zero, probed with one-hot inputs: the input
    elements the kernel weighs when none of its weights is 0."""
    with torch.no_grad():
        base = model(torch.zeros_like(x))
        pairs = 0
        for i in range(x.numel()):
            probe = torch.zeros(x.numel())
            probe[i] = 1.0
            pairs += int((model(probe.reshape(x.shape)) != base).sum())
    return pairs


@pytest.mark.parametrize("width", [(16, 5), (13, 4), (4, 7)])
def test_antialiased_windows_are_what_the_kernel_weighs(width: tuple[int, int]) -> None:
    """One horizontal pass (the height unchanged): the windows computed from the kernel's
    formula hold exactly the input elements that move each output. (Bilinear's triangle
    filter is zero only on the support's edge, which no input of these widths lands on; 12
    to 4 has such inputs: the kernel weighs them by 0, the probe cannot see them.)"""
    size, out = (1, 1, 1, width[0]), (1, width[1])
    model = Interpolate(size=out, mode="bilinear", antialias=True)
    x = torch.randn(*size)
    with torch.no_grad():
        y = model(x)
    op = "aten::_upsample_bilinear2d_aa"
    assert weighted_taps(op, (x, list(out), False, None, None), {}, y) == _influence(model, x)


@pytest.mark.parametrize("mode", ANTIALIAS)
def test_antialias_passes(mode: str) -> None:
    """The separable kernel: a pass per resized dimension, the width first; upsampling keeps
    the plain support (2 per dimension for bilinear), so at most 3 inputs per output."""
    model, x = _case(mode)
    s = summary(model, x)
    assert s.unknown_ops == ()
    out = _output_elements(model, x)
    ops = s.flops_by_convention["ops"]
    assert ops > 0 and ops % OPS.flops_per_mac == 0
    if mode == "bilinear-aa-up":
        n, c, h, w = x.shape
        widest = n * c * (h * 2 * w + 2 * h * 2 * w) * 3  # at most 3 inputs per pass output
        assert ops <= OPS.flops_per_mac * widest
    assert s.flops_by_convention["ptflops"] == out and s.flops_by_convention["tf"] == 0


def test_nn_upsample_modules_and_the_vec_overload() -> None:
    """nn.Upsample, nn.UpsamplingBilinear2d (align_corners) and the `.vec` overload (what
    FlopCounterMode calls when it does not decompose) are priced alike."""
    x = torch.randn(1, 4, 8, 8)
    up = summary(nn.Upsample(scale_factor=2, mode="bilinear"), x).flops_by_convention
    assert up["ops"] == 2 * 4 * 4 * 16 * 16 and up["ptflops"] == 4 * 16 * 16
    corners = summary(nn.UpsamplingBilinear2d(scale_factor=2), x).flops_by_convention
    assert corners == up
    out = F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True)
    op = "aten::_upsample_bilinear2d_aa"
    vec = weighted_taps(op, (x, None, False, [0.5, 0.5]), {}, out)
    assert vec == weighted_taps(op, (x, [4, 4], False, 0.5, 0.5), {}, out) > 0


def test_every_upsample_op_is_priced_by_every_convention() -> None:
    for op in INTERPOLATIONS:
        assert op in OPS.rules and op in TF.rules
    ptflops = PTFLOPS.rules.fallback
    assert ptflops is not None and ptflops.__name__ == "functional_rule"


DATA_MOVEMENT = {
    "pixel_shuffle": lambda x: F.pixel_shuffle(x, 2),
    "pixel_unshuffle": lambda x: F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2),
    "channel_shuffle": lambda x: nn.ChannelShuffle(2)(x),
    "in-place views": lambda x: x.clone().transpose_(0, 1).unsqueeze_(0).squeeze_(0)[0, 0].t_(),
    "splits": lambda x: [*torch.unsafe_split(x, 2, 1), *x.unsafe_chunk(2, 2)],
    "tensor_split": lambda x: torch.cat(torch.tensor_split(x, 3, dim=3), 3),
    "copies": lambda x: x.flip(1).roll(1, 2).repeat(1, 1, 2, 1).rot90(1, (2, 3)),
    "gathers": lambda x: x.index_select(1, torch.tensor([0, 2])).swapaxes(1, 2).movedim(1, 3),
    "tile": lambda x: x.tile((1, 2, 1, 1)).repeat_interleave(2, dim=0).unfold(3, 2, 1),
}


@pytest.mark.parametrize("name", DATA_MOVEMENT)
def test_data_movement_is_known_and_free(name: str) -> None:
    fn = DATA_MOVEMENT[name]
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad(), OpCounter() as counter:
        fn(x)
    assert counter.unknown_ops == []
    assert counter.flops == 0 and math.prod(x.shape) > 0
