"""Tables 5, 7, 9 against the transcribed paper values (reference/)."""

import functools
import math
from fractions import Fraction

import pytest

from xncost.core.formulas import eq12_speedup, eq15_speedup
from xncost.core.shapes import SETTINGS
from xncost.paper.printed import READING_WORDS, Interval, parse_printed
from xncost.paper.speedup_readings import speedup_equation, speedup_range, speedup_readings
from xncost.paper.store import load_table
from xncost.paper.tables import build_table, reading_verdict


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


def test_table5_ratio_mismatch_causes():
    bad = [c for c in build_table(5).cells if c.metric == "ratio_to_fc" and c.status != "match"]
    for c in bad:
        total = next(
            x for x in build_table(5).cells
            if (x.setting, x.model, x.metric) == (c.setting, c.model, "total_flops")
        )  # fmt: skip
        # rounding only where the total itself prints as the paper's; else the total's residual
        want = "rounding" if total.status == "match" else "total"
        assert f"cause: {want}:" in c.note, c.note
    mob = next(c for c in bad if c.model == "mobilenet_xnodr")
    assert round(float(mob.xncost), 2) == 135.60  # the paper's text, Section 4.6.2


def test_ratio_cause_rules():
    from xncost.paper.printed import ratio_cause

    p = parse_printed
    # exact totals print as the printed ones; only their rounded ratio gives the printed ratio
    assert (
        ratio_cause(p("135.98%"), p("2.23M"), 2_225_200, p("1.64M"), 1_640_960).cause == "rounding"
    )
    assert ratio_cause(p("87.20%"), p("1.43M"), 1_036_630, p("1.64M"), 1_640_960).cause == "total"
    assert ratio_cause(p("135.60%"), p("2.23M"), 2_225_200, p("1.64M"), 1_640_960).cause == "exact"
    assert ratio_cause(p("50.00%"), p("2.23M"), 2_225_200, p("1.64M"), 1_640_960).cause == (
        "unexplained"
    )


@pytest.mark.parametrize("number", [5, 7, 9])
def test_table_reports_regenerate_byte_identical(number):
    from pathlib import Path

    from xncost.paper.views import table_csv, table_markdown

    reports = Path(__file__).resolve().parents[2] / "reports"
    t = build_table(number)
    assert table_markdown(t) == (reports / f"table{number}.md").read_text(encoding="utf-8")
    assert table_csv(t) == (reports / f"table{number}.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "side,up,size_keeping,keras",
    [(224, True, 7, 7), (108, True, 4, 4), (32, False, 4, 5), (36, False, 5, 6)],
)
def test_resnet_map_side_under_both_paddings(side, up, size_keeping, keras):
    from xncost.core.shapes import resnet50_map_side
    from xncost.paper.tables import keras_resnet50_map_side

    assert resnet50_map_side(side, up) == size_keeping
    # Keras: pad 3, stem, pad 1, pool (valid), then three 1x1/2 strides: ceil(s/2)
    s = side + 6
    s = (s - 7) // 2 + 1 if up else s - 2
    s = (s + 2 - 3) // 2 + 1 if up else s + 2
    for _ in range(3):
        s = (s + 1) // 2
    assert keras_resnet50_map_side(side, up) == keras == s
    key = next(k for k, v in SETTINGS.items() if v.input_side == side)
    note = next(c.note for c in build_table(5).cells if (c.model, c.setting) == ("resnet50", key))
    assert f"{size_keeping}x{size_keeping}" in note
    assert (f"{keras}x{keras}" in note and "ZeroPadding2D" in note) == (keras != size_keeping)


# ----------------------------------------------------------------------------- Table 7

SOURCED = {"mobilenet": {160, 128}, "resnet": {256}}  # the paper's N; the authors' code's 128
BRUTE_LIMIT = 4000  # beyond every bounded N range of Table 7's figures


def read(x: Fraction, reading: str) -> Fraction:
    """x at two decimals, rounded half up or truncated (independent of xncost.paper.printed)."""
    q = x * 100
    return Fraction(math.floor(q + Fraction(1, 2)) if reading == "round" else math.floor(q), 100)


