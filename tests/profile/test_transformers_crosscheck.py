"""fvcore's, FlopCounterMode's and ptflops' figures on the transformer models (stored fixtures
with provenance, benchmarks/crosscheck/collect_transformers.py) against xncost's, without
importing those tools; ViT-B/16 and the report under -m slow."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_SPEC = importlib.util.spec_from_file_location(
    "compare_transformers", ROOT / "benchmarks" / "crosscheck" / "compare_transformers.py"
)
compare = importlib.util.module_from_spec(MODULE_SPEC)
sys.modules["compare_transformers"] = compare
MODULE_SPEC.loader.exec_module(compare)


def test_fixtures_carry_provenance() -> None:
    fixtures = compare.transformer_fixtures()
    assert set(fixtures) == set(compare.RULES)
    for meta in fixtures.values():
        assert meta["tool"] and meta["command"].startswith("python benchmarks/crosscheck/")
        assert meta["versions"]["torch"].startswith("2.13.0")
        assert all(v[0].isdigit() for v in meta["versions"].values())
        assert set(meta["models"]) == {"vit-b16", "encoder"}
        assert all(set(m) == set(compare.MODES) for m in meta["models"].values())


def test_encoder_figures_equal_their_xncost_expressions() -> None:
    rows = compare.crosscheck_rows(models=("encoder",))
    assert len(rows) == 14
    assert [(r.tool, r.model, r.quantity) for r in rows if not r.equal] == []
    unfused = [r for r in rows if r.tool == "flop_counter" and r.model == "encoder (unfused)"]
    facts = compare.xncost_facts("encoder", "unfused")
    assert unfused[0].tool_value == 2 * facts.totals["float_macs"]  # no adjustment needed


def test_a_changed_tool_figure_is_caught() -> None:
    fixtures = copy.deepcopy(compare.transformer_fixtures())
    fixtures["ptflops_pytorch"]["models"]["encoder"]["eval"]["macs"] += 1
    rows = compare.crosscheck_rows(fixtures, models=("encoder",))
    assert [(r.tool, r.model) for r in rows if not r.equal] == [
        ("ptflops_pytorch", "encoder (eval)")
    ]


@pytest.mark.slow
def test_vit_b16_figures_and_the_report_are_current() -> None:
    rows = compare.crosscheck_rows(models=("vit-b16",))
    assert len(rows) == 14 and all(r.equal for r in rows)
    assert (
        compare.report_markdown() == (ROOT / "reports" / "crosscheck_transformers.md").read_text()
    )
