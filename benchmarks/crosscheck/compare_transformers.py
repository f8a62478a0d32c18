"""fvcore's, FlopCounterMode's and ptflops' figures on xncost's transformer models
(tests/fixtures/crosscheck/transformers/*.json, made by collect_transformers.py) beside xncost's,
and the report that sets them side by side:

python benchmarks/crosscheck/compare_transformers.py [--out reports/crosscheck_transformers.md]

Runs in xncost's own environment (no fvcore or ptflops): every rule states a tool's figure as an
exact expression of xncost's summary of the same model in the same mode (`eval`: the fused fast
path; `unfused`: attention as separate aten ops, `xncost.models.transformers.unfused_attention`)
and of the work items xncost measures (`xncost.profile.fused_work.measure_work`): the parts of
the fused ops, the plain products, LayerNorm elements.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import Row, load_fixtures  # noqa: E402
from report import TOOL_TITLES, tool_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "crosscheck" / "transformers"
REPORT = ROOT / "reports" / "crosscheck_transformers.md"
MODES = ("eval", "unfused")
FFN_PARTS = ("linear1", "linear2")  # the feed-forward products of a fused encoder layer


def build(name: str) -> tuple[nn.Module, torch.Tensor]:
    """The model and input of collect_transformers.py (seed 0, eval mode, batch 1)."""
    from xncost.models.transformers import EncoderClassifier, vit_b16

    builders = {"vit-b16": (vit_b16, (3, 224, 224)), "encoder": (EncoderClassifier, (64, 32))}
    make, shape = builders[name]
    torch.manual_seed(0)
    model = make().eval()
    return model, torch.randn(1, *shape)


@dataclass(frozen=True)
class Facts:
    """xncost's figures of one model in one mode."""

    totals: dict[str, Any]
    conventions: dict[str, int]
    fused_macs: int  # MACs of every product inside a fused op
    attention_macs: int  # ... of the fused ops' attention (all parts but the feed-forward)
    plain: dict[str, tuple[int, int]]  # aten op -> (MACs, bias outputs) of the plain products
    layer_norm: tuple[int, int]  # elements of LayerNorms with / without weight
    gelu_module_outputs: int  # output elements of nn.GELU modules


@cache
def xncost_facts(name: str, mode: str) -> Facts:
    from xncost.conventions.fused import LayerNorm, Product
    from xncost.models.transformers import unfused_attention
    from xncost.profile.fused_work import measure_work
    from xncost.profile.summary import summary

    model, x = build(name)
    gelu = 0

    def hook(m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal gelu
        gelu += out.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.GELU)]
    with unfused_attention() if mode == "unfused" else contextlib.nullcontext():
        s = summary(model, x)
        for h in handles:
            h.remove()
        work = measure_work(model, x)
    products = [w for w in work if isinstance(w, Product)]
    fused = [p for p in products if not p.name.startswith("aten.")]
    plain: dict[str, tuple[int, int]] = {}
    for p in products:
        if p.name.startswith("aten."):
            macs, bias = plain.get(p.name, (0, 0))
            plain[p.name] = (macs + p.dots.macs, bias + p.dots.extra)
    norms = [w for w in work if isinstance(w, LayerNorm)]
    return Facts(
        totals=s.totals,
        conventions=s.flops_by_convention,
        fused_macs=sum(p.dots.macs for p in fused),
        attention_macs=sum(p.dots.macs for p in fused if p.name not in FFN_PARTS),
        plain=plain,
        layer_norm=(
            sum(n.elements for n in norms if n.weight),
            sum(n.elements for n in norms if not n.weight),
        ),
        gelu_module_outputs=gelu,
    )


@dataclass(frozen=True)
class Rule:
    quantity: str
    expression: str  # how xncost's figure is formed
    value: Callable[[Facts, str], int]  # (facts, mode) -> xncost's figure
    why: str


def _plain(x: Facts, op: str) -> int:
    return x.plain.get(op, (0, 0))[0]


