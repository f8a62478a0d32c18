"""fvcore, torch's FlopCounterMode and ptflops (both backends) on xncost's transformer models.

Runs in the cross-check environment (benchmarks/crosscheck/README.md):

    python benchmarks/crosscheck/collect_transformers.py \
        [--out tests/fixtures/crosscheck/transformers/torch_tools.json]

Models (`xncost.models.transformers`, built under seed 0, eval mode, batch 1): `vit-b16`
(3x224x224) and `encoder` (`EncoderClassifier()`, 64 tokens of 32 features). Each tool runs
them twice: `eval`, as a user runs a model (`torch.no_grad()`, so `nn.MultiheadAttention` and
`nn.TransformerEncoderLayer` take torch's fused fast path), and `unfused`, with the fast path
off (`torch.backends.mha.set_fastpath_enabled(False)`) and scaled dot-product attention on its
math backend (`sdpa_kernel(SDPBackend.MATH)`), so attention runs as separate aten products.
Nothing of xncost's counting is imported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import torch
from ptflops import get_model_complexity_info

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collect_torch import flop_counter_figures, fvcore_figures  # noqa: E402

from xncost.models.transformers import EncoderClassifier, unfused_attention, vit_b16  # noqa: E402

MODELS: dict[str, tuple[Callable[[], torch.nn.Module], tuple[int, ...]]] = {
    "vit-b16": (vit_b16, (3, 224, 224)),
    "encoder": (EncoderClassifier, (64, 32)),
}
MODES = ("eval", "unfused")


def mode(name: str) -> contextlib.AbstractContextManager:
    """`eval`: as is; `unfused`: no fused fast path, math scaled dot-product attention."""
    return unfused_attention() if name == "unfused" else contextlib.nullcontext()


def _model(name: str) -> tuple[torch.nn.Module, tuple[int, ...], torch.Tensor]:
    build, shape = MODELS[name]
    torch.manual_seed(0)
    model = build().eval()
    return model, shape, torch.randn(1, *shape)


def run_fvcore(name: str, how: str) -> dict[str, object]:
    model, _, x = _model(name)
    with mode(how):
        return fvcore_figures(model, x)


def run_flop_counter(name: str, how: str) -> dict[str, object]:
    model, _, x = _model(name)
    with mode(how):
        return flop_counter_figures(model, x)


def run_ptflops(name: str, how: str, backend: str) -> dict[str, int]:
    model, shape, _ = _model(name)
    with torch.no_grad(), mode(how):
        macs, params = get_model_complexity_info(
            model, shape, as_strings=False, print_per_layer_stat=False, backend=backend
        )
    return {"macs": int(macs), "params": int(params)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/fixtures/crosscheck/transformers/torch_tools.json")
    args = ap.parse_args()
    command = "python benchmarks/crosscheck/collect_transformers.py"
    versions = {p: version(p) for p in ("torch", "ptflops", "fvcore")}
    tools: dict[str, tuple[str, Callable[[str, str], dict]]] = {
        "fvcore": ("fvcore.nn.FlopCountAnalysis(...).total()", run_fvcore),
        "flop_counter": ("torch.utils.flop_counter.FlopCounterMode", run_flop_counter),
        "ptflops_pytorch": (
            "ptflops get_model_complexity_info(backend='pytorch')",
            lambda n, h: run_ptflops(n, h, "pytorch"),
        ),
        "ptflops_aten": (
            "ptflops get_model_complexity_info(backend='aten')",
            lambda n, h: run_ptflops(n, h, "aten"),
        ),
    }
    out = {}
    for key, (label, run) in tools.items():
        models = {name: {how: run(name, how) for how in MODES} for name in MODELS}
        print(key, json.dumps(models), file=sys.stderr)
        out[key] = {
            "tool": label,
            "versions": versions,
            "command": command,
            "input": "batch 1, seed 0; vit-b16 3x224x224, encoder 64x32 (xncost.models."
            "transformers); modes: eval (no_grad), unfused (mha fast path off, math sdpa)",
            "models": models,
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
