"""Each external tool's figure (tests/fixtures/crosscheck/*.json) beside xncost's.

Runs in xncost's own environment (no TensorFlow, larq, ptflops or fvcore): every rule states
the tool's figure as an expression of xncost's summary of the same network, exactly; a rule
that does not hold is reported as `differs`. Used by `report.py` and
tests/profile/test_crosscheck.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xncost.models import build_model
from xncost.nn.xnor import BinarizeInput2d, XnorConv2d
from xncost.profile.summary import summarize_model

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "crosscheck"
# name -> build_model keyword arguments (as in collect_torch.py)
BUILD = {"mobilenet_xnidr": {"upsampling": False}}
POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)


@dataclass(frozen=True)
class Xn:
    """xncost's figures of one network, plus shape facts the rules need."""

    totals: dict[str, Any]
    memory_bits: int
    conventions: dict[str, int]
    rows: tuple
    bias_outputs: int  # outputs of nn.Conv2d / nn.Linear layers with a bias
    functional_again: int  # ReLU outputs + pooling inputs + XNOR-Net box-filter inputs
    bn_stats_no_affine: int  # 2 per channel of batch norms without affine parameters
    binarized_inputs: int  # input elements of the binary convolutions


def _hooked_counts(model: nn.Module, shape: tuple[int, ...]) -> tuple[int, int, int]:
    bias = again = binarized = 0

    def hook(m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal bias, again, binarized
        if isinstance(m, XnorConv2d) and m.mode == "xnor":
            binarized += inp[0].numel()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
            bias += out.numel()
        elif isinstance(m, nn.ReLU):
            again += out.numel()
        elif isinstance(m, POOLS):
            again += inp[0].numel()
        elif isinstance(m, BinarizeInput2d):
            again += inp[0].numel() // inp[0].shape[1] * m.groups  # the channel mean map

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    return bias, again, binarized


@cache
def xncost_figures(name: str) -> Xn:
    s = summarize_model(name, **BUILD.get(name, {}))
    model = build_model(name, **BUILD.get(name, {})).eval()
    bias, again, binarized = _hooked_counts(model, tuple(model.input_shape))
    no_affine = sum(
        2 * m.num_features
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d) and not m.affine
    )
    return Xn(
        totals=s.totals,
        memory_bits=sum(r.memory_bits for r in s.layers),
        conventions=s.flops_by_convention,
        rows=s.layers,
        bias_outputs=bias,
        functional_again=again,
        bn_stats_no_affine=no_affine,
        binarized_inputs=binarized,
    )


def xnor_scale_tf(x: Xn) -> int:
    """`tf`-priced work of XnorConv2d's input scale K, alpha and rescaling (bias add excluded)."""
    total = 0
    for r in x.rows:
        if r.type == XnorConv2d.__name__:
            total += r.flops_by_convention["tf"] - int(torch.Size(r.output_shape).numel())
    return total


@dataclass(frozen=True)
class Rule:
    quantity: str
    expression: str  # how xncost's figure is formed
    value: Callable[[Xn], int]
    why: str = ""  # why the tool's figure is not xncost's plain count


def _macs(x: Xn) -> int:
    return x.totals["float_macs"] + x.totals["binary_macs"]