def eq(model: str, n: int) -> Fraction:
    m, d, e = 10, 8, 16
    if model.endswith("xnodr"):
        return Fraction(eq12_speedup(n, m, d, e))
    return Fraction(eq15_speedup(n, m, e))


@functools.cache
def brute_range(model: str, text: str, reading: str) -> tuple[int, int | None] | None:
    """Integers N giving the printed figure, by scanning N (hi None: still so at the limit)."""
    target = Fraction(text)
    hits = [n for n in range(1, BRUTE_LIMIT + 1) if read(eq(model, n), reading) == target]
    if not hits:
        return None
    assert hits == list(range(hits[0], hits[-1] + 1))  # S grows with N: one run
    return hits[0], None if hits[-1] == BRUTE_LIMIT else hits[-1]


def brute_common(a, b):
    """The N both ranges hold, scanned like `brute_range` (hi None: still so at the limit)."""

    def holds(n, rng):
        return rng is not None and rng[0] <= n and (rng[1] is None or n <= rng[1])

    both = [n for n in range(1, BRUTE_LIMIT + 1) if holds(n, a) and holds(n, b)]
    if not both:
        return None
    return both[0], None if both[-1] == BRUTE_LIMIT else both[-1]


@functools.cache
def brute_table7():
    """Per (setting, model, reading): matches at the paper's N, N range, sourced N, shared."""
    cells = {(c.setting, c.model): c.printed.text for c in load_table(7)}
    out = {}
    for (setting, model), text in cells.items():
        backbone, layer = model.split("_")
        partner = f"{backbone}_{'xnidr' if layer == 'xnodr' else 'xnodr'}"
        paper_n = 160 if backbone == "mobilenet" else 256
        for r in ("round", "truncate"):
            rng = brute_range(model, text, r)
            out[(setting, model, r)] = {
                "matches": read(eq(model, paper_n), r) == Fraction(text),
                "range": rng,
                "sourced": sorted(
                    n
                    for n in SOURCED[backbone]
                    if rng and rng[0] <= n and (rng[1] is None or n <= rng[1])
                ),
                "shared": brute_common(rng, brute_range(partner, cells[(setting, partner)], r)),
            }
    return out


def cause_of(o) -> str:
    if o["matches"]:
        return "paper"
    if o["sourced"]:
        return "sourced"
    if o["shared"]:
        return "shared"
    return "fit" if o["range"] else "none"


@pytest.mark.heavy
def test_table7_readings_and_causes_recomputed_by_brute_force():
    an = speedup_readings()
    for (setting, model, r), o in brute_table7().items():
        sr = an[(setting, model)][r]
        assert sr.matches == o["matches"]
        assert sr.n_range == o["range"], (setting, model, r)
        assert sorted(sr.sourced) == o["sourced"]
        assert sr.shared == o["shared"]
        assert sr.cause == cause_of(o)


def brute_counts() -> dict[str, tuple[int, int, int]]:
    brute = brute_table7()
    cells = {(s, m) for s, m, _ in brute}
    return {
        r: (
            sum(brute[(s, m, r)]["matches"] for s, m in cells),
            sum(bool(brute[(s, m, r)]["sourced"]) for s, m in cells),
            sum(brute[(s, m, r)]["shared"] is not None for s, m in cells if m.endswith("xnodr")),
        )
        for r in ("round", "truncate")
    }


def test_table7_verdict_is_the_reading_with_more_cells():
    counts = brute_counts()
    v = reading_verdict(7)
    for r in ("round", "truncate"):
        assert tuple(t.count(r) for t in v.tests) == counts[r]
    wins = [
        r for r, o in (("round", "truncate"), ("truncate", "round"))
        if all(a >= b for a, b in zip(counts[r], counts[o], strict=True)) and counts[r] != counts[o]
    ]  # fmt: skip
    assert v.reading == (wins[0] if wins else None)
    t = build_table(7)
    assert all(c.reading == v.used for c in t.cells)
    assert t.notes[0].startswith(f"Compared under {READING_WORDS[v.used]}")


