"""All-or-nothing publishes (xncost.io.files): failures, crashes at every step, signals,
recovery."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest

from xncost.errors import XncostError
from xncost.io import files as F

OLD = {"table5.md": b"old md\n", "table5.csv": b"old,csv\n", "breakeven_dr.csv": b"old be\n"}
NEW = {"table5.md": "new md\n", "table5.csv": "new,csv\n", "breakeven_dr.csv": "new be\n"}


def _contents(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}


def _stages(d: Path) -> list[str]:
    return [p.name for p in d.iterdir() if p.name.startswith(F.STAGE_PREFIX)]


def _old_set(d: Path) -> None:
    d.mkdir(exist_ok=True)
    for name, data in OLD.items():
        (d / name).write_bytes(data)


def _new_bytes() -> dict[str, bytes]:
    return {k: v.encode() for k, v in NEW.items()}


def test_writes_every_file_with_the_usual_mode_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"  # missing directories are created by the publish
    paths = F.write_atomic_many({out / k: v for k, v in NEW.items()})
    assert paths == [out / k for k in NEW]
    assert _contents(out) == _new_bytes()
    assert _stages(out) == [] and _stages(tmp_path) == [] and _stages(tmp_path / "a") == []
    mode = stat.S_IMODE((out / "table5.md").stat().st_mode)
    assert mode == F.FILE_MODE


def test_one_failing_file_publishes_nothing(tmp_path: Path) -> None:
    _old_set(tmp_path)
    (tmp_path / "breakeven_dr.csv").unlink()
    (tmp_path / "breakeven_dr.csv").mkdir()  # a directory where a file goes
    with pytest.raises(XncostError, match=r"breakeven_dr.csv: it is a directory"):
        F.write_atomic_many({tmp_path / k: v for k, v in NEW.items()})
    assert _contents(tmp_path) == {k: v for k, v in OLD.items() if k != "breakeven_dr.csv"}
    assert _stages(tmp_path) == []


def test_a_failed_write_creates_no_directory(tmp_path: Path) -> None:
    out = tmp_path / "new"
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(XncostError, match="blocker is not a directory"):
        F.write_atomic_many({out / "a.md": "a", tmp_path / "blocker" / "b.md": "b"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_empty_paths_refused(tmp_path: Path) -> None:
    with pytest.raises(XncostError, match="must not be empty"):
        F.write_atomic("", "x")
    with pytest.raises(XncostError, match="must not be empty"):
        with F.staged_outputs(""):
            pass


def _crash_child(d: Path, die_at: int) -> int:
    """Fork a writer that dies (os._exit, like kill -9) at its `die_at`-th os.replace."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        calls = [0]
        real = os.replace

        def replace(src, dst):
            calls[0] += 1
            if calls[0] == die_at:
                os._exit(9)
            real(src, dst)

        os.replace = replace
        try:
            F.write_atomic_many({d / k: v for k, v in NEW.items()})
        finally:
            os._exit(0)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.parametrize("die_at", [1, 2, 3, 4, 5])
def test_kill_at_every_rename_then_recovery(tmp_path: Path, die_at: int) -> None:
    """os.replace calls: 1 the commit marker, 2..4 the three files. Killed at the marker: the
    old set; killed after it: the next writer completes the new set from the journal."""
    _old_set(tmp_path)
    code = _crash_child(tmp_path, die_at)
    assert code == (9 if die_at <= 4 else 0)
    got = _contents(tmp_path)
    if die_at == 1:
        assert got == OLD and len(_stages(tmp_path)) == 1
    F.recover(tmp_path)
    assert _contents(tmp_path) == (OLD if die_at == 1 else _new_bytes())
    assert _stages(tmp_path) == []


def test_a_new_writer_rolls_a_committed_publish_forward(tmp_path: Path) -> None:
    _old_set(tmp_path)
    assert _crash_child(tmp_path, 3) == 9  # one file renamed: a mix, with its journal
    assert _contents(tmp_path) not in (OLD, _new_bytes())
    F.write_atomic(tmp_path / "other.txt", "x")
    assert _contents(tmp_path) == {**_new_bytes(), "other.txt": b"x"}
    assert _stages(tmp_path) == []


