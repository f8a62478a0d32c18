"""The validation training loop (paper Section 4.3): seeded, deterministic on CPU,
checkpointed every epoch, resumable to the exact same result.

A run is identified by its settings (`TrainConfig.run_id`). After every epoch the model,
optimizer, scheduler, RNG states, epoch, history and elapsed time are written atomically
to OUT/checkpoints/<run-id>.pt; `resume=True` continues from there, so an interrupted run
loses at most one epoch and finishes with the same weights as an uninterrupted one.
Accuracy is top-1, or top-2 on the multi-digit sets (both of the two largest scores must
be the two true classes). The tiny backbone runs on one intra-op thread: its ops are too
small to gain from more, a busy machine slows multi-threaded runs several-fold, and a fixed
thread count makes the floating-point results independent of the machine's core count.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from xncost.errors import XncostError
from xncost.exact import exact_str
from xncost.files import write_atomic
from xncost.layers import layer_names
from xncost.nn.capsule import _CapsFC
from xncost.train import results
from xncost.train.data import DATASETS, DataBundle, Split, load_dataset
from xncost.train.losses import LossFn, get_loss, resolve_loss
from xncost.train.schedule import make_optimizer, make_scheduler

HEADS = layer_names()
BACKBONES = ("tiny", "mobilenetv2", "resnet50")
REGISTRY_NAMES = {
    ("mobilenetv2", "fc"): "mobilenetv2",
    ("mobilenetv2", "dr"): "mobilenet_dr",
    ("mobilenetv2", "xnodr"): "mobilenet_xnodr",
    ("mobilenetv2", "xnidr"): "mobilenet_xnidr",
    ("resnet50", "fc"): "resnet50",
    ("resnet50", "dr"): "resnet_dr",
    ("resnet50", "xnodr"): "resnet_xnodr",
    ("resnet50", "xnidr"): "resnet_xnidr",
}
EVAL_BATCH = 512
TINY_THREADS = 1


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
    out: Path = Path("reports")
    resume: bool = False
    upsampling: bool = False
    loss: str = "auto"

    def __post_init__(self) -> None:
        for name, choices in (
            ("head", HEADS),
            ("backbone", BACKBONES),
            ("dataset", DATASETS),
            ("device", ("cpu", "cuda")),
        ):
            if getattr(self, name) not in choices:
                raise XncostError(
                    f"unknown {name} {getattr(self, name)!r}; expected one of {', '.join(choices)}"
                )
        if self.backbone != "tiny" and (self.backbone, self.head) not in REGISTRY_NAMES:
            raise XncostError(
                f"no {self.backbone} model with head {self.head}; train it on backbone tiny"
            )
        for name, least in (("epochs", 1), ("batch_size", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise XncostError(f"{name} must be an integer >= {least}, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise XncostError(f"seed must be a non-negative integer, got {self.seed!r}")
        object.__setattr__(self, "loss", resolve_loss(self.loss, self.head))

    @property
    def run_id(self) -> str:
        """Settings that determine the result, as a file name."""
        up = "-up" if self.upsampling and self.backbone != "tiny" else ""
        return (
            f"{self.head}-{self.backbone}{up}-{self.dataset}-e{self.epochs}"
            f"-b{self.batch_size}-s{self.seed}-{self.loss}"
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
            )
        }

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.out) / "checkpoints" / f"{self.run_id}.pt"


@dataclass
class TrainResult:
    """What a run produced; `complete` is False when stopped early (`stop_after`)."""

    config: TrainConfig
    accuracy: float
    params: int
    head_flops: Any
    seconds: float
    epochs_done: int
    complete: bool
    history: list[dict[str, float]] = field(default_factory=list)
    recorded: bool = False

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
    try:
        from xncost.models.registry import build_model as registry_build
    except ImportError as exc:
        raise XncostError(
            f"backbone {config.backbone} needs xncost.models.registry, which is not available"
        ) from exc
    return registry_build(
        REGISTRY_NAMES[(config.backbone, config.head)],
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
) -> tuple[float, int]:
    """One optimisation step; returns (loss, correct count) of the batch before the step."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    scores = model(x)
    loss = loss_fn(scores, y)
    loss.backward()
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return float(loss.detach()), correct_count(scores.detach(), y)


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, batches: Batches) -> float:
    """Accuracy (fraction 0..1) on `split` in eval mode."""
    model.eval()
    n = len(split)
    hits = 0
    for start in range(0, n, EVAL_BATCH):
        x, y = batches.get(split, torch.arange(start, min(n, start + EVAL_BATCH)))
        hits += correct_count(model(x), y)
    return hits / n if n else 0.0


def epoch_batches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """A seeded shuffle cut into batches; a last batch of one sample is dropped (BatchNorm)."""
    perm = torch.randperm(n, generator=gen)
    chunks = list(torch.split(perm, batch_size))
    return [c for c in chunks if len(c) > 1] if n > 1 else chunks


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


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save into memory, then write atomically (XncostError on an OSError)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    write_atomic(path, buf.getvalue())


