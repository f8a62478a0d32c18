"""`xncost train`: validation training of an FC / DR / XnODR / XnIDR head (paper Section 4)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from xncost.layers import layer_names

Head = Enum("Head", {name: name for name in layer_names()}, type=str)  # type: ignore[misc]


class Backbone(str, Enum):
    tiny = "tiny"
    mobilenetv2 = "mobilenetv2"
    resnet50 = "resnet50"


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


def register(app: typer.Typer) -> None:
    """Add the `train` command to `app`."""

    @app.command("train")
    def train(
        head: Head = typer.Option(..., "--head", help="Classifier head."),
        backbone: Backbone = typer.Option(Backbone.tiny, "--backbone", help="Backbone."),
        dataset: Dataset = typer.Option(Dataset.digits, "--dataset", help="Data set."),
        data_dir: Path | None = typer.Option(
            None, "--data-dir", help="Local directory with MNIST IDX / CIFAR-10 files."
        ),
        epochs: int = typer.Option(3, "--epochs", min=1, help="Training epochs."),
        batch_size: int = typer.Option(64, "--batch-size", min=2, help="Batch size."),
        seed: int = typer.Option(0, "--seed", min=0, help="Random seed."),
        device: Device = typer.Option(Device.cpu, "--device", help="Torch device."),
        out: Path = typer.Option(Path("reports"), "--out", help="Output directory."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint."),
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
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
    ) -> None:
        """Train a head on a small data set; append the result to OUT/validation.csv."""
        from xncost.train.loop import TrainConfig, run_training

        config = TrainConfig(
            head=head.value,
            backbone=backbone.value,
            dataset=dataset.value,
            data_dir=data_dir,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            device=device.value,
            out=out,
            resume=resume,
            upsampling=upsampling,
            loss=loss.value,
        )
        result = run_training(config, progress=progress)
        metric = "top-2 accuracy" if dataset.value.startswith("multi") else "test accuracy"
        typer.echo(
            f"{config.run_id}: {metric} {100 * result.accuracy:.2f}% after "
            f"{result.epochs_done} epochs in {result.seconds:.1f} s; params {result.params}; "
            f"head FLOPs {result.row()['head_flops']}"
        )
        if result.recorded:
            typer.echo(f"appended to {out / 'validation.csv'}; regenerated {out / 'validation.md'}")
        elif result.complete:
            typer.echo("the run was already complete; no row appended")
        else:
            typer.echo(f"stopped early; continue with --resume ({config.checkpoint_path})")
