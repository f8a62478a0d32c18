"""The per-epoch checkpoint of a validation run: written atomically, read only through
torch's safe (weights-only) loader, and checked field by field before anything is restored,
so a foreign, truncated or tampered file ends the run with one line naming it.

Checked against this run's own objects, so that nothing a file holds can make the resumed
run crash or drift: the settings (same keys, same types, same values); the progress (epoch,
history, times and image count as finite numbers in range); the weights (names, shapes,
dtypes, dense, finite); the optimizer (its settings equal this run's, the learning rate a
finite number, each parameter's state the keys, dtypes and shapes a real step makes, finite,
the second moments non-negative); the scheduler (its settings equal this run's, its
position within the run); the gradient scaler; the random-generator states (accepted by a
scratch generator). Whatever still fails while loading is the same one line.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xncost.errors import XncostError
from xncost.io.files import write_atomic

HISTORY_KEYS = ("epoch", "loss", "train_accuracy", "test_accuracy")
FIELDS: dict[str, type | tuple[type, ...]] = {
    "config": dict,
    "epoch": int,
    "model": dict,
    "optimizer": dict,
    "scheduler": dict,
    "scaler": dict,
    "torch_rng": torch.Tensor,
    "shuffle_rng": torch.Tensor,
    "history": list,
    "seconds": float,
    "train_seconds": float,
    "images": int,
}
MAX_SECONDS = 1e9  # about 30 years of training
MAX_IMAGES = 2**53  # images seen: exactly representable, as a float divides it


def save(path: Path, state: dict[str, Any]) -> None:
    """torch.save into memory, then write atomically (XncostError on an OSError)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    write_atomic(path, buf.getvalue())


def read(path: Path, identity: dict[str, Any], epochs: int) -> dict[str, Any]:
    """The checkpoint at `path`, checked to be a complete checkpoint of the run `identity`."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise XncostError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # torch raises many types on a corrupt or refused file
        refused = "weights only load failed" in str(exc).lower()
        why = (
            "refused by torch's safe loader (it holds objects other than tensors and plain "
            "containers)"
            if refused
            else "corrupt or not a torch file"
        )
        raise XncostError(f"{path}: not a readable xncost checkpoint: {why}") from None
    if not isinstance(state, dict):
        raise XncostError(f"{path}: not an xncost checkpoint (no dictionary of fields)")
    missing = [k for k in FIELDS if k not in state]
    if missing:
        raise XncostError(f"{path}: not an xncost checkpoint (no {', '.join(missing)})")
    for key, kind in FIELDS.items():
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise XncostError(f"{path}: field {key} is not a {_kind_name(kind)}")
    config = state["config"]
    if set(config) != set(identity) or any(
        type(config[k]) is not type(v) or config[k] != v for k, v in identity.items()
    ):
        raise XncostError(f"{path}: checkpoint of different settings")
    _check_progress(path, state, epochs)
    return state


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return {dict: "dictionary", list: "list", int: "integer", float: "number"}.get(
        kind if isinstance(kind, type) else kind[0], "tensor"
    )


def _finite(value: Any) -> bool:
    """A real number a float can hold (huge ints and bools excepted)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value.bit_length() <= 53
    return isinstance(value, float) and math.isfinite(value)


def _check_progress(path: Path, state: dict[str, Any], epochs: int) -> None:
    epoch = state["epoch"]
    if not 1 <= epoch <= epochs:
        raise XncostError(f"{path}: epoch {str(epoch)[:20]} is outside 1..{epochs}")
    history = state["history"]
    if len(history) != epoch or not all(
        isinstance(h, dict)
        and set(h) == set(HISTORY_KEYS)
        and all(_finite(h[k]) for k in HISTORY_KEYS)
        and h["epoch"] == i
        for i, h in enumerate(history, 1)
    ):
        raise XncostError(f"{path}: malformed history (expected {epoch} epochs of numbers)")
    for key in ("seconds", "train_seconds"):
        if not (math.isfinite(state[key]) and 0 <= state[key] <= MAX_SECONDS):
            raise XncostError(f"{path}: {key} is not a number of seconds")
    if not 0 <= state["images"] <= MAX_IMAGES:
        raise XncostError(f"{path}: images is not a count of training images")


