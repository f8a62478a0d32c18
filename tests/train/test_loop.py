"""Losses, schedule, model, training loop (step, resume), results files and the CLI command."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from support import invoke

from xncost.core.layers import caps_layers, get_layer, head_names
from xncost.errors import XncostError
from xncost.models.tiny import build_tiny_model
from xncost.train import loop, results
from xncost.train.data import DataBundle, Split
from xncost.train.losses import (
    cross_entropy_loss,
    margin_loss,
    resolve_loss,
    squared_hinge_loss,
)
from xncost.train.schedule import LR_END, LR_START, make_optimizer, make_scheduler, step_size


def _bundle(n_train: int = 48, n_test: int = 20, multi: bool = False) -> DataBundle:
    """Synthetic 8x8 data whose class is written into the image (learnable)."""
    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        labels = rng.integers(0, 10, size=n)
        images = rng.integers(0, 4, size=(n, 1, 8, 8)).astype(np.uint8)
        images[np.arange(n), 0, labels % 8, labels // 8 * 4] = 16
        if multi:
            targets = np.zeros((n, 10), dtype=np.float32)
            targets[np.arange(n), labels] = 1
            targets[np.arange(n), (labels + 1) % 10] = 1
            return Split(images, targets)
        return Split(images, labels.astype(np.int64))

    return DataBundle("synthetic", split(n_train), split(n_test), 10, 16, multi)


def test_margin_loss_by_hand() -> None:
    scores = torch.tensor([[0.95, 0.05, 0.5]])
    # class 0 present and above m+ (0); absent: 0.5 * ((0.05-0.1)+^2 + (0.5-0.1)^2) = 0.08
    assert margin_loss(scores, torch.tensor([0])).item() == pytest.approx(0.08)
    multi = torch.tensor([[1.0, 0.0, 1.0]])
    # present: (0.9-0.95)+^2 + (0.9-0.5)^2 = 0.16; absent class 1 below m-: 0
    assert margin_loss(scores, multi).item() == pytest.approx(0.16)


def test_index_and_one_hot_targets_agree() -> None:
    scores = torch.rand(5, 10)
    idx = torch.tensor([0, 3, 9, 2, 2])
    one_hot = torch.nn.functional.one_hot(idx, 10).float()
    for fn in (margin_loss, squared_hinge_loss):
        assert fn(scores, idx).item() == pytest.approx(fn(scores, one_hot).item())


def test_squared_hinge_and_bce_by_hand() -> None:
    scores = torch.tensor([[0.5, -0.5]])
    # y = (+1, -1): (1 - 0.5)^2 and (1 - 0.5)^2, mean 0.25
    assert squared_hinge_loss(scores, torch.tensor([0])).item() == pytest.approx(0.25)
    multi = torch.tensor([[1.0, 0.0]])
    # BCE with logits: -log(sigmoid(0.5)) twice, mean
    expected = -np.log(1 / (1 + np.exp(-0.5)))
    assert cross_entropy_loss(scores, multi).item() == pytest.approx(expected)


def test_resolve_loss() -> None:
    assert resolve_loss("auto", "fc") == "cross-entropy"
    assert resolve_loss("auto", "xnidr") == "margin"
    with pytest.raises(XncostError):
        resolve_loss("l1", "fc")


def test_schedule_one_half_cycle_for_short_runs() -> None:
    assert step_size(69) == 69 and step_size(10**6) == 6000
    opt = make_optimizer([torch.nn.Parameter(torch.zeros(1))])
    sched = make_scheduler(opt, 10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    lrs.append(opt.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(LR_START)
    assert lrs[-1] == pytest.approx(LR_END, abs=1e-12)
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))


def test_correct_count_top1_and_top2() -> None:
    scores = torch.tensor([[0.9, 0.8, 0.1], [0.9, 0.1, 0.8], [0.1, 0.2, 0.3]])
    assert loop.correct_count(scores, torch.tensor([0, 2, 0])) == 1
    multi = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    assert loop.correct_count(scores, multi) == 2  # rows 0 and 2; row 1 has one wrong


@pytest.mark.parametrize("head", caps_layers())
def test_tiny_capsule_model(head: str) -> None:
    model = build_tiny_model(head, in_channels=1, image_side=8, num_classes=10)
    assert type(model.caps) is get_layer(head).module_class()
    with torch.no_grad():
        out = model(torch.randn(3, 1, 8, 8))
    assert out.shape == (3, 10) and float(out.min()) >= 0 and float(out.max()) < 1
    shape = loop.head_shape(model, head)
    # 8 primary capsule types on the 4x4 map of an 8x8 input
    assert shape == {"caps_in": 128, "caps_out": 10, "dim_in": 8, "dim_out": 16, "iterations": 3}


def test_tiny_fc_model_and_bad_head() -> None:
    model = build_tiny_model("fc", in_channels=3, image_side=32, num_classes=7)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    assert loop.head_shape(model, "fc") == {"dims": (64 * 4 * 4, 7)}
    assert results.head_flops("fc", {"dims": (1024, 10)}) == 2 * 1024 * 10
    with pytest.raises(XncostError):
        build_tiny_model("mlp", in_channels=1, image_side=8, num_classes=10)


@pytest.mark.parametrize("head", ["fc", "xnidr"])
def test_one_step_lowers_the_loss(head: str) -> None:
    torch.manual_seed(0)
    data = _bundle()
    model = build_tiny_model(head, in_channels=1, image_side=8, num_classes=10)
    batches = loop.Batches(data, 8, torch.device("cpu"))
    x, y = batches.get(data.train, torch.arange(32))
    fn = cross_entropy_loss if head == "fc" else margin_loss
    opt = make_optimizer(model.parameters())
    before, _ = loop.train_step(model, x, y, fn, opt)
    with torch.no_grad():
        after = fn(model(x), y).item()
    assert after < before


def test_config_validation() -> None:
    with pytest.raises(XncostError, match="unknown head 'mlp'; expected one of fc, dr, xnodr"):
        loop.TrainConfig(head="mlp")
    with pytest.raises(XncostError, match="unknown backbone 'vgg16'"):
        loop.TrainConfig(head="fc", backbone="vgg16")
    assert loop.BACKBONES == ("tiny", "resnet50", "mobilenetv2")
    for backbone in loop.BACKBONES:  # every head of the layer registry on every backbone
        for head in head_names():
            assert loop.TrainConfig(head=head, backbone=backbone).head == head
    with pytest.raises(XncostError, match=r"epochs must be an integer in 1\.\.1000000, got 0"):
        loop.TrainConfig(head="fc", epochs=0)
    with pytest.raises(XncostError, match="unknown dataset"):
        loop.TrainConfig(head="fc", dataset="svhn")
    with pytest.raises(XncostError, match="seed must be an integer in 0..18446744073709551615"):
        loop.TrainConfig(head="fc", seed=2**64)
    loop.TrainConfig(head="fc", seed=2**64 - 1)
    with pytest.raises(XncostError, match="--amp .* needs --device cuda"):
        loop.TrainConfig(head="fc", amp=True)
    with pytest.raises(XncostError, match="--resume needs --checkpoint-dir"):
        loop.TrainConfig(head="fc", resume=True)


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.heavy
def test_resume_reproduces_the_uninterrupted_run(tmp_path: Path) -> None:
    data = _bundle()
    common = dict(head="xnidr", epochs=3, batch_size=16, seed=3)
    full_cfg = loop.TrainConfig(**common, out=tmp_path / "a", checkpoint_dir=tmp_path / "a")
    full = loop.run_training(full_cfg, data=data, progress=False)

    b = {"out": tmp_path / "b", "checkpoint_dir": tmp_path / "b"}
    part_cfg = loop.TrainConfig(**common, **b)
    part = loop.run_training(part_cfg, data=data, progress=False, stop_after=1)
    assert not part.complete and part.epochs_done == 1
    assert not (tmp_path / "b" / "validation.csv").exists()  # no row for an unfinished run
    resumed_cfg = loop.TrainConfig(**common, **b, resume=True)
    resumed = loop.run_training(resumed_cfg, data=data, progress=False)

    assert resumed.complete and resumed.epochs_done == 3
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]
    assert resumed.accuracy == full.accuracy
    a, b = _state(full_cfg.checkpoint_path), _state(resumed_cfg.checkpoint_path)
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert torch.equal(a["shuffle_rng"], b["shuffle_rng"])


def test_resume_restores_exact_state(tmp_path: Path) -> None:
    """Two epochs in one session or one + one after a resume: same losses, same state."""
    data = _bundle()
    common = dict(head="fc", epochs=3, batch_size=16, seed=1)
    one = loop.TrainConfig(**common, checkpoint_dir=tmp_path / "one")
    straight = loop.run_training(one, data=data, progress=False, stop_after=2)
    two = loop.TrainConfig(**common, checkpoint_dir=tmp_path / "two")
    loop.run_training(two, data=data, progress=False, stop_after=1)
    again = loop.TrainConfig(**common, checkpoint_dir=tmp_path / "two", resume=True)
    resumed = loop.run_training(again, data=data, progress=False, stop_after=1)
    assert resumed.epochs_done == straight.epochs_done == 2
    assert resumed.history[1]["loss"] == straight.history[1]["loss"]
    a, b = _state(one.checkpoint_path), _state(two.checkpoint_path)
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    for k, v in a["optimizer"]["state"].items():
        for name, t in v.items():
            assert torch.equal(t, b["optimizer"]["state"][k][name]), (k, name)
    assert a["scheduler"] == b["scheduler"]
    assert torch.equal(a["torch_rng"], b["torch_rng"])


def test_resume_rejects_corrupt_files(tmp_path: Path) -> None:
    data = _bundle()
    cfg = loop.TrainConfig(head="fc", epochs=1, batch_size=16, seed=0, checkpoint_dir=tmp_path)
    loop.run_training(cfg, data=data, progress=False)
    cfg.checkpoint_path.write_bytes(b"not a checkpoint")
    resume = loop.TrainConfig(
        head="fc", epochs=1, batch_size=16, seed=0, checkpoint_dir=tmp_path, resume=True
    )
    with pytest.raises(XncostError, match=str(cfg.checkpoint_path.name)):
        loop.run_training(resume, data=data, progress=False)


def test_multi_label_training_runs(tmp_path: Path) -> None:
    data = _bundle(multi=True)
    cfg = loop.TrainConfig(head="fc", epochs=1, batch_size=16, out=tmp_path)
    res = loop.run_training(cfg, data=data, progress=False)
    assert 0.0 <= res.accuracy <= 1.0 and res.params > 0


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_results_append_never_overwrite(tmp_path: Path) -> None:
    row = {k: "1" for k in results.COLUMNS} | {"head": "dr", "accuracy": "0.5", "seconds": "2"}
    results.append_result(tmp_path, row)
    results.append_result(tmp_path, row | {"head": "xnidr", "accuracy": "0.75"})
    rows = _rows(tmp_path / "validation.csv")
    assert [r["head"] for r in rows] == ["dr", "xnidr"]
    header = (tmp_path / "validation.csv").read_text().splitlines()[0]
    assert header == (
        "head,backbone,dataset,epochs,seed,accuracy,params,head_flops,seconds,images_per_second"
    )
    md = (tmp_path / "validation.md").read_text()
    assert "| dr |" in md and "| xnidr |" in md and "75.00%" in md
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    (tmp_path / "validation.csv").write_text("a,b\n1,2\n")
    with pytest.raises(XncostError, match="unexpected columns"):
        results.append_result(tmp_path, row)


@pytest.mark.heavy
def test_cli_train_appends_rows(tmp_path: Path) -> None:
    from xncost.cli.commands.train import register

    app = typer.Typer()
    register(app)

    @app.callback()
    def _main() -> None:
        """Test app."""

    args = [
        "train",
        "--head",
        "fc",
        "--epochs",
        "1",
        "--batch-size",
        "256",
        "--out",
        str(tmp_path),
        "--checkpoint-dir",
        str(tmp_path / "ck"),
        "--quiet",
    ]
    first = invoke(args)
    assert first.exit_code == 0, first.output
    assert "test accuracy" in first.output
    second = invoke([*args[:-1], "--seed", "1", "--quiet"])
    assert second.exit_code == 0, second.output
    rows = _rows(tmp_path / "validation.csv")
    assert [r["seed"] for r in rows] == ["0", "1"]
    assert all(r["head"] == "fc" and r["dataset"] == "digits" for r in rows)
    assert 0.0 <= float(rows[0]["accuracy"]) <= 1.0
    assert float(rows[0]["images_per_second"]) > 0
    assert (tmp_path / "ck" / "fc-tiny-digits-e1-b256-s0-cross-entropy.pt").exists()
    bad = invoke(["train", "--head", "dr", "--dataset", "mnist", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "--data-dir" in bad.stderr


def _no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("training started before the output was checked")

    monkeypatch.setattr(loop, "load_dataset", fail)
    monkeypatch.setattr(loop, "build_model", fail)


def _bad_outputs(tmp_path: Path) -> dict[str, tuple[dict[str, Path], str]]:
    """Output / checkpoint directories that must be refused, and a fragment of the error."""
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    header = ",".join(results.COLUMNS)
    cases = {
        "out is a file": ({"out": a_file}, "not a directory"),
        "out under a file": ({"out": a_file / "sub" / "deeper"}, "afile is not a directory"),
        "bad columns": ({"out": tmp_path / "cols"}, "unexpected columns"),
        "malformed row": ({"out": tmp_path / "row"}, "malformed row on line 2"),
        "checkpoint dir is a file": ({"checkpoint_dir": a_file}, "not a directory"),
        "checkpoint is a directory": (
            {"checkpoint_dir": tmp_path / "ck"},
            "xnidr-tiny-digits-e1-b64-s0-margin.pt: it is not a regular file",
        ),
        "validation.md is a directory": ({"out": tmp_path / "md"}, "validation.md"),
    }
    for name in ("cols", "row", "ck", "md"):
        (tmp_path / name).mkdir()
    (tmp_path / "cols" / "validation.csv").write_text("a,b\n1,2\n")
    (tmp_path / "row" / "validation.csv").write_text(f"{header}\nfc,tiny,digits,1\n")
    (tmp_path / "ck" / "xnidr-tiny-digits-e1-b64-s0-margin.pt").mkdir()
    (tmp_path / "md" / "validation.md").mkdir()
    return cases


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_output_is_checked_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_training(monkeypatch)
    for case, (where, fragment) in _bad_outputs(tmp_path).items():
        before = _tree(tmp_path)
        cfg = loop.TrainConfig(head="xnidr", epochs=1, **where)
        with pytest.raises(XncostError, match=fragment):
            loop.run_training(cfg, progress=False)
        assert _tree(tmp_path) == before, case


def test_cli_train_bad_out_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    _no_training(monkeypatch)
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    r = invoke(["train", "--head", "xnidr", "--out", str(a_file)])
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err.startswith("xncost: error: ") and "\n" not in err and str(a_file) in err
    assert a_file.read_text() == "x"


def test_checkpoint_write_failure_is_an_xncost_error(tmp_path: Path) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    with pytest.raises(XncostError, match="cannot create directory .*afile: a file is in the way"):
        loop.save_checkpoint(a_file / "run.pt", {"epoch": 1})
    loop.save_checkpoint(tmp_path / "c" / "run.pt", {"epoch": 1})
    assert _state(tmp_path / "c" / "run.pt") == {"epoch": 1}
    assert not [p for p in (tmp_path / "c").iterdir() if p.name.startswith(".")]


def _app() -> typer.Typer:
    from xncost.cli.app import app

    return app


def test_cli_train_takes_every_head_on_every_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--head` offers the layer registry's heads and each is accepted with each backbone
    (xnbdr on mobilenetv2 was refused); training itself is stubbed out."""

    def stop(config: loop.TrainConfig, **kwargs: object) -> None:
        raise XncostError(f"would train {loop.model_name(config.backbone, config.head)}")

    monkeypatch.setattr(loop, "run_training", stop)
    r = invoke(["train", "--head", "xnbdr", "--backbone", "mobilenetv2"])
    assert _one_line_error(r) == "xncost: error: would train mobilenet_xnbdr"
    r = invoke(["train", "--head", "capsnet"])
    assert f"{', '.join(repr(h) for h in head_names())}." in _one_line_error(r)


