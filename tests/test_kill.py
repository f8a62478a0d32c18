"""Kill tests: `xncost table5 --out DIR` and `xncost sweep` killed at random moments.

Every time, the directory must hold the complete old set or the complete new set of files
(byte for byte) once recovered: at once after SIGINT/SIGTERM (the stage is removed before the
process exits), after `xncost.files.recover` (what the next run does first) after kill -9.
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

from xncost.files import STAGE_PREFIX, recover

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
KILLS = int(os.environ.get("XNCOST_KILLS", "25" if DEEP else "5"))
CLI = [sys.executable, "-m", "xncost.cli"]
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
