"""Data-parallel training: the sampler, the torchrun environment, and real 2-process gloo
jobs (forkserver processes on a loopback port) that train, get killed, resume and fail."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from xncost.errors import XncostError
from xncost.train import distributed, loop
from xncost.train.data import DataBundle, Split
from xncost.train.distributed import Group

pytestmark = pytest.mark.heavy  # seconds per test (tests/conftest.py: not in -m fast)

JOB_TIMEOUT = 120
EPOCHS = 2
BATCH = 16
STALL = 2.0  # seconds a rank sleeps in the timeout scenario (timeout: 1 s)


def _bundle(n_train: int = 48, n_test: int = 30) -> DataBundle:
    """Synthetic 8x8 digits whose class is drawn into the image (learnable in a few steps)."""
    rng = np.random.default_rng(1)

    def split(n: int) -> Split:
        labels = rng.integers(0, 10, size=n)
        images = rng.integers(0, 4, size=(n, 1, 8, 8)).astype(np.uint8)
        images[np.arange(n), 0, labels % 8, labels // 8 * 4] = 16
        return Split(images, labels.astype(np.int64))

    return DataBundle("synthetic", split(n_train), split(n_test), 10, 16, False)


SPLITS = [
    (n, batch, world)
    for n, batch in [(48, 16), (50, 16), (37, 8), (10, 4), (7, 6), (13, 12)]
    for world in (1, 2, 3, 4)
    if batch % world == 0 and batch // world >= 2  # what the run accepts
]


@pytest.mark.parametrize(("n", "batch", "world"), SPLITS)
def test_rank_batches_split_the_one_process_batches(n: int, batch: int, world: int) -> None:
    single = distributed.rank_batches(n, batch, torch.Generator().manual_seed(5), Group())
    shares = [
        distributed.rank_batches(
            n, batch, torch.Generator().manual_seed(5), Group(rank=r, world_size=world)
        )
        for r in range(world)
    ]
    assert len({len(s) for s in shares}) == 1  # every rank takes the same number of steps
    for step, whole in enumerate(single[: len(shares[0])]):
        parts = [s[step].tolist() for s in shares]
        assert len({len(p) for p in parts}) == 1 and len(parts[0]) >= 2
        flat = [i for p in parts for i in p]
        assert len(set(flat)) == len(flat)  # disjoint
        assert flat == whole.tolist()[: len(flat)]  # the one-process batch, in order
        dropped = len(whole) - len(flat)
        assert dropped < world or step == len(single) - 1
    trained = {i for s in shares for b in s for i in b.tolist()}
    assert len(trained) >= n - (2 * world - 1)  # at most the tail of the last batch is skipped
    if n % batch == 0:
        assert trained == set(range(n))  # covering


def test_one_process_drops_only_a_last_single_sample() -> None:
    batches = distributed.rank_batches(33, 16, torch.Generator().manual_seed(0), Group())
    assert [len(b) for b in batches] == [16, 16]
    batches = distributed.rank_batches(34, 16, torch.Generator().manual_seed(0), Group())
    assert [len(b) for b in batches] == [16, 16, 2]


@pytest.mark.parametrize(
    "env",
    [
        {"WORLD_SIZE": "two"},
        {"WORLD_SIZE": "2", "RANK": "2"},
        {"WORLD_SIZE": "0"},
        {"WORLD_SIZE": "2", "RANK": "-1"},
        {"WORLD_SIZE": "9" * 40},
    ],
)
def test_bad_torchrun_environment_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(XncostError, match="WORLD_SIZE|RANK"):
        distributed.group_from_env(env)


def test_environment_without_torchrun_is_one_process() -> None:
    assert distributed.group_from_env({}) == Group(0, 1, 0)
    assert distributed.group_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == Group(
        1, 2, 1
    )


def test_batch_not_divisible_by_the_processes_is_refused() -> None:
    cfg = loop.TrainConfig(head="fc", batch_size=15)
    with pytest.raises(XncostError, match="not divisible by the 2 processes"):
        loop._check_job(cfg, Group(rank=0, world_size=2))
    with pytest.raises(XncostError, match="fewer than 2 samples per process"):
        loop._check_job(loop.TrainConfig(head="fc", batch_size=4), Group(rank=0, world_size=4))


# --- real 2-process jobs ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp: Path, name: str, **kw: Any) -> loop.TrainConfig:
    where = {"out": tmp / name, "checkpoint_dir": tmp / name / "ck"}
    return loop.TrainConfig(head="fc", epochs=EPOCHS, batch_size=BATCH, seed=4, **where, **kw)


def _record_batches(seen: list[list[int]], train: Split) -> None:
    """Record the training indices every call of Batches.get receives."""
    real = loop.Batches.get

    def get(self: loop.Batches, split: Split, idx: torch.Tensor) -> Any:
        if split is train:
            seen.append(idx.tolist())
        return real(self, split, idx)

    loop.Batches.get = get  # type: ignore[method-assign]


class _Report(dict):
    """What a rank saw, written to disk after every entry (a killed rank keeps the rest)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def run(self, name: str, config: loop.TrainConfig, data: DataBundle) -> None:
        try:
            res = loop.run_training(config, data=data, progress=False)
        except XncostError as exc:
            self[name] = {"error": type(exc).__name__, "message": str(exc)}
        else:
            self[name] = {"accuracy": res.accuracy, "losses": [h["loss"] for h in res.history]}
        self.path.write_text(json.dumps(self))


