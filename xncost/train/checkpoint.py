"""The per-epoch checkpoint of a validation run: written atomically, read only through
torch's safe (weights-only) loader, and checked field by field before anything is restored,
so a foreign, truncated or tampered file ends the run with one line naming it.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xncost.errors import XncostError
from xncost.files import write_atomic

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
    if state["config"] != identity:
        raise XncostError(f"{path}: checkpoint of different settings")
    _check_progress(path, state, epochs)
    return state


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return {dict: "dictionary", list: "list", int: "integer", float: "number"}.get(
        kind if isinstance(kind, type) else kind[0], "tensor"
    )


def _check_progress(path: Path, state: dict[str, Any], epochs: int) -> None:
    epoch = state["epoch"]
    if not 1 <= epoch <= epochs:
        raise XncostError(f"{path}: epoch {epoch} is outside 1..{epochs}")
    history = state["history"]
    if len(history) != epoch or not all(
        isinstance(h, dict)
        and set(h) == set(HISTORY_KEYS)
        and all(isinstance(h[k], (int, float)) and math.isfinite(h[k]) for k in HISTORY_KEYS)
        for h in history
    ):
        raise XncostError(f"{path}: malformed history (expected {epoch} epochs of numbers)")
    for key in ("seconds", "train_seconds"):
        if not (math.isfinite(state[key]) and state[key] >= 0):
            raise XncostError(f"{path}: {key} is not a non-negative number")
    if state["images"] < 0:
        raise XncostError(f"{path}: images is negative")


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
            not isinstance(weights[k], torch.Tensor)
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


def _check_rng(path: Path, key: str, value: torch.Tensor, like: torch.Tensor) -> None:
    if value.dtype != like.dtype or value.shape != like.shape:
        raise XncostError(f"{path}: {key} is not a random-generator state")


def _same_layout(given: dict[str, Any], fresh: dict[str, Any]) -> bool:
    """Same keys, and values of the same types (lists of the same length)."""
    return set(given) == set(fresh) and all(
        type(given[k]) is type(fresh[k])
        and (not isinstance(fresh[k], list) or len(given[k]) == len(fresh[k]))
        for k in fresh
    )


def _check_optimizer(path: Path, optimizer: torch.optim.Optimizer) -> None:
    """Per-parameter state tensors have their parameter's shape; rates are numbers."""
    for group in optimizer.param_groups:
        if isinstance(group.get("lr"), bool) or not isinstance(group.get("lr"), (int, float)):
            raise XncostError(f"{path}: the optimizer state has no numeric learning rate")
    for param, entry in optimizer.state.items():
        for value in entry.values():
            if isinstance(value, torch.Tensor) and value.dim() and value.shape != param.shape:
                raise XncostError(f"{path}: the optimizer state does not fit the model")


def restore(
    path: Path,
    state: dict[str, Any],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    gen: torch.Generator,
) -> None:
    """Load a checked checkpoint (`read`) into the run's objects; XncostError naming
    `path` if it does not fit them."""
    _check_weights(path, model, state["model"])
    _check_rng(path, "torch_rng", state["torch_rng"], torch.get_rng_state())
    _check_rng(path, "shuffle_rng", state["shuffle_rng"], gen.get_state())
    if not _same_layout(state["scheduler"], scheduler.state_dict()):
        raise XncostError(f"{path}: the scheduler state does not fit the run")
    model.load_state_dict(state["model"])
    try:
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError):
        raise XncostError(f"{path}: the optimizer state does not fit the model") from None
    _check_optimizer(path, optimizer)
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    gen.set_state(state["shuffle_rng"])
