"""The activation memory of a summary's forward pass, bounded op by op before each op allocates.

`ActivationBound` is a dispatch mode entered around the forward pass: before every aten op
runs, the op runs first on the `meta` device (shapes alone, nothing allocated) to learn the
bytes its new outputs take; if they and the activations still alive would reach
`MAX_ACTIVATION_BYTES` the op does not run and the pass ends with one `XncostError`. Whatever
produces the activation (a convolution, an upsampling, a widening linear layer, a sequence
input, a tensor the model creates itself) is sized the same way. Outputs that alias an input
(views, in-place ops) take nothing new; an activation counts until it is freed. An op that
cannot run on shapes alone (data-dependent output, no meta kernel: `nonzero`, `item`) runs
unchecked; its outputs are counted once they exist.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes
from torch.utils._pytree import tree_leaves, tree_map

from xncost.errors import Stopped, XncostError
from xncost.profile.inputs import MAX_ACTIVATION_BYTES

META = torch.device("meta")


class _TooBig(Stopped):
    """The next op would take the activations past the bound (kept raising if caught)."""


def _nbytes(out: Any) -> int:
    return sum(
        t.numel() * t.element_size() for t in tree_leaves(out) if isinstance(t, torch.Tensor)
    )


def _on_meta(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=META)
    if isinstance(x, torch.device):
        return META
    return x


def _allocates(func: Any) -> bool:
    """False for an op whose outputs alias its inputs (a view, an in-place or out= op)."""
    return not any(r.alias_info is not None for r in func._schema.returns)


def _new_bytes(func: Any, args: tuple, kwargs: dict) -> int | None:
    """Bytes of the outputs `func` would allocate, from a run on the meta device; None when
    it cannot run there."""
    if not _allocates(func):
        return 0
    meta_kwargs = tree_map(_on_meta, kwargs)
    if any(a.name == "device" for a in func._schema.arguments):
        meta_kwargs["device"] = META  # a factory (zeros, randn, arange): its size, not its data
    try:
        with _disable_current_modes():
            return _nbytes(func(*tree_map(_on_meta, args), **meta_kwargs))
    except Exception:  # noqa: BLE001 - data-dependent or no meta kernel: sized once it ran
        return None


class ActivationBound(TorchDispatchMode):
    """Refuse, before it allocates, the op that would take the activations alive at once to
    `limit` bytes (see the module docstring). `what` names the pass in the error line."""

    def __init__(self, what: str, limit: int = MAX_ACTIVATION_BYTES) -> None:
        super().__init__()
        self.what = what
        self.limit = limit
        self.live = 0
        self.peak = 0
        self.refused: str | None = None

    def _free(self, n: int) -> None:
        self.live -= n

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.refused is not None:  # the model caught the refusal: stop again
            raise _TooBig(self.refused)
        needed = _new_bytes(func, args, kwargs)
        if needed is not None and self.live + needed >= self.limit:
            self.refused = (
                f"{self.what}: {func._schema.name.split('::')[-1]} would take the activations "
                f"alive at once to {self.live + needed:,} bytes (limit {self.limit:,}); use a "
                "smaller batch or input"
            )
            raise _TooBig(self.refused)
        out = func(*args, **kwargs)
        if _allocates(func):
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor) and not t._is_view():
                    n = t.numel() * t.element_size()
                    self.live += n
                    weakref.finalize(t, self._free, n)
            self.peak = max(self.peak, self.live)
        return out

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        if self.refused is not None:
            raise XncostError(self.refused) from None
