"""ptflops (both backends), fvcore and torch's FlopCounterMode on recurrent and upsampling
layers (`layer_models.py`).

Runs in the cross-check environment (benchmarks/crosscheck/README.md):

    PYTHONPATH=. python benchmarks/crosscheck/collect_layers.py \
        [--out tests/fixtures/crosscheck/layers/torch_tools.json]

Each model is built under seed 0 in eval mode and run on one input of batch 1 (seed 1) under
`torch.no_grad()`; nothing of xncost's counting is imported.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collect_torch import (  # noqa: E402
    LABELS,
    flop_counter_figures,
    fvcore_figures,
    ptflops_figures,
    write_fixtures,
)
from layer_models import MODELS, build  # noqa: E402


def run(tool: str, name: str) -> dict:
    """`tool`'s figures (a key of `LABELS`) on the model `name`."""
    model, shape = build(name)
    if tool.startswith("ptflops_"):
        return ptflops_figures(model, shape, tool.removeprefix("ptflops_"))
    torch.manual_seed(1)
    x = torch.randn(1, *shape)
    return fvcore_figures(model, x) if tool == "fvcore" else flop_counter_figures(model, x)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/fixtures/crosscheck/layers/torch_tools.json")
    args = ap.parse_args()
    figures = {tool: {name: run(tool, name) for name in MODELS} for tool in LABELS}
    print(json.dumps(figures), file=sys.stderr)
    write_fixtures(
        args.out,
        "PYTHONPATH=. python benchmarks/crosscheck/collect_layers.py",
        "batch 1, seed 0 (benchmarks/crosscheck/layer_models.py), eval, no_grad",
        figures,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