def _one_line_error(r: object) -> str:
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err.startswith("xncost: error: ") and "\n" not in err, err
    assert "Traceback" not in r.output
    return err


def test_train_writes_nothing_without_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop, "load_dataset", lambda *a: _bundle())
    monkeypatch.chdir(tmp_path)
    args = ["train", "--head", "fc", "--epochs", "1", "--batch-size", "16", "--quiet"]
    r = invoke(args)
    assert r.exit_code == 0, r.output
    assert "test accuracy" in r.stdout and "images/s" in r.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--seed", str(2**64)),
        ("--seed", "-1"),
        ("--epochs", str(10**7)),
        ("--batch-size", str(2**31)),
        ("--timeout", str(10**9)),
        ("--timeout", "0"),
        ("--out", ""),
        ("--checkpoint-dir", " "),
        ("--data-dir", ""),
    ],
)
def test_cli_train_out_of_range_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str, value: str
) -> None:
    _no_training(monkeypatch)
    monkeypatch.chdir(tmp_path)
    r = invoke(["train", "--head", "fc", option, value])
    assert option.lstrip("-").replace("-", "_") in _one_line_error(r).replace("-", "_")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dataset", ["digits", "multidigits"])
def test_data_dir_with_a_built_in_dataset_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dataset: str
) -> None:
    _no_training(monkeypatch)
    args = ["train", "--head", "fc", "--dataset", dataset, "--data-dir", str(tmp_path)]
    err = _one_line_error(invoke(args))
    assert "--data-dir" in err and dataset in err


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('"' + "x" * (2**17 + 1) + '"', "field larger than field limit"),
        ('"a"b"\n', None),
    ],
)
def test_unreadable_validation_csv_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, reason: str | None
) -> None:
    from xncost.train.results import COLUMNS

    _no_training(monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    text = ",".join(COLUMNS) + "\n" + content + ",1" * (len(COLUMNS) - 1) + "\n"
    (out / "validation.csv").write_text(text)
    r = invoke(["train", "--head", "fc", "--out", str(out)])
    err = _one_line_error(r)
    assert str(out / "validation.csv") in err
    assert reason is None or reason in err
    assert (out / "validation.csv").read_text() == text


def test_failed_run_removes_the_directories_it_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _bundle()
    real_step = loop.train_step
    steps = {"n": 0}

    def failing_step(*args: object, **kwargs: object) -> tuple[float, int]:
        steps["n"] += 1
        if steps["n"] > limit:
            raise XncostError("stop")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", failing_step)
    where = {"out": tmp_path / "new" / "out", "checkpoint_dir": tmp_path / "new" / "ck"}
    cfg = loop.TrainConfig(head="fc", epochs=2, batch_size=16, **where)
    limit = 0  # fails at the first step: nothing may remain
    with pytest.raises(XncostError, match="stop"):
        loop.run_training(cfg, data=data, progress=False)
    assert list(tmp_path.iterdir()) == []
    limit, steps["n"] = 3, 0  # fails in epoch 2: the epoch-1 checkpoint stays, no empty out
    with pytest.raises(XncostError, match="stop"):
        loop.run_training(cfg, data=data, progress=False)
    assert _tree(tmp_path) == ["new", "new/ck", f"new/ck/{cfg.run_id}.pt"]


def _tamper(state: dict, how: str) -> object:
    import argparse

    if how == "no model":
        del state["model"]
    elif how == "renamed key":
        state["model"]["renamed"] = state["model"].pop(next(iter(state["model"])))
    elif how == "wrong shape":
        key = next(iter(state["model"]))
        state["model"][key] = torch.zeros(3)
    elif how == "optimizer misfit":
        state["optimizer"]["state"][0]["exp_avg"] = torch.zeros(3)
    elif how == "history":
        state["history"] = [{"epoch": "one"}]
    elif how == "not a dict":
        return [1, 2]
    elif how == "unsafe":
        state["extra"] = argparse.Namespace(a=1)
    return state


CHECKPOINT_FAULTS = {
    "no model": "not an xncost checkpoint \\(no model\\)",
    "renamed key": "weights do not fit the model \\(missing .*; unexpected renamed\\)",
    "wrong shape": "weights do not fit the model \\(wrong shape",
    "optimizer misfit": "optimizer state does not fit the model",
    "history": "malformed history",
    "not a dict": "not an xncost checkpoint",
    "unsafe": "refused by torch's safe loader",
}


def _resume_each_tampered(
    tmp_path: Path, data: DataBundle, tampers: dict[str, tuple[Callable[[dict], object], str]]
) -> loop.TrainConfig:
    """Resume a 2-epoch run from its epoch-1 checkpoint, tampered each way in turn (the
    function returns what to save): one line naming the file, matching the fragment; the
    good file is put back after each. The run's config."""
    common = dict(head="fc", epochs=2, batch_size=16, checkpoint_dir=tmp_path)
    cfg = loop.TrainConfig(**common)
    loop.run_training(cfg, data=data, progress=False, stop_after=1)
    good = cfg.checkpoint_path.read_bytes()
    resume = loop.TrainConfig(**common, resume=True)
    for how, (tamper, fragment) in tampers.items():
        state = torch.load(cfg.checkpoint_path, weights_only=True)
        torch.save(tamper(state), cfg.checkpoint_path)
        with pytest.raises(XncostError, match=fragment) as info:
            loop.run_training(resume, data=data, progress=False)
        message = str(info.value)
        assert message.startswith(str(cfg.checkpoint_path)) and "\n" not in message, how
        cfg.checkpoint_path.write_bytes(good)
    return cfg


def test_bad_checkpoints_are_one_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _bundle()
    monkeypatch.setattr(loop, "load_dataset", lambda *a: data)
    cfg = _resume_each_tampered(
        tmp_path,
        data,
        {
            how: (lambda st, how=how: _tamper(st, how), frag)
            for how, frag in CHECKPOINT_FAULTS.items()
        },
    )
    args = ["train", "--head", "fc", "--epochs", "2", "--batch-size", "16", "--quiet"]
    args += ["--checkpoint-dir", str(tmp_path), "--resume"]
    state = torch.load(cfg.checkpoint_path, weights_only=True)
    torch.save(_tamper(state, "unsafe"), cfg.checkpoint_path)
    err = _one_line_error(invoke(args))
    assert str(cfg.checkpoint_path) in err and "safe loader" in err


def test_legacy_results_file_gets_the_new_column(tmp_path: Path) -> None:
    legacy = ",".join(results.LEGACY_COLUMNS)
    (tmp_path / "validation.csv").write_text(f"{legacy}\nfc,tiny,digits,3,0,0.98,1,2,2.01\n")
    row = {k: "1" for k in results.COLUMNS} | {"accuracy": "0.5", "images_per_second": "812.5"}
    results.append_result(tmp_path, row)
    rows = _rows(tmp_path / "validation.csv")
    assert [r["images_per_second"] for r in rows] == ["", "812.5"]
    md = (tmp_path / "validation.md").read_text().splitlines()
    assert md[-2].endswith("| 2.0 | - |") and md[-1].endswith("| 1.0 | 812 |")


def test_committed_validation_report_matches_its_csv() -> None:
    reports = Path(__file__).resolve().parents[2] / "reports"
    rows = results.read_rows(reports / "validation.csv")
    assert rows and all(r["images_per_second"] for r in rows)
    assert (reports / "validation.md").read_text() == results.render_markdown(rows)


def _group(state: dict) -> dict:
    return state["optimizer"]["param_groups"][0]


def _first_state(state: dict) -> dict:
    return state["optimizer"]["state"][0]


def _garbage(t: torch.Tensor) -> torch.Tensor:
    return torch.randint(0, 256, t.shape, dtype=torch.uint8, generator=torch.Generator())


def _set(where, key, value):
    return lambda s: where(s).__setitem__(key, value)


def _top(s: dict) -> dict:
    return s


def _first_weight(s: dict, make) -> None:
    key = next(iter(s["model"]))
    s["model"][key] = make(s["model"][key])


# checkpoints that pass the field checks (right keys, right types) and used to crash
# --resume, or to train on silently from nonsense; each must be one line naming the file
RESUME_CRASHES = {
    "images 10**400": _set(_top, "images", 10**400),
    "images beyond the run": _set(_top, "images", 10**30),
    "seconds 1e308": _set(_top, "seconds", 1e308),
    "history loss 10**400": lambda s: s["history"][0].__setitem__("loss", 10**400),
    "config holds a tensor": _set(lambda s: s["config"], "epochs", torch.tensor([2, 2])),
    "config type": _set(lambda s: s["config"], "upsampling", 0),
    "scheduler total 0": _set(lambda s: s["scheduler"], "total_size", 0.0),
    "scheduler total nan": _set(lambda s: s["scheduler"], "total_size", float("nan")),
    "scheduler step ratio 0": _set(lambda s: s["scheduler"], "step_ratio", 0.0),
    "scheduler mode": _set(lambda s: s["scheduler"], "mode", "bogus"),
    "scheduler base rates": _set(lambda s: s["scheduler"], "base_lrs", ["x"]),
    "scheduler position": _set(lambda s: s["scheduler"], "last_epoch", 10**400),
    "scheduler rates": _set(lambda s: s["scheduler"], "_last_lr", [float("inf")]),
    "torch rng garbage": lambda s: s.__setitem__("torch_rng", _garbage(s["torch_rng"])),
    "shuffle rng zeros": lambda s: s.__setitem__("shuffle_rng", s["shuffle_rng"] * 0),
    "eps a string": _set(_group, "eps", "x"),
    "lr nan": _set(_group, "lr", float("nan")),
    "betas a string": _set(_group, "betas", "ab"),
    "betas three": _set(_group, "betas", (0.9, 0.9, 0.9)),
    "weight decay a string": _set(_group, "weight_decay", "x"),
    "amsgrad on": _set(_group, "amsgrad", True),
    "capturable on": _set(_group, "capturable", True),
    "maximize a string": _set(_group, "maximize", "x"),
    "step a vector": _set(_first_state, "step", torch.zeros(3)),
    "step huge": _set(_first_state, "step", torch.tensor(1e30)),
    "scheduler steps": _set(lambda s: s["scheduler"], "_step_count", 2**60),
    "moments int64": lambda s: _first_state(s).__setitem__(
        "exp_avg", _first_state(s)["exp_avg"].long()
    ),
    "moments missing": lambda s: _first_state(s).pop("exp_avg"),
    "second moments negative": lambda s: _first_state(s).__setitem__(
        "exp_avg_sq", -1 - _first_state(s)["exp_avg_sq"]
    ),
    "state of no parameter": lambda s: s["optimizer"]["state"].__setitem__(99, _first_state(s)),
    "weights nan": lambda s: _first_weight(s, lambda t: torch.full_like(t, float("nan"))),
    "weights sparse": lambda s: _first_weight(s, lambda t: t.to_sparse()),
    "scaler junk": _set(_top, "scaler", {"scale": 1.0}),
}


@pytest.mark.heavy
def test_checkpoints_that_pass_the_field_checks_but_crash_resume_are_one_line(
    tmp_path: Path,
) -> None:
    data = _bundle()
    tampers = {how: (lambda st, f=f: (f(st), st)[1], "") for how, f in RESUME_CRASHES.items()}
    cfg = _resume_each_tampered(tmp_path, data, tampers)
    resume = loop.TrainConfig(**{**cfg.__dict__, "resume": True})
    assert loop.run_training(resume, data=data, progress=False).complete  # the good one resumes


def test_a_rank_without_a_batch_is_one_line() -> None:
    """3 training samples on 2 processes: no batch gives each 2 (once a ZeroDivisionError)."""
    from xncost.train.distributed import Group

    small = _bundle(n_train=3)
    for rank in (0, 1):
        with pytest.raises(XncostError, match="3 training samples make no batch"):
            loop.batches_per_epoch(small, 4, Group(rank=rank, world_size=2))
    assert loop.batches_per_epoch(small, 4, Group()) == 1  # one process: its one batch of 3