RULES: dict[str, dict[str, Rule]] = {
    "fvcore": {
        "products": Rule(
            "conv + linear + matmul/bmm",
            "eval: float MACs - MACs of the fused attention; unfused: float MACs - bmm MACs",
            lambda x, m: (
                x.totals["float_macs"]
                - (x.attention_macs if m == "eval" else _plain(x, "aten.bmm"))
            ),
            "fvcore traces the model with torch.jit and has no handle for "
            "aten::_native_multi_head_attention (the fused nn.MultiheadAttention: its in- and "
            "out-projections, QK^T and AV are all left out; its trace runs "
            "nn.TransformerEncoderLayer unfused, so only the layer's attention is missed) nor "
            "for aten::scaled_dot_product_attention, which the unfused attention calls and the "
            "trace keeps as one op (QK^T and AV, the bmm of its math path, are left out)",
        ),
        "layer_norm": Rule(
            "layer_norm",
            "5 x LayerNorm elements with weight + 4 x without",
            lambda x, m: 5 * x.layer_norm[0] + 4 * x.layer_norm[1],
            "fvcore prices a LayerNorm 5 per element (4 without affine parameters), 'a rough "
            "estimate'; GELU, softmax, the scale and the residual adds it does not count",
        ),
    },
    "flop_counter": {
        "total": Rule(
            "FLOPs",
            "eval: 2 x (float MACs - MACs inside fused ops); unfused: 2 x float MACs",
            lambda x, m: 2 * (x.totals["float_macs"] - (x.fused_macs if m == "eval" else 0)),
            "FlopCounterMode counts 2 per MAC of mm, addmm, bmm, convolution and of the CUDA "
            "scaled dot-product attention kernels; it has no formula for "
            "_native_multi_head_attention, _transformer_encoder_layer_fwd nor "
            "_scaled_dot_product_flash_attention_for_cpu (CPU's sdpa), which it cannot "
            "decompose, so in eval mode everything inside them counts 0; unfused, on sdpa's "
            "math backend, every product is a bmm or addmm it counts",
        ),
    },
    "ptflops_pytorch": {
        "macs": Rule(
            "MACs",
            "FLOPs (`ptflops`) + outputs of nn.GELU modules",
            lambda x, m: x.conventions["ptflops"] + x.gelu_module_outputs,
            "ptflops 0.7.5 also counts torch.nn.functional calls (count_functional=True): "
            "nn.GELU calls F.gelu, counted a second time; an encoder layer's activation is "
            "the F.gelu bound when the layer was built, which ptflops' patch does not reach. "
            "Its hooks on the submodules of nn.TransformerEncoderLayer turn the layer's fused "
            "fast path off, so it sees them, as the ptflops convention prices the fused layer",
        ),
        "params": Rule("parameters", "params", lambda x, m: x.totals["params"], ""),
    },
    "ptflops_aten": {
        "macs": Rule(
            "MACs",
            "MACs + bias outputs of the products outside fused ops",
            lambda x, m: sum(macs + bias for macs, bias in x.plain.values()),
            "the aten backend counts mm, addmm (+1 per output for its bias), bmm and "
            "convolution (+ its bias) only: a fused op counts 0",
        ),
        "params": Rule("parameters", "params", lambda x, m: x.totals["params"], ""),
    },
}


def _tool_value(tool: str, key: str, figures: dict[str, Any]) -> int:
    if tool == "fvcore":
        ops = ("conv", "linear", "matmul", "bmm", "einsum") if key == "products" else (key,)
        return sum(v for k, v in figures["by_operator"].items() if k in ops)
    return int(figures[key])


def transformer_fixtures() -> dict[str, dict[str, Any]]:
    """The stored tool outputs of collect_transformers.py."""
    return load_fixtures(FIXTURES)


def crosscheck_rows(
    fixtures: dict[str, dict[str, Any]] | None = None, models: tuple[str, ...] | None = None
) -> list[Row]:
    """One row per tool, model, mode and quantity (`models`: all in the fixtures); a row's
    model reads `name (mode)`."""
    fixtures = transformer_fixtures() if fixtures is None else fixtures
    rows = []
    for tool, rules in RULES.items():
        for model, by_mode in sorted(fixtures[tool]["models"].items()):
            if models is not None and model not in models:
                continue
            for mode in MODES:
                x = xncost_facts(model, mode)
                for key, rule in rules.items():
                    rows.append(
                        Row(
                            tool,
                            f"{model} ({mode})",
                            rule.quantity,
                            _tool_value(tool, key, by_mode[mode]),
                            int(rule.value(x, mode)),
                            rule.expression,
                            rule.why,
                        )
                    )
    return rows


def report_markdown() -> str:
    """reports/crosscheck_transformers.md."""
    fixtures = transformer_fixtures()
    rows = crosscheck_rows(fixtures)
    out = [
        "# Cross-checks on transformers: fvcore, FlopCounterMode, ptflops beside xncost",
        "",
        "Generated by `python benchmarks/crosscheck/compare_transformers.py` from the tools' "
        "outputs in `tests/fixtures/crosscheck/transformers/` (made by "
        "`collect_transformers.py` in the cross-check environment). Models: `vit-b16` "
        "(3x224x224) and `encoder` (`EncoderClassifier()`, 64x32), batch 1. Mode `eval`: "
        "`torch.no_grad()`, so attention runs fused; `unfused`: the fast path off and "
        "scaled dot-product attention on its math backend. xncost's MACs are the same in both "
        "modes; each tool's figure is an exact expression of them.",
        "",
        f"**{sum(r.equal for r in rows)} of {len(rows)} figures equal** their xncost expression.",
        "",
    ]
    for tool, rules in RULES.items():
        out += tool_section(TOOL_TITLES[tool], fixtures[tool], rules.values(), rows, tool)
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPORT))
    args = ap.parse_args()
    from xncost.io.files import write_atomic

    write_atomic(args.out, report_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
