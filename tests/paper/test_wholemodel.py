"""Tables 4 and 8 (xncost.paper.wholemodel): cell logic on injected counts, one real
small measurement, the CLI contract, and (slow) the full tables on the registry models."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction

import pytest
from support import invoke

from xncost.errors import XncostError
from xncost.paper import wholemodel as wm
from xncost.paper.store import load_table, printed_lookup
from xncost.paper.views import table_csv, whole_table_markdown
from xncost.paper.wholemodel import (
    ACCURACY_NOTE,
    ModelCount,
    build_whole_table,
    measure_model,
    setting_input,
)


def test_setting_inputs_are_the_papers():
    assert setting_input("up-mnist") == (True, 224)
    assert setting_input("up-cifar10") == (True, 224)
    assert setting_input("up-multimnist") == (True, 108)
    assert setting_input("noup-mnist") == (False, 32)
    assert setting_input("noup-multimnist") == (False, 36)
    with pytest.raises(XncostError):
        setting_input("up-imagenet")


def fake_measure(table: int, wrong: set[str]):
    """Counts equal to the printed values (FLOPs as tf/2, ops twice that), except for
    the models in `wrong`, whose counts are 10% off."""
    printed = printed_lookup(table)
    calls = []

    def measure(model: str, up: bool, side: int) -> ModelCount:
        calls.append((model, up, side))
        setting = next(s for (s, m, _) in printed if m == model and setting_input(s) == (up, side))
        scale = Fraction(11, 10) if model in wrong else 1
        p = printed[(setting, model, "params")].printed.value * scale
        f = printed[(setting, model, "total_flops")].printed.value * scale
        flops = {"ops": 2 * f, "tf": 2 * f, "tf_half": f, "ptflops": f * 3, "macs": f / 2}
        return ModelCount(model, up, side, int(p), flops)

    return measure, calls


def test_cells_statuses_and_notes_on_injected_counts():
    measure, calls = fake_measure(8, wrong={"mobilenet_dr"})
    wt = build_whole_table(8, measure=measure)
    assert len(calls) == len(set(calls)) == 8  # 2 models x 4 inputs, each once
    cells = wt.table.cells
    assert len(cells) == len(load_table(8))
    for c in cells:
        if c.metric == "accuracy":
            assert (c.status, c.xncost, c.note) == ("n/a", None, ACCURACY_NOTE)
        elif c.model == "resnet_dr" and c.metric == "params":
            assert c.status == "match" and c.note == ""
        elif c.model == "resnet_dr":  # FLOPs: ops is 2x the printed, tf/2 equal to it
            assert c.status == "mismatch" and "closest: tf_half" in c.note
        else:
            assert c.status == "mismatch" and c.note
        if c.metric != "accuracy":
            assert c.measured == c.xncost
    assert wt.convention_matches()["tf_half"] == 6  # resnet_dr's six FLOPs cells


def test_markdown_and_csv_layout():
    measure, _ = fake_measure(4, wrong=set())
    wt = build_whole_table(4, measure=measure)
    md = whole_table_markdown(wt)
    assert md.startswith("# Table 4")
    assert "| Models | MNIST Top1 | MNIST FLOPs | MNIST PARA |" in md
    assert "MultiMNIST Top2" in md and "ResNet_XnIDR (without upsampling)" in md
    assert "## FLOPs by convention" in md
    rows = list(csv.DictReader(io.StringIO(table_csv(wt.table))))
    assert list(rows[0]) == list(
        ("table", "setting", "model", "metric", "paper_text", "paper", "xncost", "measured")
        + ("status", "note")
    )
    assert {r["setting"] for r in rows} == {
        f"{u}-{d}" for u in ("up", "noup") for d in ("mnist", "cifar10", "multimnist")
    }
    assert sum(r["status"] == "n/a" for r in rows) == len(rows) // 3  # the accuracy cells


@pytest.mark.parametrize("width", [80, 100])
def test_rich_table_fits_the_width(width):
    from rich.console import Console

    from xncost.paper.views import whole_table_rich

    measure, _ = fake_measure(4, wrong={"resnet50"})
    wt = build_whole_table(4, measure=measure)
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(whole_table_rich(wt, width))
    out = console.export_text()
    assert max(len(line.rstrip()) for line in out.splitlines()) <= width
    assert "…" not in out
    titles = {line.strip() for line in out.splitlines()}
    assert {"MNIST", "CIFAR-10", "MultiMNIST"} <= titles  # one table per data set
    # every cell whole: the paper's value beside a mismatch, words wrapped, not cut
    assert "(paper" in out and "n/a" in out
    wide = Console(width=400, record=True, file=io.StringIO())
    wide.print(whole_table_rich(wt, 400))
    assert "MNIST Top1" in wide.export_text()  # the paper's layout when it fits


def test_unknown_table():
    with pytest.raises(XncostError):
        build_whole_table(5)


@pytest.mark.heavy
def test_one_real_measurement_is_consistent():
    from xncost.models.registry import parameter_count
    from xncost.profile.summary import summarize_model

    count = measure_model("mobilenet_xnidr", False, 32)
    assert count.params == parameter_count("mobilenet_xnidr", upsampling=False)
    s = summarize_model("mobilenet_xnidr", upsampling=False, input_shape=(1, 3, 32, 32))
    assert count.flops["ops"] == s.totals["ops"]
    assert count.flops["tf"] == 2 * count.flops["tf_half"]
    assert count.flops["macs"] == s.totals["float_macs"] + s.totals["binary_macs"]
    printed = printed_lookup(4)[("noup-cifar10", "mobilenet_xnidr", "params")].printed
    assert printed.matches(count.params)  # the paper's 2.43M


def test_cli_table8_writes_both_files(tmp_path, monkeypatch):
    measure, _ = fake_measure(8, wrong=set())
    monkeypatch.setattr(wm, "measure_model", measure)
    r = invoke(["table8", "--format", "json", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["table"] == 8 and d["convention_matches"]["tf_half"] == 12
    assert (tmp_path / "table8.md").read_text().startswith("# Table 8")
    assert (tmp_path / "table8.csv").read_text().startswith("table,setting,model")
    r = invoke(["table8", "--format", "md", "--out", str(tmp_path)])
    assert r.exit_code == 0 and r.output == (tmp_path / "table8.md").read_text()


@pytest.mark.slow
def test_full_tables_on_the_registry_models():
    """The real Tables 4 and 8 (about two minutes on two cores)."""
    t4, t8 = build_whole_table(4), build_whole_table(8)
    for wt in (t4, t8):
        for c in wt.table.cells:
            if c.metric == "params" and c.model.startswith("resnet_"):
                assert c.status == "match", c  # the capsule ResNets' 23.86M / 23.85M
            if c.metric == "total_flops":
                ratio = Fraction(c.xncost) / c.paper.value
                assert 1.9 < ratio < 2.1, c  # ops ~ 2x: the paper counts per multiply-add
    assert t4.convention_matches()["tf_half"] >= 1
