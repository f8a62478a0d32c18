"""Binarization as in the authors' code (docs/reference.md; paper Appendix A, Eqs. 16-18).

Forward: B = 2 * round(clip(0.5 x + 0.5, 0, 1)) - 1, i.e. sign(x) with 0 -> -1
(torch.round rounds half to even, as tf.round does). In floating point this also maps the
tiny positives 0 < x <= 2**-24 (float32) to -1: 0.5 x + 0.5 rounds to 0.5 there. The packed
kernels (`xncost.kernels.packed`) use the same threshold. Backward: straight-through,
gradient 1 on [-1, 1] and 0 outside (hard-tanh). Scale: alpha = mean(|x|) over one axis,
without gradient (Eq. 18).

The forward runs exactly these element-wise ops, one FLOP each by the `ops` convention:
mul, add, clamp (two: min and max), round, mul, sub; alpha adds abs and mean. That is
9 FLOPs per binarized element, the figure the paper's Table 5 uses (docs/conventions.md).
"""

from __future__ import annotations

import torch
from torch import nn


class _SignSTE(torch.autograd.Function):
    """sign(x) with 0 -> -1 in the forward pass; hard-tanh straight-through gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        hard_sigmoid = torch.clamp(x * 0.5 + 0.5, 0.0, 1.0)
        return torch.round(hard_sigmoid) * 2.0 - 1.0

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1.0).to(grad.dtype)


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """Binary filter B in {-1, +1} (Eqs. 16-17), straight-through gradient."""
    return _SignSTE.apply(x)


def binarize(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (B, alpha): B = sign_ste(x), alpha = mean |x| over `dim` (keepdim, no grad)."""
    b = sign_ste(x)
    alpha = x.detach().abs().mean(dim=dim, keepdim=True)
    return b, alpha


class Binarize(nn.Module):
    """One binarization step of Tables 2/3 as a module: x -> (B, alpha over `dim`)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return binarize(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
