"""`xncost train`: validation training of the FC head or a capsule layer of the layer registry
(`xncost.core.layers`) on a tiny or a paper backbone (paper Section 4)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from xncost.cli.commands.common import QUIET_OPT, RegistryChoice, examples

HEADS = RegistryChoice("xncost.core.layers:head_names")
BACKBONES = RegistryChoice("xncost.core.shapes:TRAIN_BACKBONES")


class Dataset(str, Enum):
    digits = "digits"
    multidigits = "multidigits"
    mnist = "mnist"
    cifar10 = "cifar10"
    multimnist = "multimnist"


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


class Loss(str, Enum):
    auto = "auto"
    margin = "margin"
    squared_hinge = "squared-hinge"
    cross_entropy = "cross-entropy"


def _directory(value: str | None, option: str) -> Path | None:
    if value is None:
        return None
    if not value.strip():
        raise typer.BadParameter("must not be empty", param_hint=option)
    return Path(value)


def register(app: typer.Typer) -> None:
    """Add the `train` command to `app`."""

    @app.command(
        "train",
        epilog=examples(
            "xncost train --head xnidr --epochs 3",
            "torchrun --standalone --nproc-per-node 2 -m xncost train --head xnidr --out runs "
            "--checkpoint-dir runs/ck",
        ),
    )
    def train(
        head: str = typer.Option(
            ..., "--head", click_type=HEADS, help="Classifier head: fc or a capsule layer."
        ),
        backbone: str = typer.Option(
            "tiny", "--backbone", click_type=BACKBONES, help="Backbone: tiny or a paper model's."
        ),
        dataset: Dataset = typer.Option(Dataset.digits, "--dataset", help="Data set."),
        data_dir: str | None = typer.Option(
            None,
            "--data-dir",
            metavar="DIR",
            help="Local directory with MNIST IDX / CIFAR-10 files (mnist, multimnist, cifar10).",
        ),
        epochs: int = typer.Option(3, "--epochs", min=1, help="Training epochs."),
        batch_size: int = typer.Option(
            64, "--batch-size", min=2, help="Global batch size (split over torchrun processes)."
        ),
        seed: int = typer.Option(0, "--seed", min=0, help="Random seed (< 2**64)."),
        device: Device = typer.Option(Device.cpu, "--device", help="Torch device."),
        out: str | None = typer.Option(
            None,
            "--out",
            metavar="DIR",
            help="Directory for validation.csv (a row is appended) and validation.md; "
            "without it nothing is written.",
        ),
        checkpoint_dir: str | None = typer.Option(
            None,
            "--checkpoint-dir",
            metavar="DIR",
            help="Directory for the per-epoch checkpoint.",
        ),
        resume: bool = typer.Option(
            False, "--resume", help="Continue from the checkpoint in --checkpoint-dir."
        ),
        upsampling: bool = typer.Option(
            False,
            "--upsampling/--no-upsampling",
            help="Full backbones: the paper's upsampled inputs (224 / 108 px).",
        ),
        loss: Loss = typer.Option(
            Loss.auto,
            "--loss",
            help="auto = margin loss for capsule heads, cross-entropy for fc.",
        ),
        amp: bool = typer.Option(
            False, "--amp", help="Automatic mixed precision (float16 autocast; --device cuda)."
        ),
        timeout: int = typer.Option(
            600,
            "--timeout",
            min=1,
            help="Under torchrun: seconds a process waits for the others before giving up.",
        ),
        quiet: bool = QUIET_OPT,
    ) -> None:
        """Train a head on a small data set and print its accuracy; with --out, append the
        result to OUT/validation.csv. A line per epoch on stderr (and a bar on a terminal)
        unless --quiet. Several processes: run it under torchrun (rank 0 alone prints).
        """
        from xncost.train.distributed import ReportedElsewhere
        from xncost.train.loop import TrainConfig, run_training

        out_dir = _directory(out, "--out")
        config = TrainConfig(
            head=head,
            backbone=backbone,
            dataset=dataset.value,
            data_dir=_directory(data_dir, "--data-dir"),
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            device=device.value,
            out=out_dir,
            checkpoint_dir=_directory(checkpoint_dir, "--checkpoint-dir"),
            resume=resume,
            upsampling=upsampling,
            loss=loss.value,
            amp=amp,
            timeout=timeout,
        )
        try:
            result = run_training(config, progress=not quiet)
        except ReportedElsewhere:
            raise SystemExit(2) from None
        if not result.group.main:
            return
        metric = "top-2 accuracy" if dataset.value.startswith("multi") else "test accuracy"
        procs = f" on {result.group.world_size} processes" if result.group.active else ""
        typer.echo(
            f"{config.run_id}: {metric} {100 * result.accuracy:.2f}% after "
            f"{result.epochs_done} epoch{'s' if result.epochs_done != 1 else ''} in "
            f"{result.seconds:.1f} s{procs} "
            f"({result.images_per_second:.0f} images/s); params {result.params}; "
            f"head FLOPs {result.row()['head_flops']}"
        )
        if result.recorded and out_dir is not None:
            typer.echo(
                f"appended to {out_dir / 'validation.csv'}; regenerated {out_dir / 'validation.md'}"
            )
        elif result.complete and out_dir is not None:
            typer.echo("the run was already complete; no row appended")
        elif not result.complete:
            typer.echo(f"stopped early; continue with --resume ({config.checkpoint_path})")
