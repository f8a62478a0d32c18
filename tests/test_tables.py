"""Tables 5, 7, 9 against the transcribed paper values (reference/)."""

from fractions import Fraction

import pytest

from xncost.formulas import eq12_speedup, eq15_speedup
from xncost.paper import load_table, parse_printed
from xncost.tables import build_table, speedup_range


def test_table5_statuses():
    t = build_table(5)
    for c in t.cells:
        if c.model in ("resnet50", "mobilenetv2") or c.model.endswith("xnodr"):
            if c.metric != "ratio_to_fc" or c.model.startswith("resnet"):
                assert c.status == "match", c
        if c.metric in ("binarization_flops", "xnor_bops", "xnor_flops"):
            assert c.status == "match", c
        if c.model.endswith("xnidr") and c.metric == "total_flops":
            assert c.status == "mismatch" and "per capsule pair" in c.note
    assert len(t.cells) == 88


def test_table5_ratio_mismatches_are_explained_by_rounded_totals():
    bad = [c for c in build_table(5).cells if c.metric == "ratio_to_fc" and c.status != "match"]
    assert bad and all("printed, rounded totals" in c.note for c in bad)
    mob = next(c for c in bad if c.model == "mobilenet_xnodr")
    assert round(float(mob.xncost), 2) == 135.60  # the paper's text, Section 4.6.2


def test_table7_17_of_24_and_explaining_n():
    t = build_table(7)
    assert t.counts() == {"match": 17, "mismatch": 7, "n/a": 0}
    for c in t.cells:
        if c.status == "mismatch":
            assert "for N in [" in c.note
    note_63_80 = next(c.note for c in t.cells if c.paper.text == "63.80")
    assert "128" in note_63_80


@pytest.mark.parametrize(
    "printed,k,per_n,eq",
    [
        ("63.80", 16, 10 * 256, lambda n: eq15_speedup(n, 10, 16)),
        ("63.95", 16, 10 * 256, lambda n: eq15_speedup(n, 10, 16)),
        ("63.98", 8, 10 * 256 * 8, lambda n: eq12_speedup(n, 10, 8, 16)),
        ("63.94", 8, 10 * 256 * 8, lambda n: eq12_speedup(n, 10, 8, 16)),
    ],
)
def test_speedup_range_is_exactly_the_rounding_interval(printed, k, per_n, eq):
    p = parse_printed(printed)
    lo, hi, exact = speedup_range(p, k, per_n)
    assert lo <= hi
    assert all(p.matches(eq(n)) for n in (lo, hi, (lo + hi) // 2))
    assert not p.matches(eq(lo - 1)) and not p.matches(eq(hi + 1))
    assert lo <= exact <= hi + 1


def test_table9_only_the_typo_mismatches():
    t = build_table(9)
    assert t.counts() == {"match": 15, "mismatch": 1, "n/a": 0}
    bad = next(c for c in t.cells if c.status == "mismatch")
    assert bad.paper.text == "68.18M" and "typo" in bad.note and bad.xncost == 68_167_680


def test_resnet_fc_note_states_the_real_map():
    c = next(c for c in build_table(5).cells if c.model == "resnet50")
    assert "7x7" in c.note and "4x4" in c.note


def test_measure_callback_flags_disagreement():
    t = build_table(9, measure=lambda c: c.xncost + 1 if c.model == "mobilenet_dr" else c.xncost)
    bad = [c for c in t.cells if c.note.startswith("MEASURED")]
    assert len(bad) == 4 and all(c.model == "mobilenet_dr" for c in bad)


def test_reference_transcription_is_complete():
    assert [len(load_table(n)) for n in (4, 5, 7, 8, 9)] == [108, 88, 24, 36, 16]
    for n in (4, 5, 7, 8, 9):
        for c in load_table(n):
            assert c.printed.value > 0


@pytest.mark.parametrize(
    "text,value,decimals",
    [
        ("68.17M", 68_170_000, 2),
        ("740.16K", 740_160, 2),
        ("15,360", 15_360, 0),
        ("135.98%", Fraction(13598, 100), 2),
        ("3.93B", 3_930_000_000, 2),
        ("675.2K", 675_200, 1),
    ],
)
def test_parse_printed(text, value, decimals):
    p = parse_printed(text)
    assert p.value == value and p.decimals == decimals and p.format(value) == text


def test_match_is_rounding_half_up_at_printed_precision():
    p = parse_printed("1.64M")
    assert p.matches(1_635_000) and p.matches(1_644_999)
    assert not p.matches(1_634_999) and not p.matches(1_645_000)


def test_reference_parsed_column_is_checked(tmp_path, monkeypatch):
    from xncost.errors import XncostError

    src = (load_table.__wrapped__.__globals__["reference_dir"]() / "table9.csv").read_text()
    (tmp_path / "table9.csv").write_text(src.replace(",68.18M,68180000,", ",68.18M,68170000,"))
    monkeypatch.setenv("XNCOST_REFERENCE", str(tmp_path))
    load_table.cache_clear()
    try:
        with pytest.raises(XncostError, match="is not the value of"):
            load_table(9)
    finally:
        load_table.cache_clear()
