"""All-or-nothing file outputs: staged beside the targets, published through a journal.

Every file xncost writes goes through this module (docs/files.md). One *publish* writes a
set of files (one command's outputs) in four steps:

1. Stage: a hidden directory `.xncost-stage-*` is made in the *base*, the targets' common
   directory (or its deepest existing ancestor, so that a failed run creates no directory),
   with the marker file `XNCOST-STAGE` in it. Each output is written, or streamed
   (`staged_outputs`), to its path relative to the base under `<stage>/root/` and fsynced.
   The writer holds an `flock` on its stage directory until the stage is gone; the kernel
   drops it when the process dies, even by `kill -9`.
2. Commit: once every file is staged and checked (no target is a directory, every target
   on the stage's file system), a manifest `COMMIT` listing the *units* to move (and the
   stale outputs to delete, `remove_stale`) is written atomically (temporary file, fsync,
   rename, fsync). A unit is a target file, or the top-most directory that does not exist
   yet, moved as a whole. One unit needs no manifest: its rename is the commit.
3. Publish: each unit is renamed over its target, the stale outputs deleted, the
   directories fsynced, the stage removed.
4. Recover: before staging and before publishing, a writer locks the base directory and,
   for every stage there (and in the base's parent) that holds the marker and whose owner
   is gone, rolls a committed one forward (step 3 for what is still to do) and deletes an
   uncommitted one. A directory without the marker is never touched, whatever its name
   (one holding nothing but a marker cut short excepted: a writer killed while it made and
   marked its stage leaves it);
   outputs may not be written under a directory named `.xncost-stage-*` (refused).
   `recover(directory)` does the same on demand.

Guarantee, for the targets of one publish:
- an error in any file (a directory where a target goes, a full disk), SIGINT or SIGTERM
  before the commit: nothing is published and the stage is removed at once; SIGINT and
  SIGTERM during the commit and renames are deferred until the publish is complete;
- `kill -9` (or power loss) before the commit: the targets are untouched; the hidden stage
  stays until the next writer into that directory (or `recover`) deletes it;
- `kill -9` during the renames: the directory holds a mix until the next writer into it
  (or `recover`) completes the publish from the journal: the renames last microseconds;
- concurrent writers: publishes into one base are serialized by its lock; each is complete
  and the last one wins. A read-modify-write of a file (appending a row) holds the same
  lock around the read and the publish (`locked`), so that no concurrent update is lost.
Where `flock` is unavailable (not POSIX, or a file system without it), stages of other
processes are never deleted automatically. Any OSError becomes one clear `XncostError`
("cannot write PATH: reason").
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from xncost.errors import XncostError
from xncost.io.signals import Interrupted as Interrupted  # re-exported
from xncost.io.signals import critical as _critical
from xncost.io.signals import handled as signals_handled  # the name this module always offered

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

STAGE_PREFIX = ".xncost-stage-"
COMMIT_NAME = "COMMIT"
ROOT_NAME = "root"
MARKER_NAME = "XNCOST-STAGE"  # written into every stage: recovery touches no directory without it
MARKER_TEXT = b"a staging directory of xncost (docs/files.md); recovered by the next writer\n"
MAX_COMMIT_BYTES = 1 << 20  # a manifest lists a command's outputs: far less than this

PathLike = str | os.PathLike[str]
F = TypeVar("F", bound=Callable[..., Any])


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()  # the mode of new files (read once at import, single-threaded)


# ----------------------------------------------------------------------------- low level


def _reason(e: OSError) -> str:
    if isinstance(e, (FileExistsError, NotADirectoryError)):
        return "a parent is not a directory"
    return e.strerror or str(e)


def _open_dir(path: PathLike) -> int:
    return os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _lock(fd: int, wait: bool) -> bool:
    """An exclusive flock on `fd`; False if it is held elsewhere or unsupported."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


