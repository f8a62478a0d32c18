"""Every work item of one forward pass (`xncost.conventions.fused.op_work`), in execution
order: how a model's MACs, LayerNorm and GELU elements split between the plain products and
the parts of torch's fused transformer ops (a diagnostic beside the counting engine)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from xncost.conventions.fused import Work, op_name, op_work


class _WorkTally(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.work: list[Work] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.work += op_work(op_name(func), args, kwargs, out)
        return out


def measure_work(model: torch.nn.Module, *inputs: torch.Tensor) -> list[Work]:
    """Every work item (`op_work`) of one forward pass of `model(*inputs)` under
    `torch.no_grad()`, in execution order: how a model's MACs, LayerNorm and GELU elements
    split between the plain products and the parts of its fused ops."""
    with torch.no_grad(), _WorkTally() as tally:
        model(*inputs)
    return tally.work
