"""The validation training loop (paper Section 4.3): seeded, deterministic on CPU,
checkpointed every epoch, resumable to the exact same result, on one process or on several
under torchrun (`xncost.train.distributed`).

A run is identified by its settings (`TrainConfig.run_id`). With a checkpoint directory,
the model, optimizer, scheduler, RNG states, epoch, history and times are written there
after every epoch (`xncost.train.checkpoint`); `resume=True` continues from there, so an
interrupted run loses at most one epoch and finishes with the same weights as an
uninterrupted one. With an output directory, a completed run appends its row to the
results files (`xncost.train.results`); without either, nothing is written. Accuracy is
top-1, or top-2 on the multi-digit sets (both of the two largest scores must be the two
true classes). The tiny backbone runs on one intra-op thread per process: its ops are too
small to gain from more, a busy machine slows multi-threaded runs several-fold, and a fixed
thread count makes the floating-point results independent of the machine's core count.
"""

from __future__ import annotations

import contextlib
import csv
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from xncost.core.layers import head_names
from xncost.core.shapes import TRAIN_BACKBONES
from xncost.errors import XncostError
from xncost.exact import exact_str
from xncost.io.progress import Progress, note
from xncost.models.registry import build_model as registry_build
from xncost.models.registry import model_name
from xncost.nn.capsule import _CapsFC
from xncost.train import checkpoint, distributed, results
from xncost.train.data import DATASETS, DataBundle, Split, load_dataset
from xncost.train.distributed import Group
from xncost.train.losses import LossFn, get_loss, resolve_loss
from xncost.train.schedule import make_optimizer, make_scheduler

BACKBONES = TRAIN_BACKBONES  # xncost.models.tiny, then the paper's
EVAL_BATCH = 512
TINY_THREADS = 1
MAX_SEED = 2**64 - 1  # torch's generators take unsigned 64-bit seeds
MAX_EPOCHS = 10**6
BUILT_IN_DATASETS = ("digits", "multidigits")  # xncost.train.data reads no directory for them
MAX_BATCH = 2**31 - 1
MAX_TIMEOUT = 7 * 24 * 3600
DEFAULT_TIMEOUT = 600


