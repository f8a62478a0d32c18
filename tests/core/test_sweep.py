"""Sweeps: range parsing, CSV rows against `xncost cost`, overflow rows, break-even, plots."""

import csv
import io
import sys
import warnings
from fractions import Fraction

import pytest
import typer
from support import invoke

from xncost.cli.commands.analysis import register
from xncost.core.accounting import breakdown
from xncost.core.evaluate import FIELDS
from xncost.core.shapes import CapsShape, FCShape
from xncost.core.sweep import MAX_ROWS, Grid, break_even, break_even_csv, parse_range
from xncost.errors import XncostError
from xncost.exact import exact_str

app = typer.Typer()
register(app)


def run(*args):
    return invoke(list(args))


def rows_of(path):
    return list(csv.DictReader(io.StringIO(path.read_text())))


@pytest.mark.parametrize(
    "text,values",
    [
        ("8:4096", tuple(2**k for k in range(3, 13))),
        ("4:64", (4, 8, 16, 32, 64)),
        ("1:1", (1,)),
        ("4:16:4", (4, 8, 12, 16)),
        ("5:6:10", (5,)),
        ("8,16,32", (8, 16, 32)),
        ("32, 8,16,8", (8, 16, 32)),
        ("160", (160,)),
        ("8:32,100,1:2:1", (1, 2, 8, 16, 32, 100)),
    ],
)
def test_parse_range(text, values):
    assert parse_range(text) == values


@pytest.mark.parametrize(
    "text", ["", " ", "0", "-3", "x", "2.5", "8:4", "5:7", "1:4:0", "1:2:3:4", "8,,16", "8:", ":8"]
)
def test_bad_ranges(text):
    with pytest.raises(XncostError):
        parse_range(text, "caps-in")


@pytest.mark.parametrize("text", ["3:9", "3:100", "8:9", "8,6:64"])
def test_power_of_two_range_rejects_other_endpoints(text):
    """`3:9` would silently mean 4,8: it is refused, pointing at a:b:step and lists."""
    with pytest.raises(XncostError, match=r"not one; use a:b:step .* list") as e:
        parse_range(text, "caps-in")
    assert "--caps-in" in str(e.value) and "\n" not in str(e.value)


def test_grid_order_defaults_and_limit():
    g = Grid.from_ranges(caps_in="8,16", dim_out="4:8")
    assert len(g) == 4 and g.fixed()["caps_out"] == 10 and g.fixed()["caps_in"] == 8
    rows = g.rows(0, 4)
    assert rows["caps_in"].tolist() == [8, 8, 16, 16]  # caps_in varies slowest
    assert rows["dim_out"].tolist() == [4, 8, 4, 8]
    assert set(rows["batch"].tolist()) == {1}
    with pytest.raises(XncostError):
        Grid.from_ranges(caps_in="1:10000:1", dim_out="1:10000:1")
    assert MAX_ROWS < 10000 * 10000


def _cost_csv(layer, row, conv="paper"):
    """`xncost cost ... --format csv` for one CSV row: step -> (flops, bops), and totals."""
    args = ["cost", layer, "--convention", conv, "--format", "csv"]
    for f in ("caps_in", "caps_out", "dim_in", "dim_out", "iterations", "batch"):
        args += [f"--{f.replace('_', '-')}", row[f]]
    r = invoke(args)
    assert r.exit_code == 0, r.output
    return {s["step"]: s for s in csv.DictReader(io.StringIO(r.stdout))}


