"""The `macs` convention: every MAC one, float or 1-bit, as FlopCounterMode counts them."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from xncost.conventions import MODEL_CONVENTIONS, get_convention
from xncost.errors import XncostError
from xncost.models.registry import build_model
from xncost.profile.summary import summary


def test_registered_for_whole_networks_only():
    conv = get_convention("macs", None, MODEL_CONVENTIONS)
    assert conv.word_bits == 1 and conv.fixed_word
    with pytest.raises(XncostError, match="macs"):
        get_convention("macs")


def test_total_is_every_mac_as_torch_counts_them():
    """torch's FlopCounterMode prices conv and linear at 2 FLOPs per MAC, 1-bit or not."""
    net = build_model("birealnet18").eval()
    s = summary(net, (1, 3, 32, 32), convention="macs")
    t = s.totals
    assert t["binary_macs"] > 0
    assert t["ops"] == t["float_macs"] + t["binary_macs"]
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        net(torch.zeros(1, 3, 32, 32))
    assert 2 * t["ops"] == fc.get_total_flops()


def test_word_cannot_be_changed():
    with pytest.raises(XncostError, match="fixes the word at 1"):
        summary(build_model("resnet_xnodr"), (1, 3, 32, 32), convention="macs", word=64)