def test_table7_statuses_and_notes_follow_the_verdict():
    v = reading_verdict(7)
    brute = brute_table7()
    t = build_table(7)
    words = {
        "sourced": "cause: a sourced capsule count",
        "shared": "cause: one N for both capsule layers",
        "fit": "cause: unexplained (a fit of this cell alone)",
    }
    for c in t.cells:
        o = brute[(c.setting, c.model, v.used)]
        assert (c.status == "match") == o["matches"]
        assert c.shown == f"{float(read(Fraction(c.xncost), v.used)):.2f}"
        if c.status == "match":
            continue
        lo, hi = o["range"]
        assert f"under {READING_WORDS[v.used]} {c.paper.text} needs N in [{lo:,}, {hi:,}]" in c.note
        assert words[cause_of(o)] in c.note, c.note
        for n in o["sourced"]:
            assert f"N = {n}," in c.note
        if cause_of(o) == "shared":
            assert f"the smallest, N = {o['shared'][0]:,}" in c.note


@pytest.mark.parametrize("reading", ["round", "truncate"])
@pytest.mark.parametrize(
    "printed,model",
    [("63.80", "mobilenet_xnidr"), ("63.95", "mobilenet_xnidr"), ("63.98", "mobilenet_xnodr"),
     ("63.94", "mobilenet_xnodr"), ("63.98", "resnet_xnidr"), ("63.99", "mobilenet_xnodr")],
)  # fmt: skip
def test_speedup_range_is_exactly_the_reading_interval(printed, model, reading):
    p = parse_printed(printed)
    _, k, per_n = speedup_equation(model)
    lo, hi, exact = speedup_range(p, k, per_n, reading=reading)
    assert (lo, hi) == brute_range(model, printed, reading)
    assert p.matches(eq(model, lo), reading) and not p.matches(eq(model, lo - 1), reading)
    if hi is not None:
        assert p.matches(eq(model, hi), reading) and not p.matches(eq(model, hi + 1), reading)
    assert eq(model, exact) == Fraction(printed)


def test_printed_readings():
    p = parse_printed("63.98")
    x = eq("mobilenet_xnodr", 128)  # 63.9875...
    assert p.shown(x, "truncate") == Fraction("63.98") and p.shown(x, "round") == Fraction("63.99")
    assert p.interval_for("truncate") == Interval(Fraction("63.98"), Fraction("63.99"))
    assert p.interval_for("round") == p.interval
    m = parse_printed("1.64M")
    assert m.matches(1_649_999, "truncate") and not m.matches(1_649_999)
    assert m.format(1_649_999, "truncate") == "1.64M" and m.format(1_649_999) == "1.65M"


def test_tables_5_and_9_readings_recomputed():
    for n in (5, 9):
        t = build_table(n)
        counts = {
            r: sum(read_printed(c.paper.text, c.xncost, r) for c in t.cells)
            for r in ("round", "truncate")
        }
        v = reading_verdict(n)
        assert {r: v.tests[0].count(r) for r in counts} == counts
        assert v.used == "round" and counts["round"] > counts["truncate"]
        assert all(c.reading == v.used for c in t.cells)


def read_printed(text: str, x, reading: str) -> bool:
    """Whether x reads as the printed text ('68.17M', '135.98%', '15,360')."""
    t = text.rstrip("%").replace(",", "")
    scale = {"K": 10**3, "M": 10**6, "B": 10**9}.get(t[-1], 1)
    digits = t[:-1] if scale != 1 else t
    places = len(digits.split(".")[1]) if "." in digits else 0
    q = Fraction(x) / scale * 10**places
    n = math.floor(q + Fraction(1, 2)) if reading == "round" else math.floor(q)
    return Fraction(n, 10**places) == Fraction(digits)


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


@pytest.mark.slow
@pytest.mark.parametrize("number", [4, 8])
def test_whole_table_reports_regenerate_byte_identical(number):
    """Tables 4 and 8 measure the registry's models (about a minute each on two cores)."""
    from pathlib import Path

    from xncost.paper.views import table_csv, whole_table_markdown
    from xncost.paper.wholemodel import build_whole_table

    reports = Path(__file__).resolve().parents[2] / "reports"
    wt = build_whole_table(number)
    assert whole_table_markdown(wt) == (reports / f"table{number}.md").read_text(encoding="utf-8")
    assert table_csv(wt.table) == (reports / f"table{number}.csv").read_text(encoding="utf-8")
