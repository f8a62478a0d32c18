"""xncost's current figures against the figures external tools produced (stored fixtures
with provenance; the tools themselves are not imported: benchmarks/crosscheck/)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.heavy  # seconds per test (tests/conftest.py: not in -m fast)

ROOT = Path(__file__).resolve().parents[2]
CROSSCHECK = ROOT / "benchmarks" / "crosscheck"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, CROSSCHECK / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


compare = _load("compare")


@pytest.fixture(scope="module")
def rows():
    return compare.crosscheck_rows()


def test_fixtures_carry_provenance() -> None:
    fixtures = compare.load_fixtures()
    assert set(fixtures) == set(compare.RULES)
    for meta in fixtures.values():
        assert meta["tool"] and meta["command"].startswith(("python", "TF_USE_LEGACY_KERAS"))
        assert all(v[0].isdigit() for v in meta["versions"].values())
        assert meta["models"]


@pytest.mark.heavy
def test_every_tool_figure_equals_its_xncost_expression(rows) -> None:
    assert len(rows) >= 60
    bad = [r for r in rows if not r.equal]
    assert not bad, [(r.tool, r.model, r.quantity, r.tool_value, r.xncost_value) for r in bad]


def test_plain_counts_need_no_adjustment(rows) -> None:
    """Where a tool counts what xncost counts, the figures are equal without any term."""
    plain = {
        ("larq", "1-bit MACs"),
        ("larq", "32-bit MACs"),
        ("larq", "1-bit parameters"),
        ("ptflops_pytorch", "parameters"),
    }
    checked = [r for r in rows if (r.tool, r.quantity) in plain]
    assert checked and all(r.equal for r in checked)
    tf_float = [r for r in rows if r.tool == "tf_profiler" and r.model in ("nin", "alexnet")]
    x = {r.model: compare.xncost_figures(r.model).conventions["tf"] for r in tf_float}
    assert all(r.tool_value == x[r.model] for r in tf_float)  # the `tf` convention as is


def test_a_changed_tool_figure_is_caught() -> None:
    fixtures = compare.load_fixtures()
    fixtures["larq"]["models"]["nin-xnor"]["macs_1bit"] += 1
    changed = [r for r in compare.crosscheck_rows(fixtures) if not r.equal]
    assert [(r.tool, r.model, r.quantity) for r in changed] == [("larq", "nin-xnor", "1-bit MACs")]


def test_report_is_current() -> None:
    report = _load("report")
    assert report.crosscheck_markdown() == (ROOT / "reports" / "crosscheck.md").read_text()
    assert "tensorflow" not in sys.modules and "larq" not in sys.modules
