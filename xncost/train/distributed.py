"""Data-parallel validation training under `torchrun` (DistributedDataParallel).

`torchrun` describes the job in the environment (RANK, WORLD_SIZE, LOCAL_RANK and the
rendezvous address); without it, or with one process, every helper here is a no-op and a
run is exactly the one-process run. With N processes:

- the global batch is the one-process batch: each step, the one-process run's batch (same
  seeded shuffle) is cut into N equal contiguous shares, one per rank, so the ranks see
  disjoint samples that together are that batch (`rank_batches`); DDP averages the
  gradients, which for equal shares is the gradient of the whole batch's mean loss;
- rank 0 alone reads and writes files (checkpoint, results) and prints; the others stay
  silent unless they fail;
- steps that can fail in a way the user should hear about (data, model, checkpoint,
  output) run through `agree` / `on_main`: a failure on any rank ends every rank, and
  rank 0 prints one line naming the rank that failed;
- joining the job and collective operations give up after `timeout` seconds (`--timeout`;
  the collectives on a process group of the run's own), so an unreachable master, a rank
  that stops or stalls ends the run with an error instead of a hang (`rank_failures`); the
  join waits on a thread of its own, so that SIGINT and SIGTERM work meanwhile;
- a lost contact is reported once: by rank 0, or, when rank 0 is the one that is gone, by
  the first other rank to claim the report in the job's store (`_claims_report`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from xncost.errors import RankError, XncostError

T = TypeVar("T")
MAX_WORLD = 1 << 16
JOIN_POLL_S = 0.1  # the main thread wakes this often while the join waits (signals)
REPORT_WAIT_S = 1.0  # how long the other ranks leave rank 0 to claim a failure's report
STORE_TIMEOUT_S = 5.0
COMMUNICATION_WORDS = ("gloo", "nccl", "connection", "timed out", "timeout", "pair closure")


class ReportedElsewhere(XncostError):
    """A failure that rank 0 reports; the other ranks end with exit code 2, silently."""


@dataclass(frozen=True)
class Group:
    """This process's place in the job: rank, number of processes, rank on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    handle: Any = field(default=None, compare=False, repr=False)  # torch's process group

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes files and prints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """More than one process."""
        return self.world_size > 1


def _env_int(environ: Mapping[str, str], name: str, default: int, upper: int) -> int:
    raw = environ.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 6 or int(raw) >= upper:
        raise XncostError(f"environment variable {name}={raw!r} is not a valid torchrun value")
    return int(raw)


def group_from_env(environ: Mapping[str, str] | None = None) -> Group:
    """The job as torchrun describes it (one process when RANK / WORLD_SIZE are unset)."""
    env = os.environ if environ is None else environ
    world = _env_int(env, "WORLD_SIZE", 1, MAX_WORLD + 1)
    if world < 1:
        raise XncostError("environment variable WORLD_SIZE must be at least 1")
    return Group(
        rank=_env_int(env, "RANK", 0, world),
        world_size=world,
        local_rank=_env_int(env, "LOCAL_RANK", 0, MAX_WORLD),
    )


def backend_for(device_type: str) -> str:
    """nccl on CUDA, gloo on CPU."""
    return "nccl" if device_type == "cuda" else "gloo"


def _init_waiting(group: Group, device_type: str, timeout: float) -> None:
    """`init_process_group` on a thread of its own, the main thread polling: it returns to
    Python every JOIN_POLL_S (SIGINT/SIGTERM are handled) and gives up after `timeout` s
    even where the rendezvous itself would wait longer (an unreachable MASTER_ADDR)."""
    outcome: list[BaseException | None] = []

    def init() -> None:
        try:
            dist.init_process_group(
                backend_for(device_type),
                rank=group.rank,
                world_size=group.world_size,
                timeout=datetime.timedelta(seconds=timeout),
            )
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=init, name="xncost-join", daemon=True)
    worker.start()
    deadline = time.monotonic() + timeout
    while worker.is_alive() and time.monotonic() < deadline:
        worker.join(JOIN_POLL_S)
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    if not outcome:
        raise RankError(
            f"rank {group.rank}: cannot join the torchrun job: no answer from {where} "
            f"within --timeout {timeout:g} s"
        )
    if outcome[0] is not None:
        raise RankError(
            f"rank {group.rank}: cannot join the torchrun job: {first_line(outcome[0])}"
        )


@contextlib.contextmanager
def join(device_type: str, timeout: float = 600) -> Iterator[Group]:
    """Join the torchrun job described by the environment (a no-op for one process) and
    leave it afterwards; a process group that is already open is used and left open.
    `timeout` bounds the wait for the other processes to arrive."""
    group = group_from_env()
    if not group.active:
        yield group
        return
    if dist.is_initialized():
        if (dist.get_rank(), dist.get_world_size()) != (group.rank, group.world_size):
            raise XncostError("the open process group does not match RANK / WORLD_SIZE")
        yield group
        return
    _init_waiting(group, device_type, timeout)
    try:
        yield group
    finally:
        dist.destroy_process_group()


class _Runs:
    count = 0  # runs (process groups) opened by this process: the same on every rank