def _worker(rank: int, port: int, tmp: Path, job: str, data: DataBundle) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE="2",
        LOCAL_RANK=str(rank),
    )
    seen: list[list[int]] = []
    _record_batches(seen, data.train)
    report = _Report(tmp / f"{job}-rank{rank}.json")
    with distributed.join("cpu"):  # the job, for several runs; each run has its own group
        _runs(rank, tmp, job, data, seen, report)


def _runs(
    rank: int, tmp: Path, job: str, data: DataBundle, seen: list[list[int]], report: _Report
) -> None:
    real_step = loop.train_step
    if job == "first":
        # a setup failure on rank 1 alone: too little data there
        report.run("setup", _config(tmp, "bad"), _bundle(n_train=1) if rank == 1 else data)
        report.run("full", _config(tmp, "full"), data)
        report["seen"] = list(seen)
        report.path.write_text(json.dumps(report))
        if rank == 1:  # SIGKILL at its first step of epoch 2, after the epoch-1 checkpoint
            steps_per_epoch = len(data.train) // BATCH

            def step(*a: Any, **k: Any) -> Any:
                if len(seen) > len(report["seen"]) + steps_per_epoch:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real_step(*a, **k)

            loop.train_step = step  # type: ignore[assignment]
        report.run("killed", _config(tmp, "killed"), data)
    else:
        report.run("resumed", _config(tmp, "killed", resume=True), data)
        if rank == 1:  # stalls past the collective timeout at its first step

            def stall(*a: Any, **k: Any) -> Any:
                time.sleep(STALL)
                return real_step(*a, **k)

            loop.train_step = stall  # type: ignore[assignment]
        report.run("stalled", _config(tmp, "stalled", timeout=1), data)