@dataclass(frozen=True)
class TrainConfig:
    """The settings of one validation run (the CLI options of `xncost train`)."""

    head: str
    backbone: str = "tiny"
    dataset: str = "digits"
    data_dir: Path | None = None
    epochs: int = 3
    batch_size: int = 64
    seed: int = 0
    device: str = "cpu"
    out: Path | None = None
    checkpoint_dir: Path | None = None
    resume: bool = False
    upsampling: bool = False
    loss: str = "auto"
    amp: bool = False
    timeout: int = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        for name, choices in (
            ("head", head_names()),
            ("backbone", BACKBONES),
            ("dataset", DATASETS),
            ("device", ("cpu", "cuda")),
        ):
            if getattr(self, name) not in choices:
                raise XncostError(
                    f"unknown {name} {getattr(self, name)!r}; expected one of {', '.join(choices)}"
                )
        for name, least, most in (
            ("epochs", 1, MAX_EPOCHS),
            ("batch_size", 2, MAX_BATCH),
            ("seed", 0, MAX_SEED),
            ("timeout", 1, MAX_TIMEOUT),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
                raise XncostError(f"{name} must be an integer in {least}..{most}, got {value!r}")
        if self.data_dir is not None and self.dataset in BUILT_IN_DATASETS:
            raise XncostError(
                f"--data-dir is not used by --dataset {self.dataset} (built in); "
                "it is for mnist, multimnist and cifar10"
            )
        if self.amp and self.device != "cuda":
            raise XncostError("--amp (mixed precision) needs --device cuda")
        if self.resume and self.checkpoint_dir is None:
            raise XncostError("--resume needs --checkpoint-dir")
        object.__setattr__(self, "loss", resolve_loss(self.loss, self.head))

    @property
    def run_id(self) -> str:
        """Settings that determine the result, as a file name."""
        up = "-up" if self.upsampling and self.backbone != "tiny" else ""
        amp = "-amp" if self.amp else ""
        return (
            f"{self.head}-{self.backbone}{up}-{self.dataset}-e{self.epochs}"
            f"-b{self.batch_size}-s{self.seed}-{self.loss}{amp}"
        )

    def identity(self) -> dict[str, Any]:
        """The fields a checkpoint must match to be resumed."""
        d = asdict(self)
        return {
            k: d[k]
            for k in (
                "head",
                "backbone",
                "dataset",
                "epochs",
                "batch_size",
                "seed",
                "upsampling",
                "loss",
                "amp",
            )
        }

    @property
    def checkpoint_path(self) -> Path | None:
        """CHECKPOINT_DIR/<run-id>.pt, or None when no checkpoint directory is given."""
        if self.checkpoint_dir is None:
            return None
        return Path(self.checkpoint_dir) / f"{self.run_id}.pt"


@dataclass
class TrainResult:
    """What a run produced; `complete` is False when stopped early (`stop_after`).
    `images_per_second` counts training images of all processes per second of training."""

    config: TrainConfig
    accuracy: float
    params: int
    head_flops: Any
    seconds: float
    epochs_done: int
    complete: bool
    history: list[dict[str, float]] = field(default_factory=list)
    recorded: bool = False
    images_per_second: float = 0.0
    group: Group = field(default_factory=Group)

    def row(self) -> dict[str, Any]:
        c = self.config
        return {
            "head": c.head,
            "backbone": c.backbone,
            "dataset": c.dataset,
            "epochs": c.epochs,
            "seed": c.seed,
            "accuracy": f"{self.accuracy:.6f}",
            "params": self.params,
            "head_flops": exact_str(self.head_flops),
            "seconds": f"{self.seconds:.2f}",
            "images_per_second": f"{self.images_per_second:.1f}",
        }


def build_model(config: TrainConfig, data: DataBundle) -> nn.Module:
    """The tiny model, or a full backbone from `xncost.models.registry`."""
    if config.backbone == "tiny":
        from xncost.models.tiny import build_tiny_model

        return build_tiny_model(
            config.head,
            in_channels=data.in_channels,
            image_side=data.image_side,
            num_classes=data.num_classes,
        )
    return registry_build(
        model_name(config.backbone, config.head),
        upsampling=config.upsampling,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        input_side=input_side(config, data),
    )


def input_side(config: TrainConfig, data: DataBundle) -> int:
    """Side fed to the model: the data's own for `tiny`; for the full backbones the paper's
    (Section 4.3): 224 (108 for the multi-digit sets) with upsampling, else 32 (36)."""
    if config.backbone == "tiny":
        return data.image_side
    if config.upsampling:
        return 108 if data.multi_label else 224
    return 36 if data.multi_label else 32


def head_shape(model: nn.Module, head: str) -> dict[str, Any]:
    """The capsule layer's shape, or the dims of the FC head's chain of linear layers."""
    if head != "fc":
        caps = getattr(model, "caps", None)
        if not isinstance(caps, _CapsFC):
            caps = next((m for m in model.modules() if isinstance(m, _CapsFC)), None)
        if caps is None:
            raise XncostError("the model has no capsule layer to account for")
        return {
            "caps_in": caps.caps_in,
            "caps_out": caps.caps_out,
            "dim_in": caps.dim_in,
            "dim_out": caps.dim_out,
            "iterations": caps.iterations,
        }
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise XncostError("the model has no linear layer to account for")
    dims = [linears[0].in_features]
    for lin in linears:
        if lin.in_features != dims[-1]:
            dims = [lin.in_features]
        dims.append(lin.out_features)
    return {"dims": tuple(dims)}


def count_params(model: nn.Module) -> int:
    """Trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def channel_stats(images: Any, scale: int) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 images divided by `scale`, from
    value histograms (exact, without a float copy of the data set)."""
    values = np.arange(256, dtype=np.float64) / scale
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = np.bincount(images[:, c].ravel(), minlength=256).astype(np.float64)
        total = counts.sum()
        mean = float((values * counts).sum() / total)
        var = float((((values - mean) ** 2) * counts).sum() / max(total - 1, 1))
        means.append(mean)
        stds.append(max(var**0.5, 1e-6))
    return means, stds


class Batches:
    """Turns a uint8 Split into normalized float batches (per-channel train mean/std)."""

    def __init__(self, data: DataBundle, side: int, device: torch.device) -> None:
        mean, std = channel_stats(data.train.images, data.scale)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.scale = data.scale
        self.side = side
        self.device = device

    def get(self, split: Split, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i = idx.numpy()
        x = torch.from_numpy(split.images[i]).to(self.device, torch.float32) / self.scale
        x = (x - self.mean) / self.std
        if x.shape[-1] != self.side:
            x = F.interpolate(x, size=(self.side, self.side), mode="bilinear", align_corners=False)
        return x, torch.from_numpy(split.targets[i]).to(self.device)


def correct_count(scores: torch.Tensor, targets: torch.Tensor) -> int:
    """Top-1 hits for class indices; for multi-hot targets with k positives, rows whose k
    largest scores are exactly the k true classes (top-2 on MultiMNIST)."""
    if targets.dim() == 1:
        return int((scores.argmax(dim=-1) == targets).sum())
    k = int(targets.sum(dim=-1).max())
    top = scores.topk(k, dim=-1).indices
    return int((targets.gather(-1, top) > 0).all(dim=-1).sum())


def train_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    scheduler: Any = None,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[float, int]:
    """One optimisation step; returns (loss, correct count) of the batch before the step.
    An enabled `scaler` runs the forward pass under float16 autocast (torch's AMP recipe)."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    amp = scaler is not None and scaler.is_enabled()
    with torch.autocast(device_type=x.device.type, dtype=torch.float16, enabled=amp):
        scores = model(x)
        loss = loss_fn(scores, y)
    if amp:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return float(loss.detach()), correct_count(scores.detach(), y)


@torch.no_grad()
def evaluate(
    model: nn.Module, split: Split, batches: Batches, group: Group | None = None, amp: bool = False
) -> float:
    """Accuracy (fraction 0..1) on `split` in eval mode; in a multi-process job each rank
    scores a contiguous 1/N of the split and the hits are summed."""
    group = group or Group()
    model.eval()
    n = len(split)
    lo, hi = n * group.rank // group.world_size, n * (group.rank + 1) // group.world_size
    hits = 0
    for start in range(lo, hi, EVAL_BATCH):
        x, y = batches.get(split, torch.arange(start, min(hi, start + EVAL_BATCH)))
        with torch.autocast(device_type=x.device.type, dtype=torch.float16, enabled=amp):
            hits += correct_count(model(x).float(), y)
    (total,) = distributed.all_sum(group, [hits], batches.device)
    return total / n if n else 0.0


@contextlib.contextmanager
def deterministic(seed: int, threads: int | None = None) -> Iterator[None]:
    """Seed torch, enable deterministic algorithms and optionally fix the intra-op thread
    count; the caller's RNG, determinism and thread settings are restored afterwards."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.set_num_threads(previous_threads)


@contextlib.contextmanager
def _readable_csv(out: Path) -> Iterator[None]:
    """A csv.Error reading OUT/validation.csv (e.g. a field over the csv module's limit) as
    one XncostError naming the file."""
    try:
        yield
    except csv.Error as e:
        raise XncostError(f"{out / results.CSV_NAME}: not a results CSV ({e})") from None


def _append_result(out: Path, row: dict[str, Any]) -> Path:
    with _readable_csv(out):
        return results.append_result(out, row)


def prepare_output(config: TrainConfig) -> list[Path]:
    """Check OUT and CHECKPOINT_DIR before training without creating them (the existing
    OUT/validation.csv is validated); return the directories the run would create."""
    created: list[Path] = []
    if config.out is not None:
        with _readable_csv(Path(config.out)):
            created += results.check_output(Path(config.out))
    ckpt = config.checkpoint_path
    if ckpt is not None:
        created += results.missing_dirs(ckpt.parent)
        if ckpt.exists() and not ckpt.is_file():
            raise XncostError(f"cannot write {ckpt}: it is not a regular file")
    return sorted(set(created), key=lambda p: len(p.parts), reverse=True)


def remove_empty(dirs: list[Path]) -> None:
    """Remove those of `dirs` (deepest first) that are empty: what a failed run created."""
    for d in dirs:
        with contextlib.suppress(OSError):
            d.rmdir()


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Create the checkpoint's directory when first needed, then write it atomically."""
    results.make_dirs(path.parent)
    checkpoint.save(path, state)


def _read_checkpoint(config: TrainConfig) -> dict[str, Any] | None:
    path = config.checkpoint_path
    if not config.resume or path is None:
        return None
    if not path.exists():
        note(f"no checkpoint at {path}; starting from scratch")
        return None
    return checkpoint.read(path, config.identity(), config.epochs)


def _load(config: TrainConfig, data: DataBundle | None) -> DataBundle:
    if data is None:
        data = load_dataset(config.dataset, config.data_dir)
    if len(data.train) < 2 or len(data.test) < 1:
        raise XncostError(f"dataset {data.name} is too small to train on")
    return data


def _device(config: TrainConfig, group: Group) -> torch.device:
    """cpu, or this process's GPU (LOCAL_RANK under torchrun)."""
    if config.device != "cuda":
        return torch.device("cpu")
    if group.local_rank >= torch.cuda.device_count():
        raise XncostError(
            f"LOCAL_RANK {group.local_rank} but only {torch.cuda.device_count()} GPUs"
        )
    torch.cuda.set_device(group.local_rank)
    return torch.device("cuda", group.local_rank)


def _check_job(config: TrainConfig, group: Group) -> None:
    if config.batch_size % group.world_size:
        raise XncostError(
            f"--batch-size {config.batch_size} is not divisible by the {group.world_size} "
            "processes (each takes an equal share of the batch)"
        )
    if config.batch_size // group.world_size < 2:
        raise XncostError(
            f"--batch-size {config.batch_size} leaves fewer than 2 samples per process"
        )


def batches_per_epoch(data: DataBundle, batch_size: int, group: Group) -> int:
    """Steps per epoch on this rank (the same on every rank); XncostError if there are none
    (too few samples for each process to get 2 of a batch: each rank says so, rank 0 prints
    it)."""
    per_epoch = len(distributed.rank_batches(len(data.train), batch_size, torch.Generator(), group))
    if per_epoch == 0:
        raise XncostError(
            f"dataset {data.name}: {len(data.train)} training samples make no batch that "
            f"gives each of the {group.world_size} processes 2 samples (--batch-size {batch_size})"
        )
    return per_epoch


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """Silence warnings (on the ranks other than 0)."""
    if not enabled:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def run_training(
    config: TrainConfig,
    *,
    data: DataBundle | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainResult:
    """Train and evaluate one run, on this process or as one rank of a torchrun job.

    `data` overrides loading `config.dataset`; `stop_after` ends this session after that
    many epochs (the checkpoint is kept, as after an interruption). The output is checked
    (`prepare_output`) before any training; a run that fails removes the directories it
    created while they are empty. Rank 0 alone writes files and logs; `progress` prints a
    line per epoch on stderr (and a bar on a terminal).
    """
    if config.device == "cuda" and not torch.cuda.is_available():
        raise XncostError("--device cuda requested but CUDA is not available")
    device_type = "cuda" if config.device == "cuda" else "cpu"
    with (
        distributed.process_group(device_type, config.timeout) as group,
        distributed.rank_failures(group, config.timeout),
        _quiet(not group.main),
    ):
        distributed.agree(group, lambda: _check_job(config, group))
        device = distributed.agree(group, lambda: _device(config, group))
        created = distributed.on_main(group, lambda: prepare_output(config))
        try:
            return _train(config, group, device, data, progress and group.main, stop_after)
        except BaseException:
            if group.main:
                remove_empty(created)
            raise


@dataclass
class _Session:
    """What a run carries from epoch to epoch: the model and its optimizer state, the
    shuffling generator, the history and the clocks; a checkpoint holds all of it."""

    config: TrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    gen: torch.Generator
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    train_seconds: float = 0.0
    images: int = 0
    epoch: int = 0

    def resume(self, state: dict[str, Any], group: Group, train_size: int) -> None:
        """Restore a checkpoint's state (`checkpoint.restore` checks it first)."""
        distributed.agree(
            group,
            partial(
                checkpoint.restore,
                self.config.checkpoint_path,
                state,
                model=self.model,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                scaler=self.scaler,
                gen=self.gen,
                max_images=int(state["epoch"]) * train_size,
            ),
        )
        self.history = list(state["history"])
        self.seconds, self.train_seconds = float(state["seconds"]), float(state["train_seconds"])
        self.images, self.epoch = int(state["images"]), int(state["epoch"])

    def snapshot(self) -> dict[str, Any]:
        """The checkpoint of the session as it is."""
        return {
            "config": self.config.identity(),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "shuffle_rng": self.gen.get_state(),
            "history": self.history,
            "seconds": self.seconds,
            "train_seconds": self.train_seconds,
            "images": self.images,
        }


def _epoch(
    run: _Session,
    net: nn.Module,
    data: DataBundle,
    batches: Batches,
    loss_fn: LossFn,
    group: Group,
    device: torch.device,
    progress: bool,
) -> None:
    """One epoch: the training batches of this rank, then the test accuracy; the history and
    clocks of `run` advanced."""
    config = run.config
    t0 = time.perf_counter()
    order = distributed.rank_batches(len(data.train), config.batch_size, run.gen, group)
    loss_sum, hits, seen = 0.0, 0, 0
    with Progress(
        f"epoch {run.epoch + 1}/{config.epochs}", total=len(order), quiet=not progress
    ) as bar:
        for idx in order:
            x, y = batches.get(data.train, idx)
            loss, correct = train_step(net, x, y, loss_fn, run.optimizer, run.scheduler, run.scaler)
            loss_sum += loss * len(idx)
            hits += correct
            seen += len(idx)
            bar.advance(1, f"loss {loss_sum / seen:.4f}")
    epoch_train = time.perf_counter() - t0
    loss_sum, hits, seen = distributed.all_sum(group, [loss_sum, hits, seen], device)
    distributed.broadcast_buffers(group, run.model)
    test_acc = evaluate(run.model, data.test, batches, group, config.amp)
    run.epoch += 1
    run.seconds += time.perf_counter() - t0
    run.train_seconds += epoch_train
    run.images += int(seen)
    run.history.append(
        {
            "epoch": run.epoch,
            "loss": loss_sum / seen,
            "train_accuracy": hits / seen,
            "test_accuracy": test_acc,
        }
    )
    if progress:
        note(
            f"epoch {run.epoch}/{config.epochs}: loss {loss_sum / seen:.4f}, "
            f"train accuracy {hits / seen:.3f}, test accuracy {test_acc:.3f}, "
            f"{seen / epoch_train:.0f} images/s"
        )


def _train(
    config: TrainConfig,
    group: Group,
    device: torch.device,
    data: DataBundle | None,
    progress: bool,
    stop_after: int | None,
) -> TrainResult:
    data = distributed.agree(group, lambda: _load(config, data))
    ckpt_path = config.checkpoint_path
    state = distributed.on_main(group, lambda: _read_checkpoint(config))

    threads = TINY_THREADS if config.backbone == "tiny" else None
    with deterministic(config.seed, threads):
        model = distributed.agree(group, lambda: build_model(config, data).to(device))
        batches = Batches(data, input_side(config, data), device)
        loss_fn = get_loss(config.loss)
        per_epoch = batches_per_epoch(data, config.batch_size, group)
        optimizer = make_optimizer(model.parameters())
        run = _Session(
            config,
            model,
            optimizer,
            make_scheduler(optimizer, per_epoch * config.epochs),
            torch.amp.GradScaler(device.type, enabled=config.amp),
            torch.Generator().manual_seed(config.seed),
        )
        if state is not None:
            run.resume(state, group, len(data.train))
        net = distributed.wrap(model, group, device)
        already_complete = run.epoch >= config.epochs
        session_epochs = 0
        while run.epoch < config.epochs and (stop_after is None or session_epochs < stop_after):
            _epoch(run, net, data, batches, loss_fn, group, device, progress)
            session_epochs += 1
            if ckpt_path is not None:
                distributed.on_main(group, partial(save_checkpoint, ckpt_path, run.snapshot()))
        if run.history:
            accuracy = run.history[-1]["test_accuracy"]
        else:
            accuracy = evaluate(model, data.test, batches, group, config.amp)
    result = TrainResult(
        config=config,
        accuracy=accuracy,
        params=count_params(model),
        head_flops=results.head_flops(config.head, head_shape(model, config.head)),
        seconds=run.seconds,
        epochs_done=run.epoch,
        complete=run.epoch >= config.epochs,
        history=run.history,
        images_per_second=run.images / run.train_seconds if run.train_seconds > 0 else 0.0,
        group=group,
    )
    if result.complete and config.out is not None and not already_complete:
        out = Path(config.out)
        distributed.on_main(group, partial(_append_result, out, result.row()))
        result.recorded = True
    return result
