"""Kill tests: `xncost table5 --out DIR` and `xncost sweep` killed at random moments;
writers and trainers into one directory at once; SIGINT/SIGTERM at random moments from the
entry point's first instant of handling, once and twice.

Every time, the directory must hold the complete old set or the complete new set of files
(byte for byte) once recovered: at once after SIGINT/SIGTERM (the stage is removed before the
process exits), after `xncost.io.files.recover` (what the next run does first) after kill -9.
Kill moments: uniform over a clean run's duration, while the files are being staged, and
just after the first target file is replaced (inside the publish). XNCOST_KILLS sets the
number of kills per command (default 5; 25 under HYPOTHESIS_PROFILE=ci).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from xncost.io.files import STAGE_PREFIX, recover

pytestmark = pytest.mark.heavy  # seconds per test (tests/conftest.py: not in -m fast)

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
KILLS = int(os.environ.get("XNCOST_KILLS", "25" if DEEP else "5"))
CLI = [sys.executable, "-m", "xncost"]
SWEEP = ["sweep", "xnodr", "--dim-out", "4:16", "--no-plots"]
MOMENTS = ("uniform", "staging", "publish")


def _run(args: list[str], cwd: Path) -> float:
    start = time.monotonic()
    subprocess.run([*CLI, *args], cwd=cwd, check=True, capture_output=True)
    return time.monotonic() - start


def _files(d: Path, names: list[str]) -> dict[str, bytes]:
    return {n: (d / n).read_bytes() for n in names if (d / n).is_file()}


def _leftovers(d: Path, names: list[str]) -> list[str]:
    extra = [p.name for p in d.iterdir() if p.name not in names]
    return extra + [p.name for p in d.parent.iterdir() if p.name.startswith(STAGE_PREFIX)]


def _inodes(d: Path, names: list[str]) -> dict[str, int]:
    return {n: (d / n).stat().st_ino for n in names if (d / n).exists()}


def _kill(
    proc: subprocess.Popen,
    sig: int,
    moment: str,
    d: Path,
    names: list[str],
    span: float,
    rng: random.Random,
    stage_share: float,
) -> str:
    """Send `sig` at `moment`; 'finished' if the run ended before."""
    before = _inodes(d, names)
    deadline = time.monotonic() + 60
    if moment == "uniform":
        time.sleep(rng.uniform(0, 1.1 * span))
    while moment != "uniform" and proc.poll() is None and time.monotonic() < deadline:
        if moment == "staging" and any(p.name.startswith(STAGE_PREFIX) for p in d.iterdir()):
            time.sleep(rng.uniform(0, stage_share * span))
            break
        if moment == "publish" and _inodes(d, names) != before:
            break
    if proc.poll() is not None:
        return "finished"
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return "killed"


def _trials(
    tmp_path: Path,
    args_old: list[str] | None,
    args_new: list[str],
    names: list[str],
    signals: tuple[int, ...],
    seed: int,
    stage_share: float,
) -> Counter:
    """`args_new` run KILLS times over the outputs of `args_old` (None: made-up files)."""
    ref_old, ref_new = tmp_path / "old", tmp_path / "new"
    if args_old is None:
        ref_old.mkdir()
        for n in names:
            (ref_old / n).write_text(f"the old {n}\n")
    else:
        _run([*args_old, "--out", str(ref_old)], tmp_path)
    span = _run([*args_new, "--out", str(ref_new)], tmp_path)
    old, new = _files(ref_old, names), _files(ref_new, names)
    assert set(old) == set(new) == set(names) and old != new
    rng = random.Random(seed)
    seen: Counter = Counter()
    for k in range(KILLS):
        work = tmp_path / f"run{k}"
        d = work / "out"
        work.mkdir()
        shutil.copytree(ref_old, d)
        sig = signals[k % len(signals)]
        moment = MOMENTS[(k // len(signals) + k) % len(MOMENTS)]  # every pair in turn
        proc = subprocess.Popen(
            [*CLI, *args_new, "--out", str(d)],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        how = _kill(proc, sig, moment, d, names, span, rng, stage_share)
        got = _files(d, names)
        state = "old" if got == old else "new" if got == new else "mixed"
        if sig != signal.SIGKILL or how == "finished":
            assert state in ("old", "new"), (k, signal.Signals(sig).name, moment, how)
            assert _leftovers(d, names) == [], (k, signal.Signals(sig).name, moment)
        recover(d)  # what the next run into d does first
        after = _files(d, names)
        assert after in (old, new), (k, signal.Signals(sig).name, moment, how, state)
        assert _leftovers(d, names) == [], (k, signal.Signals(sig).name, moment, how)
        if state == "mixed":
            state = "mixed until recovered, then " + ("old" if after == old else "new")
        seen[(signal.Signals(sig).name, moment, how, state)] += 1
    _run([*args_new, "--out", str(d)], work)  # and a real next run
    assert _files(d, names) == new and _leftovers(d, names) == []
    print(f"\n{KILLS} kills: " + "; ".join(f"{'/'.join(k)}: {v}" for k, v in sorted(seen.items())))
    return seen


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX signals")
def test_table5_out_killed_at_random_moments(tmp_path: Path) -> None:
    names = ["table5.md", "table5.csv"]
    args = ["table5", "--format", "md"]
    seen = _trials(tmp_path, None, args, names, (signal.SIGKILL,), seed=5, stage_share=0.0)
    assert sum(seen.values()) == KILLS


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX signals")
def test_sweep_killed_at_random_moments(tmp_path: Path) -> None:
    names = ["sweep_xnodr.csv", "sweep_xnodr.parquet", "breakeven_xnodr.csv"]
    pytest.importorskip("pyarrow")
    seen = _trials(
        tmp_path,
        None,
        [*SWEEP, "--caps-in", "1:8000:1"],
        names,
        (signal.SIGKILL, signal.SIGINT, signal.SIGTERM),
        seed=7,
        stage_share=0.5,
    )
    assert sum(seen.values()) == KILLS


# ----------------------------------------------------------------------------- concurrency


def _popen(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_two_writers_into_one_directory(tmp_path: Path) -> None:
    """Two commands publishing into one directory at once, again and again: each publish
    is complete, the same file holds one writer's version whole, no stage is left."""
    rounds = 6 if DEEP else 2
    refs = {}
    for caps in ("160", "256"):
        ref = tmp_path / f"ref{caps}"
        _run(["cost", "xnodr", "--caps-in", caps, "-f", "json", "--out", str(ref)], tmp_path)
        refs[caps] = (ref / "cost_xnodr.json").read_bytes()
    _run([*SWEEP, "--caps-in", "1:2000:1", "--out", str(tmp_path / "refsweep")], tmp_path)
    sweep_names = ["sweep_xnodr.csv", "breakeven_xnodr.csv"]
    sweep_ref = _files(tmp_path / "refsweep", sweep_names)
    for k in range(rounds):
        d = tmp_path / f"shared{k}"
        procs = [
            _popen(["cost", "xnodr", "--caps-in", "160", "-f", "json", "--out", str(d)], tmp_path),
            _popen(["cost", "xnodr", "--caps-in", "256", "-f", "json", "--out", str(d)], tmp_path),
            _popen([*SWEEP, "--caps-in", "1:2000:1", "--no-parquet", "--out", str(d)], tmp_path),
        ]
        for p in procs:
            assert p.wait(timeout=120) == 0, p.stderr.read() if p.stderr else ""
        assert (d / "cost_xnodr.json").read_bytes() in refs.values()
        assert _files(d, sweep_names) == sweep_ref
        assert sorted(x.name for x in d.iterdir()) == sorted(["cost_xnodr.json", *sweep_names])
        assert [x.name for x in tmp_path.iterdir() if x.name.startswith(STAGE_PREFIX)] == []


