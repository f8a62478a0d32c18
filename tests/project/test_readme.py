"""The README: the Quick start is two commands, and its runnable examples run."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import invoke

pytestmark = pytest.mark.heavy  # seconds per test (tests/conftest.py: not in -m fast)

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_quick_start_is_two_commands():
    section = README.split("## Quick start", 1)[1].split("##", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) == 2
    assert lines[0].endswith("xncost table5") and "torch==2.13.0" in lines[0]
    assert "pytest" in lines[1] and "[test]" in lines[1]


def test_runnable_examples_run(tmp_path):
    blocks = re.findall(
        r"<!-- runnable -->\n```python\n(.*?)```(?:\n\nprints\n\n```\n(.*?)```)?", README, re.S
    )
    assert blocks
    for i, (code, expected) in enumerate(blocks):
        script = tmp_path / f"example{i}.py"
        script.write_text(code)
        p = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300
        )
        assert p.returncode == 0, p.stderr
        if expected:
            assert p.stdout == expected


# README example lines `$ xncost ...` whose run takes long: run under -m slow only
SLOW = ("table4", "table8", "train", "bench", "--measure", "sweep xnidr --caps-in 8:2048")


def readme_commands():
    """Every `$ xncost ...` line of the README's code blocks (comments dropped, `&&` split)."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", README, re.S):
        for line in block.splitlines():
            m = re.match(r"\$ (xncost .*?)\s*(?:#.*)?$", line)
            if m:
                found += [c.strip() for c in m.group(1).split("&&")]
    return found


# `summary PATH.py:NAME` / `package.module:NAME` examples need the reader's own model file
USER_MODEL = re.compile(r"\ssummary\s+\S+:\w+")


def _slow(command):
    return any(s in command for s in SLOW) or command == "xncost reports --out reports"


def _run_example(command, tmp_path):
    import shlex

    argv = shlex.split(command)
    assert argv[0] == "xncost"
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        r = invoke(argv[1:])
    finally:
        os.chdir(old)
    assert r.exit_code == 0, (command, r.output)
    return r.stdout


def test_readme_has_command_examples():
    commands = readme_commands()
    assert len(commands) >= 15 and any(_slow(c) for c in commands)
    assert not [c for c in commands if "[" in c or "<" in c]  # literal, no notation


@pytest.mark.parametrize(
    "command", [c for c in readme_commands() if not _slow(c) and not USER_MODEL.search(c)]
)
def test_readme_example_runs(command, tmp_path):
    _run_example(command, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "command", [c for c in readme_commands() if _slow(c) and not USER_MODEL.search(c)]
)
def test_readme_slow_example_runs(command, tmp_path):
    _run_example(command, tmp_path)


def test_readme_figures_are_what_the_tool_prints(tmp_path):
    import json
    from fractions import Fraction

    import xncost

    rows = re.findall(r"^\| (5|7|9) \| (\d+) \| (\d+) \|", README, re.M)
    assert len(rows) == 3
    for number, match, mismatch in rows:
        summary = json.loads(_run_example(f"xncost table{number} --format json", tmp_path))
        assert (summary["summary"]["match"], summary["summary"]["mismatch"]) == (
            int(match),
            int(mismatch),
        )
    t7 = _run_example("xncost table7 --format md", tmp_path)
    found = re.findall(r"(63\.\d\d) needs N in (\[[\d,]+, [\d,]+\])", README)
    assert found
    for printed, interval in found:
        assert f"{printed} needs N in {interval}" in t7
    b = xncost.cost("xnodr", caps_in=37, caps_out=7, dim_in=5, dim_out=11, iterations=4, batch=3)
    assert b.totals["flops"] == Fraction(18524457, 64) and b.totals["xnor_bops"] == 25641
    assert "Fraction(18524457, 64)" in README and "25,641" in README
    assert "exact ints" not in README
