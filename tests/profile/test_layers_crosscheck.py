"""ptflops', fvcore's and FlopCounterMode's figures on recurrent and upsampling layers (stored
fixtures with provenance, benchmarks/crosscheck/collect_layers.py) against xncost's, without
importing those tools: each tool's figure is an exact expression of xncost's counts."""

from __future__ import annotations

import copy
import json
from functools import cache

import torch
from support import FIXTURES, crosscheck_module

from xncost.conventions import OPS
from xncost.profile.summary import summary

FIXTURE = FIXTURES / "crosscheck" / "layers" / "torch_tools.json"
layer_models = crosscheck_module("layer_models")

RECURRENT = ("lstm", "lstm-proj", "gru", "rnn", "rnn-relu", "lstm-cell", "gru-cell", "rnn-cell")
UPSAMPLE_MODULES = ("upsample-nearest", "upsample-bilinear")  # nn.Upsample
FVCORE_UNSUPPORTED = {"lstm": "lstm", "lstm-proj": "lstm", "gru": "gru", "rnn": "rnn_tanh"}
FVCORE_UNSUPPORTED["rnn-relu"] = "rnn_relu"


def fixtures() -> dict:
    return json.loads(FIXTURE.read_text())


@cache
def facts(name: str) -> tuple[dict, int, int]:
    """xncost's figures by convention, float MACs, and the bias elements the products add."""
    model, shape = layer_models.build(name)
    torch.manual_seed(1)
    s = summary(model, torch.randn(1, *shape))
    tokens = shape[0] if len(shape) == 2 else 1  # a sequence of tokens, or one cell step
    biases = sum(p.numel() for n, p in model.named_parameters() if n.startswith("bias"))
    return s.flops_by_convention, s.totals["float_macs"], tokens * biases


def expected(tool: str, name: str) -> int:
    """The tool's figure from xncost's counts (docs/conventions.md, "Recurrent layers" and
    "Interpolation and data movement")."""
    flops, macs, bias_adds = facts(name)
    onednn_lstm = name == "lstm"  # runs `mkldnn_rnn_layer`, which only xncost prices
    if tool == "ptflops_pytorch":  # nn.Upsample: its module hook and its F.interpolate hook
        return flops["ptflops"] * (2 if name in UPSAMPLE_MODULES else 1)
    if tool == "ptflops_aten":  # MACs and bias adds of mm/addmm
        return 0 if onednn_lstm or name not in RECURRENT else macs + bias_adds
    if tool == "flop_counter":  # 2 per MAC of mm/addmm
        return 0 if onednn_lstm else 2 * macs
    if name in FVCORE_UNSUPPORTED or name == "interpolate-bicubic":
        return 0  # fvcore: no handle for aten::lstm, gru, rnn_*, upsample_bicubic2d
    if name in RECURRENT:
        return macs  # the cells' two linears, MACs only
    if name == "upsample-nearest":
        return flops["ptflops"]  # 1 per output element (xncost's ptflops price)
    return flops["ops"] // OPS.flops_per_mac  # bilinear: 4 per output, the elements weighed


def mismatches(data: dict) -> list[tuple[str, str, int, int]]:
    out = []
    for tool, meta in data.items():
        for name, figures in meta["models"].items():
            value = figures["macs"] if "macs" in figures else figures["total"]
            if value != expected(tool, name):
                out.append((tool, name, value, expected(tool, name)))
    return out


def test_fixtures_carry_provenance() -> None:
    data = fixtures()
    assert set(data) == {"fvcore", "flop_counter", "ptflops_pytorch", "ptflops_aten"}
    for meta in data.values():
        assert meta["tool"] and meta["command"].endswith("benchmarks/crosscheck/collect_layers.py")
        assert meta["versions"]["torch"].startswith("2.13.0")
        assert set(meta["models"]) == set(layer_models.MODELS)


def test_every_figure_is_an_expression_of_xncost_counts() -> None:
    data = fixtures()
    assert mismatches(data) == []
    assert data["ptflops_pytorch"]["models"]["lstm"]["macs"] == facts("lstm")[0]["ptflops"] > 0
    for name, op in FVCORE_UNSUPPORTED.items():
        assert data["fvcore"]["models"][name]["unsupported_ops"] == {f"aten::{op}": 1}


def test_a_changed_tool_figure_is_caught() -> None:
    data = copy.deepcopy(fixtures())
    data["ptflops_pytorch"]["models"]["gru"]["macs"] += 1
    assert [m[:2] for m in mismatches(data)] == [("ptflops_pytorch", "gru")]
