"""The counting engine and the convention plugins (docs/architecture.md, "How to add a
convention"): one registry, one rule signature, an engine that names no convention, layers
that declare themselves binary without importing the profiler."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from xncost.conventions import (
    ALL_CONVENTIONS,
    MODEL,
    MODEL_CONVENTIONS,
    Convention,
    Count,
    OpEvent,
    RuleSet,
    register_convention,
)
from xncost.errors import XncostError
from xncost.profile.dispatch import count_ops
from xncost.profile.summary import summary

REPO = Path(__file__).resolve().parents[2]
ENGINE = ("engine.py", "counter.py", "dispatch.py", "detect.py", "provenance.py", "ledger.py")


def _modules_after(statement: str) -> list[str]:
    code = (
        f"import sys; {statement}; "
        "print(sorted(m for m in sys.modules if m.startswith(('xncost.profile', 'torch'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(out.stdout)


@pytest.mark.heavy
@pytest.mark.parametrize("package", ["xncost.models", "xncost.nn"])
def test_layers_and_models_import_no_profiler(package):
    loaded = _modules_after(f"import {package}")
    assert not [m for m in loaded if m.startswith("xncost.profile")], loaded


def test_conventions_import_without_torch():
    assert _modules_after("import xncost.conventions") == []


def test_the_engine_names_no_convention():
    names = "|".join(re.escape(n) for n in ALL_CONVENTIONS)
    for name in ENGINE:
        text = (REPO / "xncost" / "profile" / name).read_text()
        assert not re.search(rf"[\"']({names})[\"']", text), name


@pytest.fixture()
def scratch_convention():
    """A whole-model convention registered for one test: 7 FLOPs per product, 1 per other op."""
    rules = RuleSet("scratch rules", fallback=lambda ev, conv: 1)

    @rules.register("aten::convolution", "aten::addmm", "aten::mm")
    def product(ev: OpEvent, conv: Convention) -> int:
        return conv.flops_per_mac * ev.dots.count

    scratch = Convention("scratch", "test", flops_per_mac=7, scopes=(MODEL,), rules=rules)
    conv = register_convention(scratch)
    try:
        yield conv
    finally:
        for table in (ALL_CONVENTIONS, MODEL_CONVENTIONS):
            table.pop("scratch", None)


def test_a_registered_convention_is_priced_by_every_counter(scratch_convention):
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4))
    s = summary(model, (1, 2, 4, 4), convention="scratch")
    outputs = 3 * 2 * 2 + 4  # one dot product per output of the conv and the linear layer
    others = 3  # relu, flatten's view, the linear weight's transpose: 1 each (the fallback)
    assert s.totals["float_flops"] == 7 * outputs + others
    assert s.flops_by_convention["scratch"] == s.totals["float_flops"]
    counter = count_ops(model, torch.randn(1, 2, 4, 4), conv=scratch_convention)
    assert counter.float_flops == 7 * outputs + others
    with pytest.raises(XncostError, match="already registered"):
        register_convention(scratch_convention)


def test_a_model_convention_needs_rules():
    with pytest.raises(XncostError, match="no rules"):
        register_convention(Convention(name="norules", description="", scopes=(MODEL,)))


def test_one_count_record_derives_xnor_flops():
    c = Count(float_macs=3, binary_macs=640, flops=10, bops=96, word=64)
    assert c.xnor_flops == 96 / 64 and c.total == 10 + c.xnor_flops
    c.add(Count(flops=1, bops=32))
    assert (c.flops, c.bops, c.xnor_flops) == (11, 128, 2)


def test_cli_convention_choices_come_from_the_registry():
    from xncost.cli.commands.common import Conv, ModelConv
    from xncost.conventions import CONVENTIONS

    assert [c.value for c in Conv] == list(CONVENTIONS)
    assert [c.value for c in ModelConv] == list(MODEL_CONVENTIONS)


class _WhereConv(torch.nn.Conv2d):
    """A binary convolution whose bias stays real-valued: sign by `where`, both operands."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xb = torch.where(x >= 0, 1.0, -1.0)
        wb = torch.where(self.weight >= 0, 1.0, -1.0)
        return torch.nn.functional.conv2d(xb, wb, self.bias, self.stride, self.padding)


def test_the_bias_of_a_one_bit_product_is_float_work():
    from xncost.profile.summary import summary

    def flops(bias: bool) -> dict:
        net = _WhereConv(4, 8, 3, padding=1, bias=bias)
        return summary(net, (2, 4, 5, 5)).flops_by_convention

    with_bias, without = flops(True), flops(False)
    outputs = 2 * 8 * 5 * 5  # one add per output element
    assert with_bias["ops"] - without["ops"] == outputs
    assert with_bias["tf"] - without["tf"] == outputs
    assert with_bias["bnn"] == without["bnn"] == 0  # the literature's FLOPs: MACs only