def test_two_trainers_append_both_rows(tmp_path: Path) -> None:
    """Two `train --out o` at once: both rows are in validation.csv (the append is a
    read-modify-write under the directory's lock)."""
    pytest.importorskip("sklearn")
    runs = [
        _popen(
            ["train", "--head", "fc", "--epochs", "1", "--seed", s, "--out", "o", "-q"], tmp_path
        )
        for s in ("1", "2")
    ]
    for p in runs:
        assert p.wait(timeout=300) == 0, p.stderr.read() if p.stderr else ""
    text = (tmp_path / "o" / "validation.csv").read_text()
    seeds = sorted(line.split(",")[4] for line in text.splitlines()[1:])
    assert seeds == ["1", "2"]
    assert sorted(x.name for x in (tmp_path / "o").iterdir()) == ["validation.csv", "validation.md"]


# ----------------------------------------------------------------------------- early signals


def _handlers_set(pid: int) -> bool:
    """True once the process catches SIGTERM (/proc/PID/status SigCgt): xncost's entry point
    sets its handlers before anything else; before that the interpreter is starting up."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("SigCgt:")), "0")
    return bool(int(caught, 16) >> (signal.SIGTERM - 1) & 1)


def _entry() -> list[str]:
    script = Path(sys.executable).parent / "xncost"
    return [str(script)] if script.exists() else [sys.executable, "-m", "xncost"]


def _signalled(
    args: list[str], cwd: Path, delay: float, sig: int, second: float | None = None
) -> tuple[int, str, float]:
    """Run the real entry point, send `sig` `delay` s after its handlers are set (and again
    `second` s later); exit code, stderr and how long the handlers took to be set."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [*_entry(), *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    while not _handlers_set(proc.pid) and proc.poll() is None:
        time.sleep(0.0005)
    ready = time.monotonic() - start
    time.sleep(delay)
    for gap in (0.0,) if second is None else (0.0, second):
        time.sleep(gap)
        if proc.poll() is None:
            proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err.decode("utf-8", "replace"), ready