class _Held:
    """The directory locks this process holds: path -> depth, and one thread lock per path
    (flock is per open file: a second flock by the same process would wait for itself)."""

    depth: dict[str, int] = {}
    threads: dict[str, threading.RLock] = {}
    guard = threading.Lock()


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold the lock of `directory` (best effort: an unlockable directory is not locked);
    re-entrant within the process, exclusive between threads and processes."""
    key = os.path.abspath(directory)
    with _Held.guard:
        rlock = _Held.threads.setdefault(key, threading.RLock())
    with rlock:
        if _Held.depth.get(key):
            _Held.depth[key] += 1
            try:
                yield
            finally:
                _Held.depth[key] -= 1
            return
        try:
            fd = _open_dir(directory)
        except OSError:
            yield
            return
        try:
            _lock(fd, wait=True)
            _Held.depth[key] = 1
            yield
        finally:
            _Held.depth.pop(key, None)
            os.close(fd)


@contextmanager
def locked(directory: PathLike) -> Iterator[None]:
    """Hold `directory`'s lock, the one every publish into it takes, for a read-modify-write
    of files in it (`xncost.train.results`: appending a row). Publishes by this process
    inside the block proceed; other processes' wait until the block ends."""
    d = Path(os.path.abspath(directory))
    with _locked(d):
        yield


def _fsync_dir(directory: PathLike) -> None:
    try:
        fd = _open_dir(directory)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_within(path: str, directory: str) -> bool:
    return os.path.commonpath([path, directory]) == directory


def _move(src: Path, dst: Path) -> None:
    """Rename `src` over `dst`; a directory onto an existing one is merged file by file."""
    try:
        os.replace(src, dst)
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not (src.is_dir() and dst.is_dir()):
            raise
        for child in sorted(src.iterdir()):
            _move(child, dst / child.name)
        src.rmdir()


Parts = tuple[str, ...]  # a path relative to a stage's base, as its components


def _remove_file(path: Path) -> None:
    """Delete a published file being replaced by nothing (a stale output); gone already is
    fine."""
    try:
        if not path.is_dir() or path.is_symlink():
            os.unlink(path)
    except FileNotFoundError:
        pass


def _roll_forward(
    base: Path, stage: Path, units: Sequence[Parts], removals: Sequence[Parts] = ()
) -> tuple[Path, OSError] | None:
    """Move every unit still in `stage` to its place under `base`, then delete the `removals`
    (stale outputs); the first failure (target, error), if any: the rest is done all the
    same."""
    failure = None
    parents = set()
    for parts in units:
        src, dst = stage.joinpath(ROOT_NAME, *parts), base.joinpath(*parts)
        if not os.path.lexists(src):
            continue  # moved before an interruption
        try:
            _move(src, dst)
            parents.add(dst.parent)
        except OSError as e:
            failure = failure or (dst, e)
    for parts in removals:
        dst = base.joinpath(*parts)
        try:
            _remove_file(dst)
            parents.add(dst.parent)
        except OSError as e:
            failure = failure or (dst, e)
    for parent in sorted(parents):
        _fsync_dir(parent)
    return failure


def _parts_list(value: Any) -> list[Parts] | None:
    ok = isinstance(value, list) and all(
        isinstance(u, list)
        and u
        and all(isinstance(p, str) and p not in ("", ".", "..") and "/" not in p for p in u)
        for u in value
    )
    return [tuple(u) for u in value] if ok else None


