"""The CLI through typer's runner: every command, every format, every bad input."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import invoke

from xncost.cli.app import app

REPO = Path(__file__).resolve().parents[2]

# the custom shape of the issues' "Must show" lines
ISSUE_SHAPE = "--caps-in 37 --caps-out 7 --dim-in 5 --dim-out 11 --iterations 4 --batch 3".split()


def run(*args):
    return invoke(list(args))


@pytest.mark.parametrize("number", [5, 7, 9])
@pytest.mark.parametrize("fmt", ["table", "md", "csv", "json"])
def test_tables_every_format(tmp_path, number, fmt):
    r = run(f"table{number}", "--format", fmt, "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    md = (tmp_path / f"table{number}.md").read_text()
    rows = list(csv.DictReader(io.StringIO((tmp_path / f"table{number}.csv").read_text())))
    assert md.startswith(f"# Table {number}")
    assert list(rows[0]) == [
        "table",
        "setting",
        "model",
        "metric",
        "paper_text",
        "paper",
        "xncost",
        "measured",
        "status",
        "note",
    ]
    assert all(row["measured"] == "" for row in rows)
    if fmt == "csv":
        assert r.stdout == (tmp_path / f"table{number}.csv").read_text()
    if fmt == "json":
        cells = json.loads(r.stdout)["cells"]
        assert len(cells) == len(rows)
        for cell, row in zip(cells, rows, strict=True):
            assert cell["measured"] is None and isinstance(cell["table"], int)
            if row["metric"] in ("total_flops", "xnor_bops", "binarization_flops"):
                assert cell["xncost"] == int(row["xncost"]) and isinstance(cell["xncost"], int)


def test_table5_csv_statuses(tmp_path):
    r = run("table5", "--format", "csv", "--out", str(tmp_path))
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    must_match = [
        x
        for x in rows
        if x["metric"] in ("binarization_flops", "xnor_bops", "xnor_flops")
        or x["model"] in ("resnet50", "mobilenetv2", "resnet_xnodr")
        or (x["model"] == "mobilenet_xnodr" and x["metric"] == "total_flops")
    ]
    assert must_match and all(x["status"] == "match" for x in must_match)
    for x in rows:
        if x["status"] == "mismatch":
            assert x["note"]


def test_reports_are_byte_identical_and_committed(tmp_path):
    for number in (5, 7, 9):
        a, b = tmp_path / "a", tmp_path / "b"
        assert run(f"table{number}", "--format", "csv", "--out", str(a)).exit_code == 0
        assert run(f"table{number}", "--format", "csv", "--out", str(b)).exit_code == 0
        for ext in ("md", "csv"):
            name = f"table{number}.{ext}"
            assert (a / name).read_bytes() == (b / name).read_bytes()
            assert (a / name).read_bytes() == (REPO / "reports" / name).read_bytes(), name


def test_cost_json_paper_shape_generalised():
    r = run(
        "cost",
        "xnodr",
        *ISSUE_SHAPE,
        "--format",
        "json",
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert set(d) >= {"layer", "shape", "convention", "steps", "totals", "speedup", "measured"}
    assert d["shape"] == {
        "caps_in": 37,
        "caps_out": 7,
        "dim_in": 5,
        "dim_out": 11,
        "iterations": 4,
        "batch": 3,
    }
    n, m, dd, e, r_, b = 37, 7, 5, 11, 4, 3
    t = d["totals"]
    assert t["binarization_flops"] == 9 * (b * n * m * dd + n * m * dd * e)
    assert t["xnor_bops"] == 3 * b * n * m * e
    assert t["xnor_flops"] == 3 * b * n * m * e / 64
    routing = b * n * m * (r_ * (2 + 2 * e) + (r_ - 1) * 2 * e)
    assert t["flops"] * 64 == (t["binarization_flops"] + routing) * 64 + t["xnor_bops"]
    assert d["measured"] is None
    assert all(isinstance(s["flops"], int) for s in d["steps"])


def test_cost_json_keeps_huge_counts_exact():
    r = run(
        "cost",
        "xnidr",
        "--caps-in",
        "10000000",
        "--dim-out",
        "10000",
        "--batch",
        "1000000",
        "--format",
        "json",
    )
    d = json.loads(r.stdout)
    assert isinstance(d["totals"]["flops"], int) and d["totals"]["flops"] > 2**63


@pytest.mark.parametrize("fmt", ["table", "md", "csv"])
@pytest.mark.parametrize("layer", ["dr", "xnodr", "xnidr"])
def test_cost_formats(layer, fmt):
    r = run("cost", layer, "--convention", "ops", "--format", fmt)
    assert r.exit_code == 0, r.output
    assert "softmax" in r.stdout


def test_cost_fc_and_out_dir(tmp_path):
    r = run(
        "cost", "fc", "--dims", "1280,512,256,128,10", "--format", "csv", "--out", str(tmp_path)
    )
    assert r.exit_code == 0
    out = tmp_path / "cost_fc.csv"
    assert out.read_text() == r.stdout and list(tmp_path.iterdir()) == [out]
    total = [row for row in csv.DictReader(io.StringIO(out.read_text())) if row["step"] == "total"]
    assert total[0]["flops"] == "1640960"


def test_formulas_command():
    r = run("formulas")
    assert r.exit_code == 0 and "Eq. 12" in r.stdout and "limit N -> oo: 64" in r.stdout
    r = run("formulas", "--latex")
    assert "\\frac" in r.stdout


BAD = [
    ("cost", "xnodr", "--caps-in", "0"),
    ("cost", "xnodr", "--caps-out", "-3"),
    ("cost", "xnodr", "--dim-in", "1.5"),
    ("cost", "xnodr", "--dim-out", "abc"),
    ("cost", "xnodr", "--iterations", "0"),
    ("cost", "xnodr", "--batch", "0"),
    ("cost", "conv"),
    ("cost", "xnodr", "--convention", "macs"),
    ("cost", "xnodr", "--format", "xml"),
    ("cost", "xnodr", "--word-bits", "48"),
    ("cost", "xnodr", "--preset", "vgg"),
    ("cost", "xnodr", "--dims", "3,4"),
    ("cost", "fc", "--dims", "3"),
    ("cost", "fc", "--dims", "3,0"),
    ("cost", "fc", "--dims", "3,x"),
    ("cost", "fc", "--caps-in", "5"),
    ("table5", "--format", "pdf"),
    ("table7", "--bogus"),
    ("table6",),
    ("table7", "--measure"),
    ("cost", "fc", "--dims", ""),
    ("cost", "xnodr", "--out", ""),
    ("table5", "--out", ""),
    ("table5", "--out", " "),
    ("sweep", "xnidr", "--out", ""),
    ("reports", "--out", "x", "--only", "6"),
    ("table5", "--out", "/proc/no\nsuch"),
    ("cost", "xnodr", "--word-bits", "8192"),
    ("cost", "xnodr", "--caps-in", "100000000", "--measure"),
]


@pytest.mark.parametrize("args", BAD)
def test_bad_input_one_line_exit_2(tmp_path, args):
    given_out = "--out" in args
    r = invoke([*args, "--out", str(tmp_path / "o")] if not given_out else list(args))
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err.startswith("xncost: error: ") and "\n" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_unwritable_out_dir_leaves_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run("table5", "--out", str(blocker / "sub"))
    assert r.exit_code == 2 and "cannot write" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("blocked", ["table5.md", "table5.csv"])
def test_a_failed_report_write_leaves_no_partial_report(tmp_path, blocked):
    (tmp_path / blocked).mkdir()
    r = run("table5", "--out", str(tmp_path))
    assert r.exit_code == 2 and r.stderr.startswith("xncost: error: cannot write")
    assert sorted(p.name for p in tmp_path.iterdir()) == [blocked]


@pytest.mark.parametrize("target", ["file", "file/x", "dir"])
def test_cost_out_that_cannot_be_a_directory(tmp_path, target):
    (tmp_path / "dir" / "cost_xnodr.json").mkdir(parents=True)
    (tmp_path / "file").write_text("x")
    r = run("cost", "xnodr", "--format", "json", "--out", str(tmp_path / target))
    assert r.exit_code == 2 and r.stdout == ""
    assert "\n" not in r.stderr.strip() and "Traceback" not in r.stderr


def test_table5_does_not_import_torch_sympy_or_pandas(tmp_path):
    code = (
        "import sys\n"
        "from xncost.__main__ import main\n"
        f"sys.argv = ['xncost', 'table5', '--format', 'csv', '--out', {str(tmp_path)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('torch', 'sympy', 'pandas', 'thop') if m in sys.modules]\n"
        "sys.stderr.write(repr(bad))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert p.stderr.strip() == "[]"


@pytest.mark.heavy
def test_nothing_is_written_without_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (
        ["table5"],
        ["table7", "-f", "md"],
        ["table9", "-f", "json"],
        ["audit"],
        ["cost", "xnidr", "-f", "csv"],
        ["explain", "dr"],
        ["formulas"],
    ):
        r = run(*args)
        assert r.exit_code == 0, (args, r.output)
        assert list(tmp_path.iterdir()) == [], args


def test_version_and_python_m():
    from xncost import __version__

    r = run("--version")
    assert r.exit_code == 0 and r.stdout == f"xncost {__version__}\n"
    p = subprocess.run(
        [sys.executable, "-m", "xncost", "--version"], capture_output=True, text=True
    )
    assert p.returncode == 0 and p.stdout == r.stdout


def test_completion_is_offered():
    r = run("--help")
    assert "--install-completion" in r.stdout and "--show-completion" in r.stdout


def _commands():
    import typer.main

    return typer.main.get_command(app).commands


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_help_has_examples(name):
    r = run(name, "--help")
    assert r.exit_code == 0
    ex = r.stdout.split("Examples:", 1)[1].split("Options:", 1)[0]
    lines = [line.strip() for line in ex.splitlines() if line.strip()]
    assert any(f"xncost {name}" in line for line in lines), lines
    assert all(
        line.startswith(f"$ xncost {name}") or f" -m xncost {name} " in line
        for line in lines
        if line.startswith("$")
    )


SAME_MEANING = {
    "--out": "directory",
    "--format": ("table", "md", "csv", "json"),
}


def test_one_meaning_per_option_name():
    """`--convention` offers the registry's conventions of the command's scope: summary prices
    whole models, every other command layers (docs/conventions.md)."""
    import click

    from xncost.conventions import CONVENTIONS, MODEL_CONVENTIONS

    for name, cmd in _commands().items():
        for p in cmd.params:
            if "--format" in p.opts and name != "explain":
                assert tuple(p.type.choices) == SAME_MEANING["--format"], name
            if "--convention" in p.opts:
                names = tuple(MODEL_CONVENTIONS if name == "summary" else CONVENTIONS)
                assert tuple(p.type.choices) == names, name
                assert all(n in p.help for n in names), name
            if "--out" in p.opts and name != "train":
                assert "directory" in (p.help or "").lower(), name
                assert not isinstance(p.type, click.File)


def test_table7_does_not_offer_measure():
    assert "--measure" not in run("table7", "--help").stdout


def test_formulas_prints_the_symbol_key():
    out = run("formulas").stdout
    for key in ("N = caps_in", "M = caps_out", "D = dim_in", "E = dim_out", "r = iterations"):
        assert key in out


@pytest.mark.parametrize("width", [80, 100])
def test_tables_fit_the_width(width, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    for number in (5, 7, 9):
        out = run(f"table{number}").stdout
        assert max(len(line.rstrip()) for line in out.splitlines()) <= width
        assert "\u2026" not in out  # nothing cut with an ellipsis
        assert "MobileNet_XnIDR" in out or number == 9


def test_piped_width_is_100_without_columns(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    out = run("table7").stdout
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 100


def test_progress_lines_on_a_non_terminal(capsys, monkeypatch):
    from xncost.io import progress

    monkeypatch.setattr(progress, "PROGRESS_EVERY_S", 0.0)
    with progress.Progress("work", total=3) as p:
        for k in range(3):
            p.advance(1, f"item {k}")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and err[-1].startswith("xncost: work: 3/3 done (last: item 2)")
    with progress.Progress("work", total=3, quiet=True) as p:
        p.advance(3)
    assert capsys.readouterr().err == ""


@pytest.mark.heavy
def test_reports_command_regenerates_the_committed_fast_reports(tmp_path):
    r = run("reports", "--out", str(tmp_path), "--only", "5,7,9,audit,summaries", "-q")
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 10 and "audit.md" in names and "summary_nin.md" in names
    for name in names:
        assert (tmp_path / name).read_bytes() == (REPO / "reports" / name).read_bytes(), name


@pytest.mark.slow
def test_reports_command_regenerates_tables_4_and_8(tmp_path):
    r = run("reports", "--out", str(tmp_path), "--only", "4,8", "-q")
    assert r.exit_code == 0, r.output
    for name in ("table4.md", "table4.csv", "table8.md", "table8.csv"):
        assert (tmp_path / name).read_bytes() == (REPO / "reports" / name).read_bytes(), name


HELP_SLOW = ("table4", "table8", "train", "bench", "sweep xnidr", "summary mobilenet", "reports")


def _help_examples():
    found = []
    for name in sorted(_commands()):
        text = run(name, "--help").stdout.split("Examples:", 1)[1]
        found += [
            line.strip()[2:] for line in text.splitlines() if line.strip().startswith("$ xncost ")
        ]
    return found


@pytest.mark.heavy
@pytest.mark.parametrize(
    "example",
    [e for e in _help_examples() if not e.startswith(tuple(f"xncost {s}" for s in HELP_SLOW))],
)
def test_help_examples_run(example, tmp_path, monkeypatch):
    import shlex

    monkeypatch.chdir(tmp_path)
    r = invoke(shlex.split(example)[1:])
    assert r.exit_code == 0, (example, r.output)


# ----------------------------------------------------------------------------- big counts

BIG = str(10**2000)  # three such values give counts of more than 4300 digits


def _big_breakdown():
    from xncost.api import cost

    return cost("xnidr", caps_in=10**2000, caps_out=10**2000, dim_out=10**2000)


@pytest.mark.parametrize("fmt", ["json", "csv", "md", "table"])
def test_counts_longer_than_4300_digits_print_exactly(fmt, monkeypatch):
    from xncost.exact import all_digits

    monkeypatch.delenv("COLUMNS", raising=False)
    r = run("cost", "xnidr", "--caps-in", BIG, "--caps-out", BIG, "--dim-out", BIG, "-f", fmt)
    assert r.exit_code == 0, r.output[-300:]
    flops = _big_breakdown().totals["flops"]
    with all_digits():
        assert len(str(flops)) > 6000
        if fmt == "json":
            assert json.loads(r.stdout)["totals"]["flops"] == flops
        elif fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(r.stdout)))
            assert int(next(x for x in rows if x["step"] == "total")["flops"]) == flops
        elif fmt == "md":
            assert f"flops = {flops}" in r.stdout
        else:  # folded in its column (see test_rich_breakdown_never_cuts_a_number)
            assert "\u2026" not in r.stdout
            assert sum(ch.isdigit() for ch in r.stdout) > 4 * len(str(flops))


@pytest.mark.parametrize(
    "args",
    [
        ("cost", "fc", "--dims", "9" * 4301 + ",10"),
        ("cost", "xnidr", "--caps-in", "9" * 5000),
        ("explain", "xnidr", "--batch", "9" * 5000),
        ("sweep", "xnidr", "--caps-in", "9" * 5000, "--out", "o"),
        ("sweep", "xnidr", "--dim-out", "1:" + "9" * 5000 + ":2", "--out", "o"),
    ],
)
def test_shape_values_beyond_the_digit_bound_are_refused_by_name(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run(*args)
    err = r.stderr.strip()
    assert r.exit_code == 2 and err.startswith("xncost: error: ") and "\n" not in err
    assert "more than 4300 digits" in err and len(err) < 200
    assert list(tmp_path.iterdir()) == []


def test_a_4300_digit_shape_value_is_taken():
    r = run("cost", "fc", "--dims", "9" * 4300 + ",10", "-f", "md")
    assert r.exit_code == 0 and "9" * 4300 in r.stdout


def _digit_count(renderable, width):
    from rich.console import Console

    con = Console(width=width, record=True, file=io.StringIO())
    con.print(renderable)
    return sum(ch.isdigit() for ch in con.export_text())


@pytest.mark.parametrize("width", [12, 20, 40, 60, 80, 100, 109, 110, 160])
@pytest.mark.parametrize("caps_in", [160, 10**30])
def test_rich_breakdown_never_cuts_a_number(width, caps_in):
    """Every digit of the unconstrained rendering is printed at any width: folded in its
    column, or in a listing where no table fits."""
    from xncost.api import cost
    from xncost.core import render

    b = cost("xnidr", caps_in=caps_in)
    whole = _digit_count(render.breakdown_rich(b, None, None), 100_000)
    assert _digit_count(render.breakdown_rich(b, None, width), width) == whole


def test_interrupt_is_one_line_and_exit_130(monkeypatch):
    import xncost.api

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(xncost.api, "measure_layer_totals", interrupted)
    r = run("cost", "xnodr", "--measure")
    assert r.exit_code == 130
    assert r.stderr == "xncost: error: interrupted\n"


@pytest.mark.heavy
def test_sigterm_is_the_same_one_line_and_exit_130(tmp_path):
    """A real SIGTERM in the middle of a command (not only while files are staged)."""
    import signal
    import time

    script = (
        "import time, xncost.api\n"
        "xncost.api.measure_layer_totals = lambda *a, **k: time.sleep(60)\n"
        "from xncost.__main__ import main\n"
        "main()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "cost", "xnodr", "--measure", "--out", str(tmp_path / "o")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err == "xncost: error: interrupted\n"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("width", [16, 20, 40, 60, 80, 100])
@pytest.mark.parametrize("number", [5, 7, 9])
def test_rich_tables_never_cut_a_label_or_number(number, width):
    from rich.console import Console

    from xncost.api import table
    from xncost.paper import views

    t = table(number)
    con = Console(width=width, record=True, file=io.StringIO())
    con.print(views.table_rich(t, width))
    text = con.export_text()
    numbers = views.layer_block(t).numbers
    shown = sum(ch.isdigit() for c in t.cells for ch in views.entry(c).wide(numbers))
    assert "\u2026" not in text and sum(ch.isdigit() for ch in text) >= shown
    assert max(len(line) for line in text.splitlines()) <= width


@pytest.mark.parametrize("number", [5, 7, 9])
def test_table_json_is_exact_and_agrees_with_the_api(number):
    """Every number in the JSON reads back as the exact value the API holds (no float)."""
    from decimal import Decimal
    from fractions import Fraction

    from xncost.api import table

    text = run(f"table{number}", "--format", "json").stdout
    cells = json.loads(text, parse_float=Decimal)["cells"]
    exact = table(number).cells
    assert len(cells) == len(exact)
    for got, c in zip(cells, exact, strict=True):
        assert not isinstance(got["xncost"], float) and not isinstance(got["paper"], float)
        assert Fraction(got["xncost"]) == Fraction(c.xncost)
        if c.paper is not None:
            assert Fraction(got["paper"]) == Fraction(c.paper.value)


@pytest.mark.parametrize("then", [None, ImportError, OSError, ValueError])
def test_a_signal_some_code_caught_and_dropped_still_interrupts(monkeypatch, then):
    """SIGINT while any code runs (not only a user's model) that catches the KeyboardInterrupt
    and goes on, or raises something else (an import cut short): exit 130 and the line."""
    import signal

    from xncost.core import render
    from xncost.io import signals

    real = render.breakdown_markdown

    def swallowing(*args, **kwargs):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            if then is not None:
                raise then("cut short") from None
        return real(*args, **kwargs)

    monkeypatch.setattr(render, "breakdown_markdown", swallowing)
    monkeypatch.setattr(signals._State, "reported", False)  # the line is once per process
    r = invoke(["cost", "xnodr", "-f", "md"])
    assert (r.exit_code, r.stderr) == (130, "xncost: error: interrupted\n")
    monkeypatch.setattr(render, "breakdown_markdown", real)
    assert invoke(["cost", "xnodr", "-f", "md"]).exit_code == 0  # the next command is not
