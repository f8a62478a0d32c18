"""The store of printed numbers (reference/, xncost.paper.store) and the printed-figure grammar
(xncost.paper.printed): every file loads, every figure has a recorded source, malformed input
is one clear error."""

from __future__ import annotations

import csv
import re
import shutil
from fractions import Fraction

import pytest

from xncost.errors import XncostError
from xncost.paper import store
from xncost.paper.printed import parse_printed


@pytest.mark.parametrize(
    ("text", "value", "decimals", "display", "unit"),
    [
        ("68.17M", 68_170_000, 2, "68.17M", ""),
        ("15,360", 15_360, 0, "15,360", ""),
        ("135.98%", Fraction("135.98"), 2, "135.98%", "%"),
        ("1.68e9", 1_680_000_000, 2, "1.68 x 10^9", ""),
        ("0.12e8", 12_000_000, 2, "0.12 x 10^8", ""),
        ("969.82 k", 969_820, 2, "969.82 k", ""),
        ("0.23 GMac", 230_000_000, 2, "0.23 GMac", "Mac"),
        ("58x", 58, 0, "58x", "x"),
    ],
)
def test_printed_figures_parse_exactly(text, value, decimals, display, unit):
    p = parse_printed(text)
    assert (p.value, p.decimals, p.display, p.unit) == (value, decimals, display, unit)
    assert p.format(p.value) == display
    assert p.matches(p.value) and not p.matches(p.value + p.interval.hi - p.interval.lo)


@pytest.mark.parametrize("text", ["", "M", "1.2.3", "-5", "1,2e3", "12 apples", "nan", "1e"])
def test_malformed_figures_are_one_error(text):
    with pytest.raises(XncostError, match="cannot parse printed number"):
        parse_printed(text)


def test_every_figure_has_a_recorded_source(repo):
    """Each row of figures.csv names a source of docs/attributions.md; a figure of the paper's
    text stands in its quote (the statement as the audit quotes it)."""
    figures = store.load_figures()
    assert figures
    table = (repo / "docs" / "attributions.md").read_text(encoding="utf-8")
    ids = set(re.findall(r"^\| ([a-z0-9-]+) \|", table, re.M))
    for f in figures.values():
        assert f.source in ids, f
        assert f.where and f.quote
        assert f.source != "xnodr-paper" or f.printed.text in f.quote, f


def test_figure_lookup_and_unknown_key():
    assert store.figure("xnodr_ratio").text == store.sourced("xnodr_ratio").printed.text
    with pytest.raises(XncostError, match="no figure 'nope'"):
        store.figure("nope")


def _copy_store(tmp_path, monkeypatch, edit):
    """A copy of reference/ with figures.csv rewritten by `edit(rows) -> rows`."""
    ref = tmp_path / "reference"
    shutil.copytree(store.reference_dir(), ref)
    with open(ref / "figures.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    with open(ref / "figures.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(edit(rows))
    monkeypatch.setenv("XNCOST_REFERENCE", str(ref))
    store.load_figures.cache_clear()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: [*rows, rows[1]], "twice"),
        (lambda rows: [[c for c in r if c != r[3]] for r in rows], "missing column"),
        (lambda rows: [rows[0], [*rows[1][:3], "lots", rows[1][4]]], "cannot parse"),
    ],
)
def test_a_malformed_figures_file_is_one_error(tmp_path, monkeypatch, edit, message):
    _copy_store(tmp_path, monkeypatch, edit)
    try:
        with pytest.raises(XncostError, match=message):
            store.load_figures()
    finally:
        store.load_figures.cache_clear()


def test_tables_are_checked_on_load(tmp_path, monkeypatch):
    ref = tmp_path / "reference"
    shutil.copytree(store.reference_dir(), ref)
    text = (ref / "table7.csv").read_text(encoding="utf-8")
    (ref / "table7.csv").write_text(text.replace(",63.99,63.99,", ",63.99,63.98,", 1))
    monkeypatch.setenv("XNCOST_REFERENCE", str(ref))
    store.load_table.cache_clear()
    try:
        with pytest.raises(XncostError, match="is not the value of '63.99'"):
            store.load_table(7)
    finally:
        store.load_table.cache_clear()