RULES: dict[str, dict[str, Rule]] = {
    "larq": {
        "params_1bit": Rule("1-bit parameters", "params_1bit", lambda x: x.totals["params_1bit"]),
        "params_32bit": Rule(
            "32-bit parameters",
            "params_32bit + 2 x channels of BN without affine",
            lambda x: x.totals["params_32bit"] + x.bn_stats_no_affine,
            "larq counts a batch norm's moving mean and variance (it folds gamma/beta into "
            "them when present); a PyTorch batch norm without affine parameters has none",
        ),
        "params": Rule(
            "parameters",
            "params + 2 x channels of BN without affine",
            lambda x: x.totals["params"] + x.bn_stats_no_affine,
            "as above",
        ),
        "memory_bits": Rule(
            "memory (bits)",
            "memory - 32 x scales + 32 x (2 x channels of BN without affine)",
            lambda x: x.memory_bits - 32 * x.totals["scales"] + 32 * x.bn_stats_no_affine,
            "the Keras twin's QuantConv2D has no scaling factor alpha; xncost stores one "
            "32-bit alpha per binary filter",
        ),
        "macs_1bit": Rule("1-bit MACs", "binary_macs", lambda x: x.totals["binary_macs"]),
        "macs_32bit": Rule("32-bit MACs", "float_macs", lambda x: x.totals["float_macs"]),
    },
    "tf_profiler": {
        "float_ops": Rule(
            "float_ops",
            "FLOPs (`tf`) - XNOR scale work + 2 x binary MACs + binarized inputs + 1-bit weights",
            lambda x: (
                x.conventions["tf"]
                - xnor_scale_tf(x)
                + 2 * x.totals["binary_macs"]
                + x.binarized_inputs
                + x.totals["params_1bit"]
            ),
            "on a binary network TensorFlow prices the +-1 convolutions as float "
            "convolutions (2 per MAC), larq's ste_sign computes sign(sign(x) + 0.1) (one "
            "Add per binarized element, input and weight) and the twin has no XNOR-Net "
            "scales K and alpha; on a float network these terms are 0",
        ),
    },
    "ptflops_pytorch": {
        "macs": Rule(
            "MACs",
            "FLOPs (`ptflops`) + ReLU outputs + pooling inputs + box-filter inputs",
            lambda x: x.conventions["ptflops"] + x.functional_again,
            "ptflops 0.7.5 also counts torch.nn.functional calls (count_functional=True), "
            "including those inside hooked modules: every nn.ReLU and pooling layer is "
            "counted twice, and the avg-pool of XnorConv2d's input scale K once",
        ),
        "params": Rule("parameters", "params", lambda x: x.totals["params"]),
    },
    "ptflops_aten": {
        "macs": Rule(
            "MACs",
            "float MACs + binary MACs + bias outputs",
            lambda x: _macs(x) + x.bias_outputs,
            "the aten backend counts every convolution and matrix product, +-1 or not, and "
            "1 per output for a bias passed to it",
        ),
        "params": Rule("parameters", "params", lambda x: x.totals["params"]),
    },
    "fvcore": {
        "products": Rule(
            "conv + linear + matmul/einsum/bmm",
            "float MACs + binary MACs",
            _macs,
            "fvcore counts one per MAC of every product, +-1 or not; its total adds batch "
            "norm and adaptive pooling (not compared)",
        ),
    },
    "flop_counter": {
        "total": Rule(
            "FLOPs",
            "2 x (float MACs + binary MACs)",
            lambda x: 2 * _macs(x),
            "FlopCounterMode counts 2 per MAC of convolutions and matrix products only",
        ),
    },
}
PRODUCT_OPS = ("conv", "linear", "einsum", "matmul", "bmm", "addmm")


@dataclass(frozen=True)
class Row:
    tool: str
    model: str
    quantity: str
    tool_value: int
    xncost_value: int
    expression: str
    why: str

    @property
    def equal(self) -> bool:
        return self.tool_value == self.xncost_value


def load_fixtures(directory: Path = FIXTURES) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        out.update(json.loads(path.read_text(encoding="utf-8")))
    return out


def _tool_value(tool: str, key: str, figures: dict[str, Any]) -> int:
    if tool == "fvcore" and key == "products":
        return sum(v for k, v in figures["by_operator"].items() if k in PRODUCT_OPS)
    return int(figures[key])


def crosscheck_rows(fixtures: dict[str, dict[str, Any]] | None = None) -> list[Row]:
    fixtures = load_fixtures() if fixtures is None else fixtures
    rows = []
    for tool, rules in RULES.items():
        for model, figures in sorted(fixtures[tool]["models"].items()):
            x = xncost_figures(model)
            for key, rule in rules.items():
                rows.append(
                    Row(
                        tool,
                        model,
                        rule.quantity,
                        _tool_value(tool, key, figures),
                        int(rule.value(x)),
                        rule.expression,
                        rule.why,
                    )
                )
    return rows