def _one_line_or_done(code: int, err: str) -> bool:
    if code == 0:
        return err == ""
    return code == 130 and err == "xncost: error: interrupted\n"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_early_and_double_signals_are_one_line(tmp_path: Path) -> None:
    """SIGINT/SIGTERM from the moment the handlers are set (during the imports, the
    command, the publish and the shutdown), once or twice in quick succession: exit 130 with
    one line (or 0, if the command ended first), no traceback, no stray file."""
    rng = random.Random(11)
    seen: Counter = Counter()
    ready = []
    for k in range(KILLS * 2):
        sig = (signal.SIGINT, signal.SIGTERM)[k % 2]
        work = tmp_path / f"w{k}"
        work.mkdir()
        second = rng.uniform(0, 0.05) if k % 3 == 0 else None
        args = ["table9", "-f", "md", "--out", "o"] if k % 4 < 2 else [*SWEEP, "--out", "o"]
        if args[0] == "sweep":
            args = [*args, "--caps-in", "1:3000:1"]
        code, err, took = _signalled(args, work, rng.uniform(0, 0.6), sig, second)
        ready.append(took)
        assert _one_line_or_done(code, err), (k, args, code, err[-2000:])
        left = sorted(x.name for x in work.iterdir())
        assert left in ([], ["o"]), (k, left)
        if left:  # published whole before the signal, or the command ended
            assert [x.name for x in (work / "o").iterdir() if x.name.startswith(STAGE_PREFIX)] == []
        seen[(signal.Signals(sig).name, "twice" if second is not None else "once", code)] += 1
    print(
        f"\n{len(ready)} signalled runs: "
        + "; ".join(f"{'/'.join(map(str, k))}: {v}" for k, v in sorted(seen.items()))
        + f"; handlers set after {min(ready) * 1000:.0f}-{max(ready) * 1000:.0f} ms"
    )