def _check_weights(path: Path, model: nn.Module, weights: dict[str, Any]) -> None:
    """Refuse weights that `load_state_dict(strict=True)` would, as one line."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    misshapen = [
        k
        for k in expected
        if k in weights
        and (
            not _dense_tensor(weights[k])
            or weights[k].shape != expected[k].shape
            or weights[k].dtype != expected[k].dtype
        )
    ]
    problems = []
    labelled = (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshapen))
    for label, keys in labelled:
        if keys:
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            problems.append(f"{label} {', '.join(map(str, keys[:3]))}{more}")
    if problems:
        raise XncostError(f"{path}: the weights do not fit the model ({'; '.join(problems)})")
    bad = [k for k in expected if not _all_finite(weights[k])]
    if bad:
        raise XncostError(f"{path}: the weights hold NaN or infinite values ({bad[0]})")


def _dense_tensor(value: Any) -> bool:
    """A plain tensor (or parameter) in the strided layout, on the CPU."""
    return (
        type(value) in (torch.Tensor, nn.Parameter)
        and value.layout == torch.strided
        and value.device.type == "cpu"
    )


def _all_finite(t: torch.Tensor) -> bool:
    return not (t.is_floating_point() or t.is_complex()) or bool(torch.isfinite(t).all())


def _check_rng(path: Path, key: str, value: torch.Tensor, like: torch.Tensor) -> None:
    """The state has the generator's layout and a scratch generator accepts it."""
    ok = _dense_tensor(value) and value.dtype == like.dtype and value.shape == like.shape
    if ok:
        try:
            torch.Generator().set_state(value)
        except (RuntimeError, TypeError, ValueError):
            ok = False
    if not ok:
        raise XncostError(f"{path}: {key} is not a random-generator state")


def _same_value(given: Any, fresh: Any) -> bool:
    """Equal, and of the same types all the way down (True is not 1, 1 is not 1.0)."""
    if type(given) is not type(fresh):
        return False
    if isinstance(fresh, (list, tuple)):
        return len(given) == len(fresh) and all(map(_same_value, given, fresh))
    if isinstance(fresh, dict):
        return set(given) == set(fresh) and all(_same_value(given[k], fresh[k]) for k in fresh)
    if isinstance(fresh, torch.Tensor):
        return False  # no setting is a tensor
    return bool(given == fresh)


PROGRESS_KEYS = ("last_epoch", "_step_count", "_last_lr")
PROGRESS_FLAGS = ("_is_initial", "_get_lr_called_within_step")
# the cycle's length follows the steps per epoch, which may differ by one on another number
# of processes (the last batch): a positive length and a ratio in (0, 1], not this run's own
CYCLE_KEYS = ("total_size", "step_ratio")
MAX_STEPS = 2**53  # a step count a float holds exactly


def _check_scheduler(path: Path, given: Any, fresh: dict[str, Any]) -> None:
    """Settings equal to this run's scheduler (the cycle's length positive); its position a
    step count."""

    def refuse(why: str) -> XncostError:
        return XncostError(f"{path}: the scheduler state does not fit the run ({why})")

    if not isinstance(given, dict) or set(given) != set(fresh):
        raise refuse("other fields")
    skip = (*PROGRESS_KEYS, *PROGRESS_FLAGS, *CYCLE_KEYS)
    for key, value in fresh.items():
        if key not in skip and not _same_value(given[key], value):
            raise refuse(f"{key} differs from this run's")
    for key in PROGRESS_FLAGS:
        if type(given[key]) is not bool:
            raise refuse(f"{key} is not a flag")
    size, ratio = given["total_size"], given["step_ratio"]
    if not (type(size) is float and _finite(size) and size >= 1):
        raise refuse("total_size is not a cycle length")
    if not (type(ratio) is float and 0 < ratio <= 1):
        raise refuse("step_ratio is not a ratio in (0, 1]")
    for key in ("last_epoch", "_step_count"):
        if type(given[key]) is not int or not 0 <= given[key] <= MAX_STEPS:
            raise refuse(f"{key} is not a step count")
    rates = given["_last_lr"]
    if not (
        isinstance(rates, list)
        and len(rates) == len(fresh["_last_lr"])
        and all(type(r) is float and math.isfinite(r) and r >= 0 for r in rates)
    ):
        raise refuse("_last_lr is not a list of learning rates")


PROBE_SHAPE = (2,)