@contextlib.contextmanager
def process_group(device_type: str, timeout: float) -> Iterator[Group]:
    """The job's processes for one run (`join`ed if need be, within `timeout` s), on a
    process group of their own whose collective operations give up after `timeout` s."""
    with join(device_type, timeout) as group:
        if not group.active:
            yield group
            return
        _Runs.count += 1
        try:
            handle = dist.new_group(timeout=datetime.timedelta(seconds=timeout))
        except RuntimeError as exc:
            raise RankError(
                f"rank {group.rank}: cannot connect to the other processes: {first_line(exc)}"
            ) from None
        try:
            yield dataclasses.replace(group, handle=handle)
        finally:
            dist.destroy_process_group(handle)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, without a leading `[source:line]` tag."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if text.startswith("[") and "] " in text:
        text = text.split("] ", 1)[1]
    return text


def _is_communication_failure(exc: BaseException) -> bool:
    if isinstance(exc, dist.DistError):
        return True
    text = str(exc).lower()
    return any(s in text for s in COMMUNICATION_WORDS)


def _claims_report(group: Group) -> bool:
    """Whether this rank reports a lost contact: whoever first claims it in the job's store,
    rank 0 at once, the others after REPORT_WAIT_S, so that rank 0 reports unless it is gone.
    Under torchrun the store is the agent's and outlives rank 0 (torchrun also stops the
    other ranks with SIGTERM: `rank_failures`). A store that cannot be reached was hosted
    by rank 0, which may have reported before it left: silence."""
    if not group.main:
        time.sleep(REPORT_WAIT_S)
    mine = str(group.rank).encode()
    try:
        store = dist.distributed_c10d._get_default_store()
        store.set_timeout(datetime.timedelta(seconds=STORE_TIMEOUT_S))
        return store.compare_set(f"xncost/report/{_Runs.count}", "", mine) == mine
    except Exception:  # noqa: BLE001 - any failure of the store: it is gone with its host
        return group.main


@contextlib.contextmanager
def rank_failures(group: Group, timeout: float) -> Iterator[None]:
    """Turn the failure of a distributed run into one `XncostError` line naming the rank.

    A lost peer or a timed-out collective is reported once (`_claims_report`: rank 0, or
    another rank when rank 0 is gone; the rank that failed prints its own cause); any other
    error by the rank where it happened.
    """
    if not group.active:
        yield
        return
    try:
        yield
    except XncostError:
        raise
    except RuntimeError as exc:
        if not _is_communication_failure(exc):
            raise RankError(f"rank {group.rank}: {first_line(exc)}") from None
        text = str(exc).lower()
        if "timed out" in text or "timeout" in text:
            what = (
                f"a collective operation timed out after {timeout:g} s "
                "(another rank stopped or stalled)"
            )
        else:
            what = "lost contact with another rank (it failed, stopped or was killed)"
        try:
            claimed = _claims_report(group)
        except KeyboardInterrupt:  # torchrun stopping the job for this failure: say what it was
            claimed = True
        if not claimed:
            raise ReportedElsewhere(f"rank {group.rank}: {what}") from None
        raise (XncostError if group.main else RankError)(f"rank {group.rank}: {what}") from None


def agree(group: Group, fn: Callable[[], T]) -> T:
    """Run `fn` on every rank; if it raises `XncostError` on any, raise on every rank (rank
    0 with the first failing rank's message, the others `ReportedElsewhere`)."""
    if not group.active:
        return fn()
    value: Any = None
    error: str | None = None
    try:
        value = fn()
    except XncostError as exc:
        error = str(exc)
    errors: list[str | None] = [None] * group.world_size
    dist.all_gather_object(errors, error, group=group.handle)
    for rank, message in enumerate(errors):
        if message is not None:
            kind = XncostError if group.main else ReportedElsewhere
            raise kind(f"rank {rank}: {message}")
    return value


def on_main(group: Group, fn: Callable[[], T]) -> T:
    """Run `fn` on rank 0 only and hand its result (or its `XncostError`) to every rank."""
    if not group.active:
        return fn()
    payload: list[Any] = [None]
    if group.main:
        try:
            payload = [("ok", fn())]
        except XncostError as exc:
            payload = [("error", str(exc))]
    dist.broadcast_object_list(payload, src=0, group=group.handle)
    kind, value = payload[0]
    if kind == "error":
        raise (XncostError if group.main else ReportedElsewhere)(f"rank 0: {value}")
    return value


def all_sum(group: Group, values: Sequence[float], device: torch.device) -> list[float]:
    """Element-wise sum over the ranks (float64)."""
    if not group.active:
        return [float(v) for v in values]
    t = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(t, group=group.handle)
    return [float(v) for v in t.cpu()]


def broadcast_buffers(group: Group, model: nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm statistics), so all ranks evaluate and
    save the same model."""
    if group.active:
        for buf in model.buffers():
            dist.broadcast(buf, src=0, group=group.handle)


def rank_batches(n: int, batch_size: int, gen: torch.Generator, group: Group) -> list[torch.Tensor]:
    """This rank's share of each batch of one epoch.

    The epoch is the one-process epoch: a seeded shuffle of `n` samples cut into batches of
    `batch_size`; each batch is cut into `world_size` equal contiguous shares and rank r
    takes share r. The last batch keeps a multiple of `world_size` samples (at most
    world_size - 1 dropped) and is dropped if a share would hold one sample (BatchNorm);
    one process thus drops only a last batch of one sample.
    """
    perm = torch.randperm(n, generator=gen)
    out = []
    for chunk in torch.split(perm, batch_size):
        share = len(chunk) // group.world_size
        if share >= 2:
            out.append(chunk[group.rank * share : (group.rank + 1) * share])
    return out


def wrap(model: nn.Module, group: Group, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `model` in a multi-process job, else `model`."""
    if not group.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, process_group=group.handle)