def _read_commit(stage: Path) -> tuple[list[Parts], list[Parts]] | None:
    """The committed units and removals of a stage, or None if it was not committed."""
    try:
        with open(stage / COMMIT_NAME, "rb") as f:
            manifest = json.loads(f.read(MAX_COMMIT_BYTES + 1).decode("utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(manifest, list):  # the format before removals
        manifest = {"move": manifest, "remove": []}
    if not isinstance(manifest, dict):
        return None
    units, removals = _parts_list(manifest.get("move")), _parts_list(manifest.get("remove"))
    return (units, removals) if units is not None and removals is not None else None


def _remove_stage(path: PathLike) -> None:
    """Delete a stage, its marker last: a stage interrupted while being deleted keeps its
    marker, and the next writer finishes the deletion."""
    try:
        entries = [e for e in os.scandir(path) if e.name != MARKER_NAME]
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(path, MARKER_NAME))
        os.rmdir(path)


def _is_stage(path: str) -> bool:
    """True if the directory holds the marker xncost writes into each of its stages."""
    try:
        with open(os.path.join(path, MARKER_NAME), "rb") as f:
            return os.fstat(f.fileno()).st_size == len(MARKER_TEXT) and f.read() == MARKER_TEXT
    except OSError:
        return False


def _remove_if_unfinished(path: str) -> None:
    """Remove a stage-named directory that holds nothing, or nothing but a marker cut short:
    what a writer killed while it made and marked its stage leaves (nothing to lose)."""
    try:
        names = os.listdir(path)
        if names == [MARKER_NAME]:
            marker = os.path.join(path, MARKER_NAME)
            with open(marker, "rb") as f:
                cut_short = MARKER_TEXT.startswith(f.read(len(MARKER_TEXT) + 1))
            if not (cut_short and os.path.isfile(marker) and not os.path.islink(marker)):
                return
            os.unlink(marker)
        elif names:
            return
        os.rmdir(path)
    except OSError:
        pass


def _recover_locked(directory: Path) -> None:
    """Finish or delete the stages in `directory` whose writer is gone (lock held): only
    directories that hold xncost's marker. Any other directory, whatever its name, is left
    alone, except one named like a stage that holds nothing or a marker cut short: what a
    writer killed in the instant between making its stage and marking it (or unmarking and
    removing it) leaves (`_remove_if_unfinished`)."""
    try:
        entries = [e for e in os.scandir(directory) if e.name.startswith(STAGE_PREFIX)]
    except OSError:
        return
    for entry in sorted(entries, key=lambda e: e.name):
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            fd = _open_dir(entry.path)
        except OSError:
            continue
        try:
            if not _lock(fd, wait=False):
                continue  # its writer is alive (or locks are unavailable)
            if not _is_stage(entry.path):
                _remove_if_unfinished(entry.path)
                continue
            committed = _read_commit(Path(entry.path))
            if committed:
                _roll_forward(directory, Path(entry.path), *committed)
            _remove_stage(entry.path)
        finally:
            os.close(fd)
    _fsync_dir(directory)


def recover(directory: PathLike) -> None:
    """Complete the committed publishes and delete the abandoned stages in `directory`
    (every writer does this before it stages and publishes)."""
    d = Path(os.path.abspath(directory))
    if d.is_dir():
        with _critical(), _locked(d):
            _recover_locked(d)


# ----------------------------------------------------------------------------- stages


def _absolute(path: PathLike, shown: PathLike) -> Path:
    """`path` made absolute; XncostError if the working directory is gone."""
    try:
        return Path(os.path.abspath(path))
    except FileNotFoundError:
        raise XncostError(f"cannot write {shown}: the working directory no longer exists") from None


def check_name(path: PathLike, shown: PathLike | None = None) -> None:
    """Refuse a path through a directory named like a stage (`STAGE_PREFIX`): the name is
    reserved for the stages, which their writers and recovery move and delete."""
    shown = path if shown is None else shown
    if any(part.startswith(STAGE_PREFIX) for part in _absolute(path, shown).parts):
        raise XncostError(
            f"cannot write {shown}: names starting with {STAGE_PREFIX} are reserved for "
            "xncost's staging directories"
        )


def _existing_ancestor(directory: Path, shown: PathLike) -> Path:
    """The deepest existing directory at or above `directory`."""
    d = directory
    while not d.is_dir():
        if os.path.lexists(d):
            what = "it" if Path(shown) == d else str(d)
            raise XncostError(f"cannot write {shown}: {what} is not a directory")
        d = d.parent
    return d


class Stage:
    """Files staged for one all-or-nothing publish of targets under `directory`."""

    def __init__(self, directory: PathLike, shown: PathLike | None = None) -> None:
        self.shown = shown if shown is not None else directory
        self.directory = _absolute(directory, self.shown)
        check_name(self.directory, self.shown)
        self.base = _existing_ancestor(self.directory, self.shown)
        self.path: Path | None = None  # the stage directory
        self._fd: int | None = None
        self._files: dict[Path, tuple[Path, PathLike]] = {}  # target -> (staged, shown)
        self._removals: dict[Path, PathLike] = {}  # stale outputs: target -> shown

    def create(self) -> None:
        if self.base.parent != self.base:
            recover(self.base.parent)
        try:
            with _locked(self.base):
                _recover_locked(self.base)
                self.path = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=self.base))
                self._fd = _open_dir(self.path)
                _lock(self._fd, wait=False)
                marker = os.open(self.path / MARKER_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                try:
                    os.write(marker, MARKER_TEXT)
                finally:
                    os.close(marker)
            (self.path / ROOT_NAME).mkdir()
        except OSError as e:
            raise XncostError(f"cannot write {self.shown}: {_reason(e)}") from None

    def _target(self, target: PathLike) -> Path:
        t = _absolute(target, target)
        if str(target) in ("", ".") or not _is_within(str(t.parent), str(self.directory)):
            raise XncostError(f"cannot write {target!s}: not a file in {self.shown}")
        check_name(t, target)
        if t.is_dir():
            raise XncostError(f"cannot write {target}: it is a directory")
        return t

    def remove(self, target: PathLike) -> None:
        """Delete `target`, if it exists, with the publish: a stale output of an earlier run
        that this one does not write (a file staged for it wins)."""
        self._removals[self._target(target)] = target

    def staged_path(self, target: PathLike) -> Path:
        """Where to write (or stream) `target`; checked, its staged parents made."""
        assert self.path is not None, "stage not created"
        t = self._target(target)
        _existing_ancestor(t.parent, target)
        staged = self.path.joinpath(ROOT_NAME, t.relative_to(self.base))
        try:
            staged.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise XncostError(f"cannot write {target}: {_reason(e)}") from None
        self._files[t] = (staged, target)
        return staged

    def write(self, target: PathLike, data: str | bytes) -> None:
        staged = self.staged_path(target)
        try:
            with open(staged, "wb") as f:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise XncostError(f"cannot write {target}: {_reason(e)}") from None

    def _units(self, targets: list[Path]) -> list[Parts]:
        units: set[Parts] = set()
        for t in targets:
            parts = t.relative_to(self.base).parts
            missing = next(
                (k for k in range(1, len(parts)) if not self.base.joinpath(*parts[:k]).exists()),
                len(parts),
            )
            units.add(parts[:missing])
        return sorted(units)

    def _check(self, files: dict[Path, tuple[Path, PathLike]]) -> None:
        device = os.stat(self.path).st_dev  # type: ignore[arg-type]
        for t, (_, shown) in files.items():
            if t.is_dir():
                raise XncostError(f"cannot write {shown}: it is a directory")
            parent = _existing_ancestor(t.parent, shown)
            if os.stat(parent).st_dev != device:
                raise XncostError(f"cannot write {shown}: not on the file system of {self.base}")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise XncostError(f"cannot write {shown}: permission denied")

    def _stale(self, files: dict[Path, tuple[Path, PathLike]]) -> list[Parts]:
        """The removals that apply: existing files, not written by this publish."""
        return sorted(
            t.relative_to(self.base).parts
            for t in self._removals
            if t not in files and os.path.lexists(t) and not t.is_dir()
        )

    def publish(self) -> None:
        """Commit and publish every staged file that exists (and delete the stale outputs),
        then remove the stage."""
        assert self.path is not None, "stage not created"
        files = {t: v for t, v in self._files.items() if v[0].is_file()}
        try:
            for staged, _ in files.values():
                _fsync_file(staged)
            for parent in sorted({s.parent for s, _ in files.values()}):
                _fsync_dir(parent)
            with _locked(self.base):
                _recover_locked(self.base)
                self._check(files)
                units, removals = self._units(list(files)), self._stale(files)
                if len(units) + len(removals) > 1:
                    manifest = self.path / (COMMIT_NAME + ".tmp")
                    with open(manifest, "w", encoding="utf-8") as f:
                        json.dump({"move": [list(u) for u in units], "remove": removals}, f)
                        f.flush()
                        os.fsync(f.fileno())
                    os.replace(manifest, self.path / COMMIT_NAME)
                    _fsync_dir(self.path)
                failure = _roll_forward(self.base, self.path, units, removals)
        except OSError as e:
            raise XncostError(f"cannot write {self.shown}: {_reason(e)}") from None
        finally:
            self.discard()
        if failure is not None:
            raise XncostError(f"cannot write {failure[0]}: {_reason(failure[1])}")

    def discard(self) -> None:
        """Remove the stage (idempotent)."""
        if self.path is not None:
            _remove_stage(self.path)
            _fsync_dir(self.base)
            self.path = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


_ACTIVE: contextvars.ContextVar[tuple[Stage, ...]] = contextvars.ContextVar(
    "xncost_stages", default=()
)


def _active_stage(target: Path) -> Stage | None:
    parent = str(_absolute(target.parent, target))
    for stage in reversed(_ACTIVE.get()):
        if _is_within(parent, str(stage.directory)):
            return stage
    return None


class StagedDir:
    """A directory's outputs being staged: `path(name)` is where to write file `name`."""

    def __init__(self, stage: Stage, directory: PathLike) -> None:
        self.stage = stage
        self.directory = Path(directory)

    def target(self, name: str) -> Path:
        """Where file `name` is published."""
        return self.directory / name

    def path(self, name: str) -> Path:
        """The staging path to write (or stream) file `name` into."""
        return self.stage.staged_path(self.target(name))

    def write(self, name: str, data: str | bytes) -> Path:
        self.stage.write(self.target(name), data)
        return self.target(name)

    def remove(self, name: str) -> None:
        """Delete file `name` with the publish, unless it is written (`Stage.remove`)."""
        self.stage.remove(self.target(name))


@contextmanager
def staged_outputs(directory: PathLike) -> Iterator[StagedDir]:
    """Stage the outputs of one command in `directory`; published all or nothing on exit,
    removed on an exception, SIGINT or SIGTERM (see the module docstring).

    Inside, `write_atomic`, `write_atomic_many` and nested `staged_outputs` for files under
    `directory` join this publish.
    """
    if str(directory) == "":
        raise XncostError("an output directory must not be empty")
    active = _active_stage(_absolute(directory, directory) / "x")
    if active is not None:
        yield StagedDir(active, directory)
        return
    with signals_handled():
        stage = Stage(directory)
        token = None
        try:
            with _critical():
                stage.create()
            token = _ACTIVE.set((*_ACTIVE.get(), stage))
            yield StagedDir(stage, directory)
            with _critical():
                stage.publish()
        except BaseException:
            with _critical():
                stage.discard()
            raise
        finally:
            if token is not None:
                _ACTIVE.reset(token)


def all_or_nothing(param: str) -> Callable[[F], F]:
    """Decorate a function so that every file it writes under its argument `param` (a
    directory) is published all or nothing when it returns (`staged_outputs`)."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            import inspect  # at call time: keeps it off the CLI's start-up path

            sig = inspect.signature(fn)
            directory = sig.bind(*args, **kwargs).arguments.get(param)
            if directory is None:
                directory = sig.parameters[param].default
            with staged_outputs(directory):
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return wrap


def write_atomic_many(items: dict[PathLike, str | bytes]) -> list[Path]:
    """Write several files all or nothing (see the module docstring); the paths as given."""
    targets = [Path(t) for t in items]
    for t in targets:
        if str(t) in ("", "."):
            raise XncostError("an output path must not be empty")
        check_name(t)
    own = {}
    for t, data in zip(targets, items.values(), strict=True):
        stage = _active_stage(t)
        if stage is not None:
            stage.write(t, data)
        else:
            own[t] = data
    if own:
        parents = [str(_absolute(t.parent, t)) for t in own]
        common = os.path.commonpath(parents)
        with signals_handled(), _critical():
            stage = Stage(common, next(iter(own)) if len(own) == 1 else common)
            try:
                stage.create()
                for t, data in own.items():
                    stage.write(t, data)
                stage.publish()
            finally:
                stage.discard()
    return targets


def write_atomic(path: PathLike, data: str | bytes) -> Path:
    """Write one file atomically."""
    return write_atomic_many({path: data})[0]


def remove_stale(path: PathLike) -> None:
    """Delete `path` (if it exists) when the publish it belongs to commits: an output of an
    earlier run that this run does not write again. Only inside `staged_outputs`."""
    stage = _active_stage(Path(path))
    if stage is None:
        raise RuntimeError(f"remove_stale({path!s}) outside staged_outputs")
    stage.remove(path)