def test_recovery_spares_a_live_stage(tmp_path: Path) -> None:
    with F.staged_outputs(tmp_path) as out:
        out.path("x.csv").write_text("1")
        F.recover(tmp_path)  # the stage is locked by this process: alive
        assert len(_stages(tmp_path)) == 1
        assert not (tmp_path / "x.csv").exists()
    assert (tmp_path / "x.csv").read_text() == "1" and _stages(tmp_path) == []


def test_staged_outputs_joins_nested_writes_and_publishes_on_exit(tmp_path: Path) -> None:
    _old_set(tmp_path)
    with F.staged_outputs(tmp_path) as out:
        with out.path("table5.md").open("w") as f:
            f.write(NEW["table5.md"])
        F.write_atomic_many({tmp_path / "table5.csv": NEW["table5.csv"]})
        F.write_atomic(tmp_path / "breakeven_dr.csv", NEW["breakeven_dr.csv"])
        assert _contents(tmp_path) == OLD  # nothing visible before the end
    assert _contents(tmp_path) == _new_bytes() and _stages(tmp_path) == []


def test_staged_outputs_exception_publishes_nothing(tmp_path: Path) -> None:
    _old_set(tmp_path)
    with pytest.raises(RuntimeError):
        with F.staged_outputs(tmp_path) as out:
            out.path("table5.md").write_text("new")
            F.write_atomic(tmp_path / "table5.csv", "new")
            raise RuntimeError
    assert _contents(tmp_path) == OLD and _stages(tmp_path) == []


