"""ptflops (both backends), fvcore and torch's FlopCounterMode on xncost's PyTorch networks.

Runs in the cross-check environment (benchmarks/crosscheck/README.md):

    python benchmarks/crosscheck/collect_torch.py [--out tests/fixtures/crosscheck/torch_tools.json]

Every tool gets the model of `xncost.models.build_model(name)` in eval mode and one input of
batch 1 at the model's default size; nothing of xncost's counting is imported.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import torch
from fvcore.nn import FlopCountAnalysis
from ptflops import get_model_complexity_info
from torch.utils.flop_counter import FlopCounterMode

from xncost.models import build_model

# name -> build_model keyword arguments
MODELS = {
    "nin": {},
    "nin-xnor": {},
    "alexnet-xnor": {},
    "birealnet18": {},
    "mobilenet_xnidr": {"upsampling": False},
}


def _model(name: str) -> tuple[torch.nn.Module, tuple[int, ...]]:
    torch.manual_seed(0)
    model = build_model(name, **MODELS[name]).eval()
    return model, tuple(model.input_shape)


def run_ptflops(name: str, backend: str) -> dict[str, int]:
    model, shape = _model(name)
    with torch.no_grad():
        macs, params = get_model_complexity_info(
            model, shape, as_strings=False, print_per_layer_stat=False, backend=backend
        )
    return {"macs": int(macs), "params": int(params)}


def fvcore_figures(model: torch.nn.Module, x: torch.Tensor) -> dict[str, object]:
    """fvcore's total, per-operator figures and unsupported ops of `model(x)`, no grad."""
    with torch.no_grad():
        fca = FlopCountAnalysis(model, x).unsupported_ops_warnings(False)
        fca.uncalled_modules_warnings(False)
        total = int(fca.total())
        by_op = {k: int(v) for k, v in sorted(fca.by_operator().items())}
        unsupported = dict(sorted(Counter(fca.unsupported_ops()).items()))
    return {"total": total, "by_operator": by_op, "unsupported_ops": unsupported}


def flop_counter_figures(model: torch.nn.Module, x: torch.Tensor) -> dict[str, object]:
    """FlopCounterMode's total and per-operator figures of `model(x)`, no grad."""
    mode = FlopCounterMode(display=False)
    with torch.no_grad(), mode:
        model(x)
    by_op = {str(k): int(v) for k, v in mode.get_flop_counts().get("Global", {}).items()}
    return {"total": int(mode.get_total_flops()), "by_operator": dict(sorted(by_op.items()))}


LABELS = {  # fixture key -> what ran
    "fvcore": "fvcore.nn.FlopCountAnalysis(...).total()",
    "flop_counter": "torch.utils.flop_counter.FlopCounterMode",
    "ptflops_pytorch": "ptflops get_model_complexity_info(backend='pytorch')",
    "ptflops_aten": "ptflops get_model_complexity_info(backend='aten')",
}


def ptflops_figures(model: torch.nn.Module, shape: tuple[int, ...], backend: str) -> dict:
    """ptflops' MACs and parameters of `model` on one input of `shape` (batch 1 added)."""
    with torch.no_grad():
        macs, params = get_model_complexity_info(
            model, shape, as_strings=False, print_per_layer_stat=False, backend=backend
        )
    return {"macs": int(macs), "params": int(params)}


def write_fixtures(path: str, command: str, inputs: str, figures: dict[str, dict]) -> None:
    """`figures` (fixture key -> model -> figures) as one JSON file, each tool with its label,
    the tools' versions, the command and the inputs (the provenance the tests check)."""
    versions = {p: version(p) for p in ("torch", "ptflops", "fvcore")}
    out = {
        key: {
            "tool": LABELS[key],
            "versions": versions,
            "command": command,
            "input": inputs,
            "models": models,
        }
        for key, models in figures.items()
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


def run_fvcore(name: str) -> dict[str, object]:
    model, shape = _model(name)
    return fvcore_figures(model, torch.randn(1, *shape))


def run_flop_counter(name: str) -> dict[str, object]:
    model, shape = _model(name)
    return flop_counter_figures(model, torch.randn(1, *shape))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/fixtures/crosscheck/torch_tools.json")
    args = ap.parse_args()
    command = "python benchmarks/crosscheck/collect_torch.py"
    versions = {p: version(p) for p in ("torch", "ptflops", "fvcore")}
    tools = {
        "ptflops_pytorch": ("ptflops get_model_complexity_info(backend='pytorch')", {}),
        "ptflops_aten": ("ptflops get_model_complexity_info(backend='aten')", {}),
        "fvcore": ("fvcore.nn.FlopCountAnalysis(...).total()", {}),
        "flop_counter": ("torch.utils.flop_counter.FlopCounterMode", {}),
    }
    for name in MODELS:
        tools["ptflops_pytorch"][1][name] = run_ptflops(name, "pytorch")
        tools["ptflops_aten"][1][name] = run_ptflops(name, "aten")
        tools["fvcore"][1][name] = run_fvcore(name)
        tools["flop_counter"][1][name] = run_flop_counter(name)
        print(name, {t: v[1][name] for t, v in tools.items()}, file=sys.stderr)
    out = {
        key: {
            "tool": label,
            "versions": versions,
            "command": command,
            "input": "batch 1 at the model's default input (xncost models)",
            "models": models,
        }
        for key, (label, models) in tools.items()
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