def _run_job(
    tmp: Path, job: str, data: DataBundle
) -> tuple[list[dict[str, Any] | None], list[int | None]]:
    """Run `_worker` as ranks 0 and 1; each rank's report and exit code."""
    ctx = multiprocessing.get_context("forkserver")  # imports torch once, not per rank
    ctx.set_forkserver_preload(["torch", "xncost.train.loop"])
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, port, tmp, job, data)) for r in range(2)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + JOB_TIMEOUT
    for p in procs:
        p.join(max(1.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            pytest.fail(f"a rank of job {job} hung")
    reports = []
    for r in range(2):
        path = tmp / f"{job}-rank{r}.json"
        reports.append(json.loads(path.read_text()) if path.exists() else None)
    return reports, [p.exitcode for p in procs]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_two_process_gloo_job_trains_resumes_and_fails_cleanly(tmp_path: Path) -> None:
    data = _bundle()
    (zero, one), codes = _run_job(tmp_path, "first", data)
    assert zero is not None and one is not None
    assert codes == [0, -signal.SIGKILL]

    # a setup failure on rank 1: rank 0 names it, rank 1 stays silent, nothing is written
    assert zero["setup"] == {
        "error": "XncostError",
        "message": "rank 1: dataset synthetic is too small to train on",
    }
    assert one["setup"]["error"] == "ReportedElsewhere"
    assert not (tmp_path / "bad").exists()

    # the full run: one row, one checkpoint, the same result on both ranks
    full = _config(tmp_path, "full")
    assert zero["full"] == one["full"] and "error" not in zero["full"]
    rows = _rows(tmp_path / "full" / "validation.csv")
    assert len(rows) == 1 and rows[0]["head"] == "fc" and rows[0]["epochs"] == str(EPOCHS)
    assert float(rows[0]["accuracy"]) == pytest.approx(zero["full"]["accuracy"], abs=1e-6)
    assert float(rows[0]["images_per_second"]) > 0
    assert sorted(p.name for p in (tmp_path / "full" / "ck").iterdir()) == [f"{full.run_id}.pt"]
    state = torch.load(full.checkpoint_path, map_location="cpu", weights_only=True)
    assert state["epoch"] == EPOCHS and state["images"] == EPOCHS * len(data.train)

    # the sampler: per step, the ranks' shares are disjoint halves of the one-process batch
    one_process: list[list[int]] = []
    real_get = loop.Batches.get
    try:
        _record_batches(one_process, data.train)
        single = loop.run_training(
            loop.TrainConfig(head="fc", epochs=EPOCHS, batch_size=BATCH, seed=4),
            data=data,
            progress=False,
        )
    finally:
        loop.Batches.get = real_get  # type: ignore[method-assign]
    steps = len(data.train) // BATCH
    assert len(zero["seen"]) == len(one["seen"]) == len(one_process) == EPOCHS * steps
    for a, b, whole in zip(zero["seen"], one["seen"], one_process, strict=True):
        assert len(a) == len(b) == BATCH // 2 and not set(a) & set(b)
        assert a + b == whole
    for e in range(EPOCHS):
        epoch = [i for s in zero["seen"][e * steps : (e + 1) * steps] for i in s]
        epoch += [i for s in one["seen"][e * steps : (e + 1) * steps] for i in s]
        assert sorted(epoch) == list(range(len(data.train)))
    assert abs(single.accuracy - zero["full"]["accuracy"]) <= 0.2

    # the killed run: rank 1 got SIGKILL in epoch 2; rank 0 ends with one line naming itself
    assert one is not None and "killed" not in one  # rank 1 died before it could report
    assert zero["killed"]["error"] == "XncostError"
    assert zero["killed"]["message"].startswith("rank 0: lost contact with another rank")
    assert "\n" not in zero["killed"]["message"]
    killed = _config(tmp_path, "killed")
    assert torch.load(killed.checkpoint_path, weights_only=True)["epoch"] == 1
    assert not (tmp_path / "killed" / "validation.csv").exists()

    # a new job resumes it and ends exactly where the uninterrupted run ended
    first = zero
    (zero, one), codes = _run_job(tmp_path, "second", data)
    assert zero is not None and one is not None and codes == [0, 0]
    assert zero["resumed"] == one["resumed"]
    assert zero["resumed"] == first["full"]  # same losses per epoch, same accuracy
    a, b = _weights(full.checkpoint_path), _weights(killed.checkpoint_path)
    assert all(torch.equal(v, b[k]) for k, v in a.items())
    assert len(_rows(tmp_path / "killed" / "validation.csv")) == 1

    # a rank that stalls past --timeout: rank 0 reports the timeout, rank 1 stays silent
    assert zero["stalled"]["error"] == "XncostError"
    assert zero["stalled"]["message"].startswith("rank 0: a collective operation timed out")
    assert one["stalled"]["error"] == "ReportedElsewhere"
    assert not (tmp_path / "stalled").exists()


@pytest.mark.slow
def test_torchrun_cli_writes_one_row_and_fails_in_one_line(tmp_path: Path) -> None:
    """`torchrun -m xncost train` end to end on digits: rank 1 prints nothing, rank 0 one
    result; a batch the processes cannot share is one error line."""
    import subprocess
    import sys

    pytest.importorskip("sklearn")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    torchrun += ["--nproc-per-node", "2", "-m", "xncost", "train", "--head", "fc"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    ok = subprocess.run(
        [*torchrun, "--epochs", "1", "--out", str(tmp_path / "out"), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert len(lines) == 2 and "on 2 processes" in lines[0] and "images/s" in lines[0]
    assert "xncost" not in ok.stderr
    assert len(_rows(tmp_path / "out" / "validation.csv")) == 1
    bad = subprocess.run(
        [*torchrun, "--batch-size", "63", "--out", str(tmp_path / "bad")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode != 0 and bad.stdout == ""
    ours = [line for line in bad.stderr.splitlines() if line.startswith("xncost: error:")]
    assert ours == [
        "xncost: error: rank 0: --batch-size 63 is not divisible by the 2 processes "
        "(each takes an equal share of the batch)"
    ]
    assert not (tmp_path / "bad").exists()