def test_sigterm_while_staging_removes_the_stage(tmp_path: Path) -> None:
    _old_set(tmp_path)
    with pytest.raises(F.Interrupted, match="SIGTERM"):
        with F.staged_outputs(tmp_path) as out:
            out.path("table5.md").write_text("new")
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("not interrupted")  # pragma: no cover
    assert _contents(tmp_path) == OLD and _stages(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handler restored


def test_signals_wait_for_the_end_of_a_publish(tmp_path: Path) -> None:
    real = os.replace

    def replace(src, dst):  # SIGINT in the middle of the renames
        real(src, dst)
        if Path(dst).name == "table5.csv":
            os.kill(os.getpid(), signal.SIGINT)

    _old_set(tmp_path)
    os.replace = replace
    try:
        with pytest.raises(KeyboardInterrupt):
            F.write_atomic_many({tmp_path / k: v for k, v in NEW.items()})
    finally:
        os.replace = real
    assert _contents(tmp_path) == _new_bytes() and _stages(tmp_path) == []


def test_all_or_nothing_decorator(tmp_path: Path) -> None:
    @F.all_or_nothing("out")
    def command(out: Path, fail: bool) -> None:
        F.write_atomic(out / "a.md", "a")
        F.write_atomic(out / "b.md", "b")
        if fail:
            raise XncostError("late failure")

    with pytest.raises(XncostError, match="late failure"):
        command(tmp_path / "out", True)
    assert list(tmp_path.iterdir()) == []
    command(tmp_path / "out", False)
    assert _contents(tmp_path / "out") == {"a.md": b"a", "b.md": b"b"}


# ----------------------------------------------------------------------------- markers and names


def _abandoned_stage(d: Path, name: str, committed: dict | None = None) -> Path:
    """A stage as a writer killed by SIGKILL leaves it: marker, staged files, no lock."""
    stage = d / f"{F.STAGE_PREFIX}{name}"
    (stage / F.ROOT_NAME).mkdir(parents=True)
    (stage / F.MARKER_NAME).write_bytes(F.MARKER_TEXT)
    (stage / F.ROOT_NAME / "table5.md").write_text("staged")
    if committed is not None:
        import json

        (stage / F.COMMIT_NAME).write_text(json.dumps(committed))
    return stage


def test_recovery_deletes_only_directories_that_hold_the_marker(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _old_set(out)
    mine = [out / f"{F.STAGE_PREFIX}mine", tmp_path / f"{F.STAGE_PREFIX}user"]
    for d in mine:  # the user's own directories, named like stages, with data
        d.mkdir()
        (d / "data.txt").write_text("precious")
    (out / f"{F.STAGE_PREFIX}forged").mkdir()
    (out / f"{F.STAGE_PREFIX}forged" / F.MARKER_NAME).write_text("not xncost's text")
    abandoned = _abandoned_stage(out, "abandoned")
    unmarked = out / f"{F.STAGE_PREFIX}killed-before-its-marker"
    unmarked.mkdir()  # empty: a writer killed between mkdtemp and its marker
    cut = out / f"{F.STAGE_PREFIX}killed-while-marking"
    cut.mkdir()
    (cut / F.MARKER_NAME).write_bytes(F.MARKER_TEXT[:5])  # killed mid-write
    F.write_atomic_many({out / k: v for k, v in NEW.items()})
    assert all((d / "data.txt").read_text() == "precious" for d in mine)
    assert (out / f"{F.STAGE_PREFIX}forged").is_dir()
    assert not abandoned.exists() and not unmarked.exists() and not cut.exists()
    assert _contents(out) == _new_bytes()


def test_a_committed_stage_is_rolled_forward_with_its_removals(tmp_path: Path) -> None:
    _old_set(tmp_path)
    stage = _abandoned_stage(
        tmp_path, "committed", {"move": [["table5.md"]], "remove": [["breakeven_dr.csv"]]}
    )
    F.recover(tmp_path)
    assert _contents(tmp_path) == {"table5.md": b"staged", "table5.csv": OLD["table5.csv"]}
    assert not stage.exists()


@pytest.mark.parametrize(
    "target", [f"{F.STAGE_PREFIX}x/table5.md", f"a/{F.STAGE_PREFIX}y/b/table5.md"]
)
def test_outputs_under_a_stage_name_are_refused(tmp_path: Path, target: str) -> None:
    with pytest.raises(XncostError, match="reserved for xncost's staging directories"):
        F.write_atomic(tmp_path / target, "x")
    with pytest.raises(XncostError, match="reserved"):
        with F.staged_outputs(tmp_path / Path(target).parent):
            pass  # pragma: no cover
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_deletion_of_a_stage_keeps_its_marker(tmp_path: Path) -> None:
    """The marker goes last: whatever else is already gone, the next writer finishes."""
    stage = _abandoned_stage(tmp_path, "half")
    real = os.unlink

    def unlink(path, *a, **k):
        if Path(path).name == "table5.md":
            raise KeyboardInterrupt  # the deletion stops here
        return real(path, *a, **k)

    os.unlink = unlink
    try:
        with pytest.raises(KeyboardInterrupt):
            F._remove_stage(stage)
    finally:
        os.unlink = real
    assert (stage / F.MARKER_NAME).is_file()
    F.recover(tmp_path)
    assert not stage.exists()


def test_stale_outputs_are_removed_with_the_publish_only(tmp_path: Path) -> None:
    _old_set(tmp_path)
    with pytest.raises(RuntimeError):
        with F.staged_outputs(tmp_path) as out:
            out.write("table5.md", "new")
            F.remove_stale(tmp_path / "table5.csv")
            raise RuntimeError  # nothing published, nothing removed
    assert _contents(tmp_path) == OLD
    with F.staged_outputs(tmp_path) as out:
        out.write("table5.md", "new")
        out.remove("table5.csv")
        out.remove("table5.md")  # written by this publish: kept
        out.remove("missing.png")  # not there: nothing to do
    assert _contents(tmp_path) == {"table5.md": b"new", "breakeven_dr.csv": OLD["breakeven_dr.csv"]}
    assert _stages(tmp_path) == []


def test_the_directory_lock_is_reentrant_and_publishes_inside_it(tmp_path: Path) -> None:
    with F.locked(tmp_path):
        with F.locked(tmp_path):
            F.write_atomic(tmp_path / "a.md", "a")
        F.write_atomic_many({tmp_path / "b.md": "b", tmp_path / "c.md": "c"})
    assert _contents(tmp_path) == {"a.md": b"a", "b.md": b"b", "c.md": b"c"}


def test_a_deleted_working_directory_is_one_error(tmp_path: Path, monkeypatch) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(XncostError, match="working directory no longer exists"):
        F.write_atomic("o/table5.md", "x")


@pytest.mark.heavy
def test_a_path_that_is_not_utf8_prints_its_own_bytes(tmp_path):
    """The error line names the path as the user typed it, byte for byte (docs/files.md)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    arg = os.fsencode(tmp_path) + b"/zz\xff.py:x"
    p = subprocess.run(
        [sys.executable, "-m", "xncost", "summary", arg, "--input", "1x4"],
        capture_output=True,
        env=env,
    )
    assert p.returncode == 2
    assert p.stderr.count(b"\n") == 1 and b"/zz\xff.py: no such file" in p.stderr
