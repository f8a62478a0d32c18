"""Fuzz every command and every option: arbitrary strings, numbers, paths and combinations.

Each run must end with exit 0 (valid input) or exit 2 with exactly one stderr line
`xncost: error: ...`, never a traceback, and must leave nothing behind: runs happen in an
empty temporary directory, and files may appear only under --out when the command succeeded.

The options come from the commands themselves (click's parameter list), so a new option is
fuzzed without editing this file. Runs are in-process (typer's CliRunner) for speed, plus
subprocess runs for the real stderr and exit code: a few fixed ones, and drawn invocations of
every command with a standard stream closed (`>&-`) or an ASCII-only stdout
(`PYTHONIOENCODING=ascii`, the C locale). The default profile runs a few hundred
invocations; HYPOTHESIS_PROFILE=ci (set by .ci/run) runs several times more.

Work that takes seconds to minutes is replaced by quick stand-ins (the input handling in
front of it is what is fuzzed here; the work itself has its own tests): Tables 4/8 measure
fake counts, `train` and `bench` stop right after validating their options, `audit`,
`models` and the summary reports print stand-in text, `summary` results are cached, and
`--measure` is never drawn.
"""

from __future__ import annotations

import collections
import functools
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import click
import pytest
import typer
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import invoke

from xncost.cli.app import app

pytestmark = pytest.mark.heavy  # seconds per test (tests/conftest.py: not in -m fast)

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
COMMANDS = typer.main.get_command(app).commands

# Examples per command: default run, then the deep profile. Slow-ish commands get fewer.
EXAMPLES = {
    "audit": (4, 50),
    "models": (5, 60),
    "summary": (6, 80),
    "formulas": (4, 40),
    "reports": (6, 80),
    "table4": (4, 80),
    "table8": (4, 80),
}
DEFAULT_EXAMPLES = (15, 250)
OUTCOMES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