@pytest.mark.parametrize("layer,conv", [("xnodr", "paper"), ("xnidr", "ops"), ("dr", "paper")])
def test_csv_rows_equal_single_cost_calls(tmp_path, layer, conv):
    r = run(
        "sweep", layer, "--caps-in", "1,8:64", "--dim-out", "1,16,65", "--dim-in", "1,8",
        "--iterations", "1,3", "--batch", "1,2", "--convention", conv,
        "--vs", "fc" if layer != "dr" else "fc", "--no-plots", "--out", str(tmp_path),
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = rows_of(tmp_path / f"sweep_{layer}.csv")
    assert len(rows) == 5 * 3 * 2 * 2 * 2
    for row in rows[::7]:
        ref = _cost_csv(layer, row, conv)
        for name, step in ref.items():
            if name == "total":
                continue
            assert row[f"{name}_flops"] == step["flops"], name
            if f"{name}_bops" in row:
                assert row[f"{name}_bops"] == step["bops"], name
        assert row["flops"] == ref["total"]["flops"]
        assert row["xnor_bops"] == ref["total"]["bops"]
        assert row["xnor_flops"] == ref["total"]["xnor_flops"]
        assert row["params"] == ref["total"]["params"]
        fc = breakdown("fc", FCShape((1280, 512, 256, 128, 10), int(row["batch"])), conv)
        assert row["fc_flops"] == str(fc.totals["flops"])
        ratio = Fraction(row["flops"]) / fc.totals["flops"] * 100
        assert abs(Fraction(row["ratio_to_fc"]) - ratio) <= Fraction(1, 2 * 10**6)


def test_overflow_rows_exact_in_csv_and_parquet(tmp_path):
    r = run(
        "sweep", "xnidr", "--caps-in", "160,10000000", "--dim-out", "16,10000",
        "--batch", "1,1048576", "--vs", "dr", "--no-plots", "--out", str(tmp_path),
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "evaluated on Python ints" in r.stdout
    rows = rows_of(tmp_path / "sweep_xnidr.csv")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(tmp_path / "sweep_xnidr.parquet").to_pylist()
    assert len(rows) == len(table) == 8
    for row, prow in zip(rows, table, strict=True):
        shape = CapsShape(int(row["caps_in"]), 10, 8, int(row["dim_out"]), 3, int(row["batch"]))
        b = breakdown("xnidr", shape)
        assert row["flops"] == exact_str(b.totals["flops"])
        assert row["binarization_flops"] == str(b.totals["binarization_flops"])
        assert row["dr_flops"] == str(breakdown("dr", shape).totals["flops"])
        assert Fraction(str(prow["flops"])) == b.totals["flops"]
        assert int(prow["xnor_bops"]) == b.totals["xnor_bops"]
    big = [
        r
        for r in rows
        if r["caps_in"] == "10000000" and r["dim_out"] == "10000" and r["batch"] != "1"
    ]
    assert big and all(Fraction(row["flops"]) > 2**63 for row in big)


@pytest.mark.parametrize("layer", ["xnodr", "xnidr"])
@pytest.mark.parametrize("conv", ["paper", "ops"])
def test_break_even_vs_fc_is_the_crossing(layer, conv):
    fixed = {"caps_in": 8, "caps_out": 10, "dim_in": 8, "dim_out": 16, "iterations": 3, "batch": 1}
    fc = breakdown("fc", FCShape((1280, 512, 256, 128, 10)), conv).totals["flops"]
    be = break_even(layer, "fc", fixed, (4, 16, 33, 70), conv)
    assert be.cheaper_below
    for e, root in be.points:
        assert root is not None and root > 1

        def total(n, e=e):
            return breakdown(layer, CapsShape(n, 10, 8, e, 3, 1), conv).totals["flops"]

        first = be.first_integer(root)
        assert total(first) > fc >= total(first - 1)
        if root.denominator == 1:
            assert total(int(root)) == fc
        import sympy as sp

        assert sp.Rational(root.numerator, root.denominator) == be.formula.subs(
            sp.Symbol("E", positive=True, integer=True), e
        )


def test_break_even_vs_dr_does_not_exist_under_paper():
    fixed = {"caps_in": 8, "caps_out": 10, "dim_in": 8, "dim_out": 16, "iterations": 3, "batch": 1}
    be = break_even("xnidr", "dr", fixed, (4, 16, 64))
    assert all(r is None for _, r in be.points) and be.costlier_without_root
    for n in (2, 160, 10**6):
        shape = CapsShape(n, 10, 8, 16)
        assert breakdown("xnidr", shape).totals["flops"] > breakdown("dr", shape).totals["flops"]


@pytest.mark.heavy
def test_plots_small_grid(tmp_path):
    r = run("sweep", "xnodr", "--caps-in", "8:32", "--dim-out", "4,8", "--vs", "dr",
            "--out", str(tmp_path))  # fmt: skip
    assert r.exit_code == 0, r.output
    for name in ("cost_xnodr.png", "breakeven_xnodr.png", "speedup_xnodr.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    be = rows_of(tmp_path / "breakeven_xnodr.csv")
    assert {row["vs"] for row in be} == {"fc", "dr"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_missing_matplotlib_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    r = run("sweep", "xnidr", "--caps-in", "8", "--out", str(tmp_path))
    assert r.exit_code != 0
    assert r.exit_code == 2 and "pip install xncost[plot]" in r.stderr
    assert not (tmp_path / "sweep_xnidr.csv").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("sweep", "xnidr", "--caps-in", "5:7"),
        ("sweep", "xnidr", "--dim-out", "0"),
        ("sweep", "fc"),
        ("sweep", "dr", "--vs", "dr"),
        ("sweep", "xnidr", "--vs", "xnodr"),
        ("sweep", "xnidr", "--convention", "macs"),
        ("sweep", "xnidr", "--fc-dims", "3"),
        ("sweep", "xnidr", "--word-bits", "48"),
        ("sweep", "xnidr", "--word-bits", "8192"),
        ("sweep", "xnidr", "--word-bits", "4294967296"),
        ("sweep", "xnidr", "--word-bits", str(2**70)),
        ("sweep", "xnidr", "--caps-in", "3:9"),
    ],
)
def test_bad_sweep_input_one_line_exit_2(tmp_path, args):
    r = invoke([*args, "--no-plots", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err.startswith("xncost: error: ") and "\n" not in err
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_parquet_skipped_with_a_note_without_pyarrow(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    r = run("sweep", "dr", "--caps-in", "8:16", "--no-plots", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "Parquet skipped: pyarrow is not installed" in r.stdout
    assert (tmp_path / "sweep_dr.csv").exists() and not (tmp_path / "sweep_dr.parquet").exists()


def test_word_bits_4096_is_exact(tmp_path):
    """The largest allowed word: BOPs / 4096 rendered exactly (12 decimals)."""
    r = run("sweep", "xnidr", "--caps-in", "8:64", "--dim-out", "3,16,100", "--word-bits", "4096",
            "--vs", "fc", "--no-plots", "--out", str(tmp_path))  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = rows_of(tmp_path / "sweep_xnidr.csv")
    assert len(rows) == 12
    for row in rows:
        shape = CapsShape(int(row["caps_in"]), 10, 8, int(row["dim_out"]), 3, 1)
        totals = breakdown("xnidr", shape, "paper", 4096).totals
        assert Fraction(row["xnor_flops"]) == Fraction(int(row["xnor_bops"]), 4096)
        assert Fraction(row["flops"]) == totals["flops"]
        assert int(row["xnor_bops"]) == totals["xnor_bops"]


def test_break_even_formula_states_the_fixed_values(tmp_path):
    r = run("sweep", "xnodr", "--caps-in", "8:32", "--caps-out", "12", "--dim-in", "4",
            "--iterations", "2", "--batch", "3", "--no-plots", "--out", str(tmp_path))  # fmt: skip
    assert r.exit_code == 0, r.output
    lines = [line for line in r.stdout.splitlines() if line.startswith("break-even")]
    assert {line.split(":")[0] for line in lines} == {
        "break-even xnodr = fc",
        "break-even xnodr = dr",
    }
    for line in lines:
        assert "(at caps_out=12, dim_in=4, iterations=2, batch=3" in line, line
    fc_line = next(line for line in lines if "= fc" in line)
    assert "N* = " in fc_line and "fc dims 1280,512,256,128,10)" in fc_line


def test_output_file_that_is_a_directory_is_one_error(tmp_path):
    (tmp_path / "sweep_dr.csv").mkdir()
    r = invoke(["sweep", "dr", "--no-plots", "--out", str(tmp_path)])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("xncost: error: cannot write") and "sweep_dr.csv" in r.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_breakeven_path_that_is_a_directory_publishes_nothing(tmp_path):
    """The sweep CSV and Parquet are staged first; the break-even CSV then fails: the old
    files stay, no new file and no staging directory appear."""
    out = tmp_path / "o"
    out.mkdir()
    (out / "sweep_xnodr.csv").write_text("old csv\n")
    (out / "breakeven_xnodr.csv").mkdir()
    r = invoke(["sweep", "xnodr", "--caps-in", "8:64", "--no-plots", "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().endswith("breakeven_xnodr.csv: it is a directory")
    assert sorted(p.name for p in out.iterdir()) == ["breakeven_xnodr.csv", "sweep_xnodr.csv"]
    assert (out / "sweep_xnodr.csv").read_text() == "old csv\n"
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


@pytest.mark.parametrize(
    "ranges,most",
    [
        ({"caps_in": "1:3000000000:1"}, 3_000_000_000),
        ({"caps_in": f"1:{2**1024}:1"}, 2**1024),
        ({"caps_in": "1:4000:1", "dim_out": "1:3000:1"}, 12_000_000),
        ({"caps_in": "1:3000:1,1:3000:1", "batch": "1:2000:1"}, 12_000_000),
    ],
)
def test_ranges_are_counted_before_they_are_made(ranges, most, monkeypatch):
    """The count is arithmetic: no value is made (a made range would fail the test)."""
    import xncost.core.sweep as S

    monkeypatch.setattr(S, "_expand", lambda items: pytest.fail("expanded"))
    with pytest.raises(XncostError, match=f"up to {most:,} shapes") as e:
        Grid.from_ranges(**ranges)
    assert "\n" not in str(e.value)
    with pytest.raises(XncostError, match=r"--caps-in: 3,000,000,000 values \(more than"):
        parse_range("1:1000000000:1,2:3000000000:3,1:2000000000:2", "caps-in")


@pytest.mark.parametrize("text", ["8,,16", ",", "8:", "1:2:", "::", " , 8"])
def test_empty_values_in_ranges_are_named(text):
    with pytest.raises(XncostError, match="empty value|empty range"):
        parse_range(text, "caps-in")


@pytest.mark.parametrize("field", ["caps-in", "caps-out", "dim-in", "dim-out", "batch"])
@pytest.mark.parametrize("power", [63, 1023, 1024])
def test_huge_shapes_are_exact_without_warnings(tmp_path, field, power):
    """Shapes beyond int64 and float64: exact CSV rows, no numpy warning, no traceback."""
    value = 2**power
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = run("sweep", "xnodr", f"--{field}", f"7,{value}", "--vs", "fc", "--no-plots",
                "--out", str(tmp_path))  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = rows_of(tmp_path / "sweep_xnodr.csv")
    assert len(rows) == 2
    big = rows[1]
    assert int(big[field.replace("-", "_")]) == value
    shape = CapsShape(*(int(big[f]) for f in FIELDS))
    totals = breakdown("xnodr", shape, "paper").totals
    assert Fraction(big["flops"]) == totals["flops"]
    assert int(big["params"]) == totals["params"]


def test_plots_refuse_values_beyond_float64_in_one_line(tmp_path):
    r = invoke(["sweep", "xnodr", "--caps-in", str(2**60), "--out", str(tmp_path)])
    assert r.exit_code == 2, r.output
    assert "plots take shape values up to 2**53" in r.stderr and "--no-plots" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_decimal_text_is_exact():
    from xncost.core.sweep import decimal_text

    assert decimal_text(Fraction(10502144, 10243), 6) == "1025.299619"
    assert decimal_text(Fraction(1, 8), 2) == "0.12"  # half to even
    assert decimal_text(Fraction(3, 8), 2) == "0.38"
    assert decimal_text(Fraction(2**1100 + 1, 3), 1).startswith(str((2**1100 + 1) // 3))


@pytest.mark.parametrize(("layer", "vs"), [("xnidr", "fc"), ("xnidr", "dr"), ("xnodr", "fc")])
def test_first_caps_in_costlier_is_the_first(layer, vs):
    """Every point's first caps_in where the layer costs more, checked on the formulas,
    across dim_outs where the crossing moves below 1 and where it never happens."""
    fixed = {"caps_in": 8, "caps_out": 10, "dim_in": 8, "dim_out": 16, "iterations": 3, "batch": 1}
    dims = (1280, 512, 256, 128, 10)
    es = (4, 64, 9059, 9158, 16384)
    be = break_even(layer, vs, fixed, es)

    def diff(n, e):
        mine = breakdown(layer, CapsShape(n, 10, 8, e, 3, 1)).totals["flops"]
        other = (
            breakdown("fc", FCShape(dims)).totals["flops"]
            if vs == "fc"
            else breakdown(vs, CapsShape(n, 10, 8, e, 3, 1)).totals["flops"]
        )
        return mine - other

    for e, first in zip(es, be.first_costlier, strict=True):
        if first is None:
            assert all(diff(n, e) <= 0 for n in (1, 2, 3, 100, 10**6))
        else:
            assert diff(first, e) > 0 and (first == 1 or diff(first - 1, e) <= 0)


def test_break_even_csv_marks_the_grid_and_never():
    fixed = {"caps_in": 8, "caps_out": 10, "dim_in": 8, "dim_out": 16, "iterations": 3, "batch": 1}
    curves = [break_even("xnidr", v, fixed, (4, 5, 6)) for v in ("fc", "dr")]
    rows = list(csv.DictReader(io.StringIO(break_even_csv(curves, (4, 6)))))
    assert [r["in_grid"] for r in rows[:3]] == ["yes", "no", "yes"]
    assert all(r["first_caps_in_costlier"] for r in rows)  # a number, or `none`
