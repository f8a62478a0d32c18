"""The four counting paths on one mixed model agree where docs/conventions.md (and the
README's path table) say they see the same thing."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xncost.conventions import OPS, RuleSet
from xncost.errors import XncostError
from xncost.nn.capsule import XnIDR
from xncost.nn.xnor import XnorConv2d, XnorLinear
from xncost.profile import thop_count
from xncost.profile.binary import register_binary
from xncost.profile.paths import count_paths
from xncost.profile.summary import summary


@register_binary
class SignConv2d(nn.Conv2d):
    """A user's binary convolution: sign(x) conv sign(W), no scale."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(torch.sign(x), torch.sign(self.weight), None, self.stride, self.padding)


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.xnor = XnorConv2d(8, 16, 3, padding=1, mode="xnor")
        self.bwn = XnorConv2d(16, 16, 3, padding=1, mode="bwn")
        self.sign = SignConv2d(16, 16, 3, padding=1, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = XnorLinear(64, 48)
        self.caps = XnIDR(6, 4, 8, 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn(self.conv(x)))
        y = self.sign(self.bwn(self.xnor(y)))
        y = self.fc(self.pool(y).flatten(1))
        return self.caps(y.reshape(x.shape[0], 6, 8))


@pytest.fixture(scope="module")
def mixed():
    torch.manual_seed(0)
    model = Mixed()
    x = torch.randn(2, 3, 12, 12)
    return model, x, count_paths(model, x)


def test_macs_equal_on_every_path_that_sees_them(mixed):
    _, _, p = mixed
    for key in ("float_macs", "binary_macs", "bops", "bnn_ops"):
        assert p["thop"][key] == p["dispatch"][key] == p["summary"][key], key
    assert p["summary"]["binary_macs"] > 0 and p["summary"]["float_macs"] > 0
    # FlopCounterMode sees no module: every product's MACs together, 1-bit ones as float
    fc = p["flop_counter"]
    assert fc["all_macs"] == p["summary"]["float_macs"] + p["summary"]["binary_macs"]
    assert fc["flops"] == p["summary"]["flops"] + OPS.flops_per_mac * p["summary"]["binary_macs"]


def test_dispatch_and_summary_flops_equal(mixed):
    _, _, p = mixed
    assert p["dispatch"]["flops"] == p["summary"]["flops"]


def test_thop_one_unit_and_what_it_cannot_see(mixed):
    model, x, p = mixed
    result = thop_count(model, x, convention="ops")
    rec = result.recorder
    assert Fraction(result.thop_total) == Fraction(result.flops)  # nothing in thop's own unit
    assert rec.unpriced == ["BatchNorm2d", "AdaptiveAvgPool2d"]
    s = summary(model, x, convention="ops")
    # layers thop sees whole are priced as the summary prices them (the capsule head: its steps)
    for name in ("conv", "relu"):
        assert rec.steps[name].flops == s.layer(name).float_flops, name
    top = {name for name, _ in model.named_children()}
    caps = sum(st.flops for name, st in rec.steps.items() if name not in top)
    assert caps == s.layer("caps").float_flops
    # registered binary layers: the product only (no binarization, no rescale)
    assert rec.steps["sign"].flops == 0 < s.layer("sign").float_flops
    assert p["thop"]["flops"] < p["summary"]["flops"]


def test_bnn_convention_from_macs(mixed):
    model, x, p = mixed
    s = summary(model, x, convention="bnn")
    t = s.totals
    assert t["float_flops"] == p["summary"]["float_macs"]
    assert t["bops"] == p["summary"]["binary_macs"]
    assert t["ops"] == p["summary"]["bnn_ops"]
    assert t["ops"] == t["float_macs"] + Fraction(t["binary_macs"], 64)


def test_registries_refuse_duplicates():
    reg = RuleSet("test rules")
    reg.register("a")(lambda ev, conv: 0)
    with pytest.raises(XncostError, match="already registered"):
        reg.register("a")(lambda ev, conv: 1)
    reg.register("a", override=True)(lambda ev, conv: 2)
    assert reg.get("a")(None, OPS) == 2
    with pytest.raises(XncostError, match="already registered"):
        OPS.rules.register("aten::mm")(lambda ev, conv: 0)
    with pytest.raises(XncostError, match="already registered"):
        register_binary(SignConv2d)


def test_docs_convention_table_matches_the_conventions():
    from pathlib import Path

    from xncost.conventions import ALL_CONVENTIONS, Convention

    doc = (Path(__file__).resolve().parents[2] / "docs" / "conventions.md").read_text()
    names = Convention.table_fields()
    rows = {}
    for line in doc.splitlines():
        if line.startswith("| `") and line.count("|") == len(names) + 3:
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells[1:]
    assert list(rows) == list(ALL_CONVENTIONS)  # one row per registered convention, in order
    for name, conv in ALL_CONVENTIONS.items():
        assert rows[name] == [", ".join(conv.scopes)] + [str(getattr(conv, f)) for f in names]
