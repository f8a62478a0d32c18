"""The recurrent and upsampling models of the layer cross-check (torch only, so the tools'
environment and xncost's tests build the same models): name -> (builder, input shape without
the batch). Built under seed 0, run in eval mode on one input of batch 1."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class Interpolate(nn.Module):
    """`F.interpolate` called from a model's own forward (no `nn.Upsample`)."""

    def __init__(self, **how: object) -> None:
        super().__init__()
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, **self.how)


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "lstm": (lambda: nn.LSTM(16, 32, num_layers=2, bidirectional=True, batch_first=True), (5, 16)),
    "lstm-proj": (lambda: nn.LSTM(16, 32, proj_size=8, batch_first=True), (5, 16)),
    "gru": (lambda: nn.GRU(16, 32, num_layers=2, batch_first=True), (5, 16)),
    "rnn": (lambda: nn.RNN(16, 32, num_layers=2, bidirectional=True, batch_first=True), (5, 16)),
    "rnn-relu": (lambda: nn.RNN(16, 32, nonlinearity="relu", batch_first=True), (5, 16)),
    "lstm-cell": (lambda: nn.LSTMCell(16, 32), (16,)),
    "gru-cell": (lambda: nn.GRUCell(16, 32), (16,)),
    "rnn-cell": (lambda: nn.RNNCell(16, 32), (16,)),
    "upsample-nearest": (lambda: nn.Upsample(scale_factor=2), (4, 8, 8)),
    "upsample-bilinear": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (4, 8, 8)),
    "interpolate-bicubic": (lambda: Interpolate(scale_factor=2, mode="bicubic"), (4, 8, 8)),
}


def build(name: str) -> tuple[nn.Module, tuple[int, ...]]:
    """The model `name` (seed 0, eval mode) and its input shape without the batch."""
    make, shape = MODELS[name]
    torch.manual_seed(0)
    return make().eval(), shape