def prepare_output(config: TrainConfig, record: bool = True) -> None:
    """Check OUT before training: create it and OUT/checkpoints, check they are writable
    directories and, when recording, validate the existing OUT/validation.csv."""
    out = Path(config.out)
    if record:
        results.check_output(out)
    else:
        results.make_dir(out)
    ckpt = config.checkpoint_path
    results.make_dir(ckpt.parent)
    if ckpt.exists() and not ckpt.is_file():
        raise XncostError(f"cannot write {ckpt}: it is not a regular file")


def load_checkpoint(path: Path, config: TrainConfig) -> dict[str, Any]:
    """A checkpoint of the same run; XncostError if unreadable or of other settings."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types on a corrupt file
        raise XncostError(f"{path}: not a readable xncost checkpoint ({exc})") from exc
    if not isinstance(state, dict) or state.get("config") != config.identity():
        raise XncostError(f"{path}: checkpoint of different settings, expected {config.run_id}")
    return state


def _resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise XncostError("--device cuda requested but CUDA is not available")
    return torch.device(name)


def _progress(enabled: bool) -> Any:
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


def run_training(
    config: TrainConfig,
    *,
    data: DataBundle | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    record: bool = True,
) -> TrainResult:
    """Train and evaluate one run; append its row to OUT/validation.csv when it completes.

    `data` overrides loading `config.dataset`; `stop_after` ends this session after that
    many epochs (the checkpoint is kept, as after an interruption); `record=False` skips
    the results files. The output is checked (`prepare_output`) before any training.
    """
    device = _resolve_device(config.device)
    prepare_output(config, record)
    if data is None:
        data = load_dataset(config.dataset, config.data_dir)
    if len(data.train) < 2 or len(data.test) < 1:
        raise XncostError(f"dataset {data.name} is too small to train on")
    ckpt_path = config.checkpoint_path
    state = None
    if config.resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, config)
    elif config.resume:
        print(f"no checkpoint at {ckpt_path}; starting from scratch", file=sys.stderr)

    threads = TINY_THREADS if config.backbone == "tiny" else None
    with deterministic(config.seed, threads):
        model = build_model(config, data).to(device)
        batches = Batches(data, input_side(config, data), device)
        loss_fn = get_loss(config.loss)
        gen = torch.Generator().manual_seed(config.seed)
        per_epoch = len(epoch_batches(len(data.train), config.batch_size, torch.Generator()))
        optimizer = make_optimizer(model.parameters())
        scheduler = make_scheduler(optimizer, per_epoch * config.epochs)
        history: list[dict[str, float]] = []
        seconds = 0.0
        epoch = 0
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
            gen.set_state(state["shuffle_rng"])
            history = list(state["history"])
            seconds = float(state["seconds"])
            epoch = int(state["epoch"])
        already_complete = epoch >= config.epochs
        session_epochs = 0
        with _progress(progress) as bar:
            while epoch < config.epochs and (stop_after is None or session_epochs < stop_after):
                t0 = time.perf_counter()
                order = epoch_batches(len(data.train), config.batch_size, gen)
                task = None
                if bar is not None:
                    task = bar.add_task(
                        f"epoch {epoch + 1}/{config.epochs}", total=len(order), stats=""
                    )
                loss_sum, hits, seen = 0.0, 0, 0
                for idx in order:
                    x, y = batches.get(data.train, idx)
                    loss, correct = train_step(model, x, y, loss_fn, optimizer, scheduler)
                    loss_sum += loss * len(idx)
                    hits += correct
                    seen += len(idx)
                    if bar is not None:
                        bar.update(
                            task,
                            advance=1,
                            stats=f"loss {loss_sum / seen:.4f}  acc {hits / seen:.3f}",
                        )
                test_acc = evaluate(model, data.test, batches)
                epoch += 1
                session_epochs += 1
                seconds += time.perf_counter() - t0
                history.append(
                    {
                        "epoch": epoch,
                        "loss": loss_sum / seen,
                        "train_accuracy": hits / seen,
                        "test_accuracy": test_acc,
                    }
                )
                if bar is not None:
                    bar.update(
                        task,
                        stats=f"loss {loss_sum / seen:.4f}  acc {hits / seen:.3f}  "
                        f"test {test_acc:.3f}",
                    )
                save_checkpoint(
                    ckpt_path,
                    {
                        "config": config.identity(),
                        "epoch": epoch,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "torch_rng": torch.get_rng_state(),
                        "shuffle_rng": gen.get_state(),
                        "history": history,
                        "seconds": seconds,
                    },
                )
        accuracy = history[-1]["test_accuracy"] if history else evaluate(model, data.test, batches)

    result = TrainResult(
        config=config,
        accuracy=accuracy,
        params=count_params(model),
        head_flops=results.head_flops(config.head, head_shape(model, config.head)),
        seconds=seconds,
        epochs_done=epoch,
        complete=epoch >= config.epochs,
        history=history,
    )
    if result.complete and record and not already_complete:
        results.append_result(Path(config.out), result.row())
        result.recorded = True
    return result
