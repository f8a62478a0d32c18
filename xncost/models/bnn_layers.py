"""Building blocks of the published binary networks (Bi-Real Net, ReActNet).

`SignConv2d` is the binary convolution of Bi-Real Net and ReActNet (the authors'
``HardBinaryConv``): sign(x) convolved with sign(W), times alpha_W = mean |W| per output
filter. Unlike XNOR-Net's `XnorConv2d` it has no input scale K. It declares its weight
binary (`xncost.nn.declare`): the summary stores it at 1 bit plus one 32-bit alpha per
filter, and counts its +-1 products as 1-bit MACs.

`LearnableBias` is ReActNet's per-channel shift (the "RSign" threshold and the two shifts of
"RPReLU", Section 3.2 of the ReActNet paper).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.utils import _pair

from xncost.nn.binarize import sign_ste
from xncost.nn.declare import BinaryDeclaration
from xncost.nn.xnor import BinarizeWeight, XnorConv


class SignConv2d(nn.Module):
    """y = (sign(x) (x) sign(W)) * alpha_W, alpha_W = mean |W| per output filter; no bias.

    The product runs in the leaf ``xnor`` (an `xncost.nn.xnor.XnorConv`) on two +-1 tensors.
    """

    xncost_binary = BinaryDeclaration()

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.binarize_weight = BinarizeWeight()
        self.xnor = XnorConv(_pair(stride), _pair(padding), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b_w, alpha = self.binarize_weight(self.weight)
        return self.xnor(sign_ste(x), b_w) * alpha.reshape(1, -1, 1, 1)

    def extra_repr(self) -> str:
        s, p = self.xnor.stride, self.xnor.padding
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={s}, padding={p}"
        )


class LearnableBias(nn.Module):
    """x + b, one learnable shift per channel (ReActNet's RSign / RPReLU shifts)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias.reshape(1, -1, 1, 1)


def float_conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    """A real-valued convolution without bias, padded to keep the side (kernel // 2)."""
    return nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False)


def avg_pool_shortcut(stride: int) -> nn.Module:
    """The parameter-free downsampling of Bi-Real / ReActNet shortcuts (2x2 average pool)."""
    return nn.AvgPool2d(2, stride) if stride != 1 else nn.Identity()


__all__ = ["LearnableBias", "SignConv2d", "avg_pool_shortcut", "float_conv"]