# the values a real argv can hold: no NUL (exec refuses it); surrogates stand for undecodable
# bytes, which subprocess runs below cover
TEXT = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12
)
SPECIAL_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\n",
        "x\ny",
        "-",
        "--",
        "-1",
        "nan",
        "inf",
        "1e999",
        "0x10",
        "1_000",
        "½",
        "１２",
        "ⅷ",
        "2**64",
        "99999999999999999999999",
    ]
)
INTS = st.one_of(
    st.integers(1, 64),
    st.sampled_from([0, -1, 3, 2**31, 2**63, 2**64 + 1, 10**30, 2**1024]),
    st.integers(),
).map(str)
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "0.001", "-0.0", "1e-320", "1e308"]),
)
SEGMENT = st.one_of(
    st.sampled_from(["out", "o", "blocker", "dir", "new dir", "x\ny", ".", "é"]),
    st.text(
        st.characters(blacklist_characters="\x00/", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=8,
    ).filter(lambda s: s not in ("..", "~") and s.strip()),
)
PATHS = st.one_of(
    st.lists(SEGMENT, min_size=1, max_size=3).map("/".join),
    st.sampled_from(["", " ", "blocker/sub", "dir/blocker2", "\n"]),
)
JUNK = st.one_of(TEXT, SPECIAL_TEXT)

# command-specific valid values for free-text options, so valid runs happen too
VALID = {
    "layer": ["fc", "dr", "xnodr", "xnidr", "gemm"],
    "dims": ["1280,512,10", "3,4", "8,8,8"],
    "fc_dims": ["1280,512,10", "16,10"],
    "preset": ["mobilenet", "resnet", "mobilenet-code"],
    "caps_in": ["8", "8:16", "8,16", "4:64:4", "1:1000000000", "1:2**40"],
    "caps_out": ["10", "2,4"],
    "dim_in": ["8", "4:8"],
    "dim_out": ["16", "4:32"],
    "iterations": ["3", "1,2"],
    "batch": ["1", "2", "1,1048576"],
    "vs": ["fc", "dr"],
    "model": ["nin", "nin-xnor", "nin-bwn"],
    "input_shape": ["1x3x32x32", "2x3x32x32", "1x3x64x64", "1000000x3x32x32"],
    "variant": ["paper", "code"],
    "only": ["5", "7", "9", "5,9", "4", "audit"],
    "shapes": ["64x64x64", "caps_in=16", "1024x4096x1024"],
    "backend": ["auto", "numpy", "c"],
}
NEVER = {"measure"}  # seconds to minutes per run: covered by test_measure and test_cli


def value_strategy(param: click.Parameter) -> st.SearchStrategy[str]:
    t = param.type
    if isinstance(t, click.Choice):
        return st.one_of(st.sampled_from(list(t.choices)), JUNK)
    if isinstance(t, (click.types.IntParamType, click.types.IntRange)):
        return st.one_of(INTS, JUNK)
    if isinstance(t, click.types.FloatParamType):
        return st.one_of(FLOATS, JUNK)
    if isinstance(t, click.Path) or param.name in ("out", "data_dir"):
        return st.one_of(PATHS, PATHS, JUNK)
    valid = VALID.get(param.name or "")
    return st.one_of(st.sampled_from(valid), JUNK) if valid else JUNK


def invocation(name: str) -> st.SearchStrategy[list[str]]:
    """A command line for `name`: arguments, then any subset of its options, in any order,
    with a few unknown options mixed in."""
    cmd = COMMANDS[name]

    @st.composite
    def build(draw):
        args = [name]
        for p in cmd.params:
            if isinstance(p, click.Argument) and draw(st.integers(0, 9)) > 0:
                args.append(draw(value_strategy(p)))
        opts = [
            p
            for p in cmd.params
            if isinstance(p, click.Option)
            and p.name not in NEVER
            and not p.hidden
            and "--help" not in p.opts
        ]
        chosen = (
            draw(st.lists(st.sampled_from(opts), max_size=len(opts), unique_by=id)) if opts else []
        )
        for p in chosen:
            flag = draw(st.sampled_from(p.opts + p.secondary_opts))
            if p.is_flag:
                args.append(flag)
            else:
                args += [flag, draw(value_strategy(p))]
        if draw(st.integers(0, 19)) == 0:
            args.append(draw(st.sampled_from(["--bogus", "extra", "--out", "-f"])))
        return args

    return build()


def _fake_count(model: str, up: bool, side: int):
    from xncost.paper.wholemodel import ModelCount

    flops = {"ops": 2000, "tf": 2000, "tf_half": 1000, "ptflops": 3000, "macs": 500}
    return ModelCount(model, up, side, 1000, flops)


def _stop_here(*args, **kwargs):
    raise typer.Exit(0)


def _whole_table(setattr_) -> None:
    from xncost.paper import wholemodel

    build = wholemodel.build_whole_table
    whole = functools.cache(lambda n: build(n, measure=_fake_count))
    setattr_(wholemodel, "build_whole_table", lambda n, measure=None, progress=False: whole(n))


def _no_training(setattr_) -> None:
    from xncost.train import loop

    setattr_(loop, "run_training", _stop_here)


def _no_bench(setattr_) -> None:
    from xncost.kernels import bench

    setattr_(bench, "run_bench", _stop_here)


def _audit_text(setattr_) -> None:
    from xncost.paper import audit

    setattr_(audit, "audit_markdown", lambda: "# Audit stand-in\n")


def _summary_reports(setattr_) -> None:
    from xncost.cli.commands import tables

    setattr_(tables, "summary_report", lambda model: f"# Summary stand-in of {model}\n")


def _model_rows(setattr_) -> None:
    from xncost.cli.commands import models

    rows = [
        {
            "name": "nin",
            "upsampling": None,
            "description": "NIN",
            "input": [3, 32, 32],
            "classes": 10,
            "params": 969822,
        }
    ]
    setattr_(models, "model_rows", lambda: rows)


def _cached_summaries(setattr_) -> None:
    from xncost.profile import summary

    setattr_(summary, "summarize_model", functools.cache(summary.summarize_model))


STAND_INS = {  # command -> the stand-ins it needs (a child process installs only those)
    "table4": (_whole_table,),
    "table8": (_whole_table,),
    "reports": (_whole_table, _audit_text, _summary_reports),
    "train": (_no_training,),
    "bench": (_no_bench,),
    "audit": (_audit_text,),
    "models": (_model_rows,),
    "summary": (_cached_summaries,),
}


def install_stand_ins(setattr_, command: str | None = None) -> None:
    """Quick stand-ins for the slow work behind some commands (see the module docstring):
    all, or those `command` needs; `setattr_` sets one (a MonkeyPatch's, or the builtin in a
    child process)."""
    wanted = STAND_INS.get(command, ()) if command else {f for fs in STAND_INS.values() for f in fs}
    for install in dict.fromkeys(wanted):
        install(setattr_)


@pytest.fixture(scope="module")
def stand_ins():
    mp = pytest.MonkeyPatch()
    install_stand_ins(mp.setattr)
    yield
    mp.undo()


@contextmanager
def scratch_cwd():
    """An empty temporary directory as cwd, holding a file `blocker` and a directory `dir`
    (with a file `dir/blocker2`) for paths that cannot be written."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        os.chdir(d)
        try:
            Path("blocker").write_text("x")
            Path("dir").mkdir()
            Path("dir/blocker2").write_text("x")
            yield Path(d)
        finally:
            os.chdir(old)


def snapshot(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


def out_value(args: list[str]) -> str | None:
    """The last value given to --out (what the command uses), if any."""
    value = None
    for a, b in zip(args, args[1:], strict=False):
        if a == "--out":
            value = b
    return value


def check_run(args: list[str]) -> None:
    with scratch_cwd() as root:
        before = snapshot(root)
        r = invoke(args)
        after = snapshot(root)
    OUTCOMES[args[0]][r.exit_code] += 1
    assert r.exit_code in (0, 2), (args, r.exit_code, r.exception, r.output)
    assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.exception)
    assert "Traceback" not in r.stderr, args
    new = after - before
    if "--help" not in args and any(not a.strip() for a in args):
        assert r.exit_code == 2, (args, "an empty value must not mean the default")
    if r.exit_code == 2:
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("xncost: error: "), (args, r.stderr)
        assert not new, (args, new)
        return
    out = out_value(args)
    if out is None or "--help" in args:
        assert not new, (args, new)
    else:
        base = Path(os.path.normpath(out))
        assert all(p == base or base in p.parents or p in base.parents for p in new), (args, new)


# table4/table8 included: their measurement is a stand-in here
FUZZED = sorted(COMMANDS)


@pytest.mark.parametrize("name", FUZZED)
def test_fuzz_command(name, stand_ins):
    n = EXAMPLES.get(name, DEFAULT_EXAMPLES)[DEEP]

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(invocation(name))
    def run(args):
        check_run(args)

    run()


def test_fuzz_reaches_valid_runs():
    """The fuzz is not only bad input: most commands ran to success at least once."""
    if len(OUTCOMES) < len(FUZZED):
        pytest.skip("needs the whole fuzz run")
    total = sum(sum(c.values()) for c in OUTCOMES.values())
    ok = sum(c[0] for c in OUTCOMES.values())
    print(f"fuzz: {total} invocations, {ok} exit 0, {total - ok} exit 2")
    assert sum(OUTCOMES[name][0] > 0 for name in FUZZED) >= len(FUZZED) // 2, dict(OUTCOMES)


REAL = [
    ["cost", "xnodr", "--out", "a\nb/c", "--caps-in", "0"],
    ["table5", "--out", "blocker/x"],
    ["cost", "fc", "--dims", ""],
    ["table9", "--format", "\udcff"],
    ["models", "--format", "\udcfe\n"],
    ["sweep", "xnidr", "--caps-in", "1:" + "9" * 400, "--out", "o"],
]


@pytest.mark.parametrize("args", REAL)
def test_real_process_one_line_exit_2(args, tmp_path):
    Path(tmp_path / "blocker").write_text("x")
    p = subprocess.run(
        [sys.executable, "-m", "xncost", *args], capture_output=True, cwd=tmp_path, timeout=120
    )
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 2, (args, p.returncode, err)
    assert err.count("\n") == 1 and err.startswith("xncost: error: "), (args, err)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["blocker"]


# ----------------------------------------------------------------------------- real processes:
# closed and ASCII-only streams, every command (its slow work replaced as above, in the child)

STREAM_RUNS = (6, 120)  # subprocess invocations: default run, then the deep profile
CONDITIONS = ("stdout closed", "stderr closed", "ascii stdout", "C locale", "stdin closed")
BOOT = (
    "import sys; sys.path[:0] = {tests!r}; import test_fuzz; "
    "test_fuzz.install_stand_ins(setattr, {command!r}); from xncost.__main__ import main; main()"
)
STREAM_OUTCOMES: collections.Counter = collections.Counter()


def _run_in_child(args: list[str], condition: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "LC_ALL")}
    env["COLUMNS"] = "100"
    if condition == "ascii stdout":
        env["PYTHONIOENCODING"] = "ascii"
    if condition == "C locale":
        env.update(LC_ALL="C", LANG="C", PYTHONCOERCECLOCALE="0", PYTHONUTF8="0")
    closed = {"stdout closed": 1, "stderr closed": 2, "stdin closed": 0}.get(condition)
    here = Path(__file__).parent
    code = BOOT.format(tests=[str(here), str(here.parent)], command=args[0])
    kwargs: dict = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    if closed is not None:
        kwargs[("stdin", "stdout", "stderr")[closed]] = None

        def close_it(fd=closed):  # in the child, before exec
            os.close(fd)

        kwargs["preexec_fn"] = close_it
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, timeout=300, **kwargs
    )


@st.composite
def stream_case(draw):
    name = draw(st.sampled_from(FUZZED))
    return draw(invocation(name)), draw(st.sampled_from(CONDITIONS))


def test_fuzz_closed_and_ascii_streams(tmp_path):
    """Any invocation, with a standard stream closed or an ASCII-only stdout: exit 0 or 2, one
    error line, no traceback, nothing stray; a closed stdout is refused before any work."""

    @settings(
        max_examples=STREAM_RUNS[DEEP],
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(stream_case())
    def run(case):
        args, condition = case
        with scratch_cwd() as root:
            before = snapshot(root)
            p = _run_in_child(args, condition, root)
            new = snapshot(root) - before
        STREAM_OUTCOMES[(condition, p.returncode)] += 1
        err = (p.stderr or b"").decode("utf-8", "replace")
        assert p.returncode in (0, 2), (args, condition, p.returncode, err[-2000:])
        assert "Traceback" not in err, (args, condition, err[-2000:])
        if condition != "stderr closed" and p.returncode == 2:
            lines = err.splitlines()
            assert len(lines) == 1 and lines[0].startswith("xncost: error: "), (args, err)
        if condition == "stdout closed":
            assert p.returncode == 2 and "standard output is closed" in err, (args, err)
        if condition in ("ascii stdout", "C locale"):
            assert all(b < 128 for b in p.stdout), (args, condition)
        if p.returncode == 2 or out_value(args) is None or "--help" in args:
            assert not new, (args, condition, new)

    run()
    print("streams:", dict(sorted(STREAM_OUTCOMES.items())))