def _step_state(optimizer: torch.optim.Optimizer, group: dict[str, Any]) -> dict[str, Any]:
    """What one real step of this optimizer, with `group`'s settings, stores for a parameter
    of shape PROBE_SHAPE (per-parameter tensors have that shape, the others not)."""
    probe = nn.Parameter(torch.zeros(PROBE_SHAPE))
    settings = {k: v for k, v in group.items() if k not in ("params", "initial_lr")}
    opt = type(optimizer)([probe], **settings)
    probe.grad = torch.zeros(PROBE_SHAPE)
    opt.step()
    return dict(opt.state[probe])


def _check_optimizer_state(path: Path, given: Any, optimizer: torch.optim.Optimizer) -> None:
    """Settings equal to this run's optimizer; the learning rate a finite number; per
    parameter the state a real step makes (keys, dtypes, shapes), finite, the second moments
    non-negative and the step count a count."""

    def refuse(why: str) -> XncostError:
        return XncostError(f"{path}: the optimizer state does not fit the model ({why})")

    fresh = optimizer.state_dict()
    if not isinstance(given, dict) or set(given) != set(fresh):
        raise refuse("other fields")
    groups = given["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(fresh["param_groups"]):
        raise refuse("other parameter groups")
    params: dict[Any, torch.Tensor] = {}
    expected: dict[Any, dict[str, Any]] = {}
    for g, f, live in zip(groups, fresh["param_groups"], optimizer.param_groups, strict=True):
        if not isinstance(g, dict) or set(g) != set(f):
            raise refuse("other settings")
        for key, value in f.items():
            if key == "lr":
                if not _finite(g[key]) or g[key] < 0:
                    raise refuse("the learning rate is not a non-negative number")
            elif not _same_value(g[key], value):
                raise refuse(f"{key} differs from this run's")
        step_state = _step_state(optimizer, f)
        for index, param in zip(f["params"], live["params"], strict=True):
            params[index], expected[index] = param, step_state
    state = given["state"]
    if not isinstance(state, dict) or not set(state) <= set(params):
        raise refuse("state for parameters the model does not have")
    for index, entry in state.items():
        model_param, like = params[index], expected[index]
        if not isinstance(entry, dict) or set(entry) != set(like):
            raise refuse(f"parameter {index} has other state than a step makes")
        for key, value in entry.items():
            per_param = tuple(like[key].shape) == PROBE_SHAPE
            want = model_param.shape if per_param else like[key].shape
            if not (
                _dense_tensor(value)
                and value.dtype == like[key].dtype
                and value.shape == want
                and _all_finite(value)
            ):
                raise refuse(f"parameter {index}: {key} is not a finite tensor of its shape")
        step = float(entry["step"]) if "step" in entry else 0.0
        if not 0 <= step <= MAX_STEPS:
            raise refuse(f"parameter {index}: step {step:g} is not a step count")
        if "exp_avg_sq" in entry and bool((entry["exp_avg_sq"] < 0).any()):
            raise refuse(f"parameter {index}: negative second moments")


def _check_scaler(path: Path, given: Any, fresh: dict[str, Any]) -> None:
    ok = (
        isinstance(given, dict)
        and set(given) == set(fresh)
        and all(
            type(given[k]) is type(v) and _finite(given[k]) and given[k] >= 0
            for k, v in fresh.items()
        )
    )
    if not ok:
        raise XncostError(f"{path}: the gradient scaler state does not fit the run")


def restore(
    path: Path,
    state: dict[str, Any],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    gen: torch.Generator,
    max_images: int | None = None,
) -> None:
    """Load a checked checkpoint (`read`) into the run's objects; XncostError naming
    `path` if it does not fit them (module docstring). `max_images`: training images the
    run can have seen by the checkpoint."""
    if max_images is not None and state["images"] > max_images:
        raise XncostError(f"{path}: images {state['images']} is more than the run has seen")
    _check_weights(path, model, state["model"])
    _check_rng(path, "torch_rng", state["torch_rng"], torch.get_rng_state())
    _check_rng(path, "shuffle_rng", state["shuffle_rng"], gen.get_state())
    _check_scheduler(path, state["scheduler"], scheduler.state_dict())
    _check_optimizer_state(path, state["optimizer"], optimizer)
    _check_scaler(path, state["scaler"], scaler.state_dict())
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        gen.set_state(state["shuffle_rng"])
    except Exception as exc:  # noqa: BLE001 - a backstop: the checks above should refuse it
        raise XncostError(f"{path}: cannot be restored ({type(exc).__name__})") from None
