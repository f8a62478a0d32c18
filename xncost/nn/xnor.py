"""XNOR-Net layers (Rastegari et al. 2016; paper Appendix B, Eqs. 19-20): BWN and XNOR.

Two modes, one per XNOR-Net network type:
- ``"bwn"`` (Binary-Weight-Network): W ~ alpha_W B_W, the input stays real:
  I * W ~ (I (*) B_W) alpha_W.
- ``"xnor"`` (XNOR-Network): the input is binarized too, I ~ K B_I, and
  I * W ~ (B_I (x) B_W) . K alpha_W (Eq. 20), the convolution of two +-1 tensors being the
  XNOR-bitcount product.

alpha_W = mean |W| over each output filter (Eq. 18 per filter). For a convolution the input
scale is K = A * k: A = mean over the input channels of |I| (per group when groups > 1) and
k a kh x kw box filter of weight 1/(kh kw), applied with the convolution's stride and
padding (Appendix B). For a linear layer the window is the whole input vector, so K is
mean |x| over the features of each sample. The signs use `sign_ste` (straight-through,
hard-tanh gradient); alpha_W and K carry no gradient, as in `xncost.nn.binarize` and the
authors' code (docs/reference.md).

Every step is its own leaf module so profilers can attribute work: ``binarize_weight``,
``binarize_input`` (xnor mode only), the product itself as ``xnor`` (operands exactly +-1)
or ``bwn`` (weights +-1 times alpha_W), and ``rescale`` (xnor mode: multiply by K alpha_W
and add the bias). Zero padding of the +-1 input contributes 0 to the product, as in the
reference implementations (cuDNN convolution of the sign tensor).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from xncost.errors import XncostError
from xncost.nn.binarize import binarize, sign_ste
from xncost.nn.declare import BinaryDeclaration, xnor_mode

MODES = ("xnor", "bwn")


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise XncostError(f"unknown XNOR layer mode {mode!r}; expected one of {', '.join(MODES)}")
    return mode


class BinarizeWeight(nn.Module):
    """W -> (B_W, alpha_W): sign per element, alpha_W = mean |W| per output filter (Eq. 18)."""

    def forward(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, alpha = binarize(w.reshape(w.shape[0], -1), dim=1)
        return b.reshape(w.shape), alpha.reshape(-1)


class BinarizeInput2d(nn.Module):
    """I -> (B_I, K): B_I = sign(I); K = (mean_c |I|) * box filter (Appendix B), no gradient.

    K has shape [B, groups, H_out, W_out]: one scale map per group of input channels.
    """

    def __init__(
        self,
        kernel_size: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.groups = groups

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = sign_ste(x)
        a = x.detach().abs()
        bsz, c, h, w = a.shape
        a = a.reshape(bsz, self.groups, c // self.groups, h, w).mean(dim=2)
        k = F.avg_pool2d(a, self.kernel_size, self.stride, self.padding, count_include_pad=True)
        return b, k

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"groups={self.groups}"
        )


class BinarizeInputLinear(nn.Module):
    """x -> (B_x, K): B_x = sign(x), K = mean |x| over the features of each sample."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return binarize(x, dim=-1)


class XnorConv(nn.Module):
    """B_I (x) B_W: convolution of two +-1 tensors (XNOR and bitcount), Eq. 20."""

    def __init__(
        self,
        stride: tuple[int, int],
        padding: tuple[int, int],
        groups: int,
    ) -> None:
        super().__init__()
        self.stride, self.padding, self.groups = stride, padding, groups

    def forward(self, b_in: torch.Tensor, b_w: torch.Tensor) -> torch.Tensor:
        return F.conv2d(b_in, b_w, None, self.stride, self.padding, 1, self.groups)


class XnorMatmul(nn.Module):
    """B_x . B_W^T: matrix product of two +-1 tensors (XNOR and bitcount)."""

    def forward(self, b_in: torch.Tensor, b_w: torch.Tensor) -> torch.Tensor:
        return F.linear(b_in, b_w)


class BwnConv(nn.Module):
    """I (*) (alpha_W B_W) + bias: a real-valued input convolved with binary weights."""

    def __init__(self, stride: tuple[int, int], padding: tuple[int, int], groups: int) -> None:
        super().__init__()
        self.stride, self.padding, self.groups = stride, padding, groups

    def forward(
        self,
        x: torch.Tensor,
        b_w: torch.Tensor,
        alpha_w: torch.Tensor,
        bias: torch.Tensor | None,
    ) -> torch.Tensor:
        w = b_w * alpha_w.reshape(-1, *([1] * (b_w.dim() - 1)))
        return F.conv2d(x, w, bias, self.stride, self.padding, 1, self.groups)


class BwnMatmul(nn.Module):
    """x . (alpha_W B_W)^T + bias: a real-valued input times binary weights."""

    def forward(
        self,
        x: torch.Tensor,
        b_w: torch.Tensor,
        alpha_w: torch.Tensor,
        bias: torch.Tensor | None,
    ) -> torch.Tensor:
        return F.linear(x, b_w * alpha_w.unsqueeze(1), bias)


class Rescale(nn.Module):
    """y . K alpha_W + bias (the element-wise part of Eq. 20).

    ``channel_dim`` is the output-channel axis of y: 1 for convolutions, -1 for linear layers.
    For a grouped convolution K [B, groups, H, W] is repeated over each group's filters.
    """

    def __init__(self, channel_dim: int) -> None:
        super().__init__()
        self.channel_dim = channel_dim

    def forward(
        self,
        y: torch.Tensor,
        k: torch.Tensor,
        alpha_w: torch.Tensor,
        bias: torch.Tensor | None,
    ) -> torch.Tensor:
        if self.channel_dim == 1:
            if k.shape[1] not in (1, y.shape[1]):
                k = k.repeat_interleave(y.shape[1] // k.shape[1], dim=1)
            shape = (1, -1) + (1,) * (y.dim() - 2)
        else:
            shape = (-1,)
        out = y * k * alpha_w.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        return out

    def extra_repr(self) -> str:
        return f"channel_dim={self.channel_dim}"


def _init_like_torch(weight: nn.Parameter, bias: nn.Parameter | None, fan_in: int) -> None:
    """The default initialisation of nn.Linear / nn.Conv2d."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        nn.init.uniform_(bias, -bound, bound)


class _BinaryLayer(nn.Module):
    """Shared forward of the XNOR-Net layers: binarize W; BWN multiplies alpha_W sign(W) with
    the float input, XNOR binarizes the input too and rescales by K alpha_W (Eq. 20). The
    weight is declared binary (1 bit, one alpha per filter; `xncost.nn.declare`)."""

    xncost_binary = BinaryDeclaration(inputs=xnor_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b_w, alpha_w = self.binarize_weight(self.weight)
        if self.mode == "bwn":
            return self.bwn(x, b_w, alpha_w, self.bias)
        b_in, k = self.binarize_input(x)
        return self.rescale(self.xnor(b_in, b_w), k, alpha_w, self.bias)


class XnorLinear(_BinaryLayer):
    """Binary linear layer: [*, in_features] -> [*, out_features]; mode "xnor" or "bwn".

    xnor: y = (sign(x) . sign(W)^T) K alpha_W + bias, K = mean |x| per sample.
    bwn:  y = x . (alpha_W sign(W))^T + bias.
    ``dot_length`` is the length of each binary dot product (in_features).
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, mode: str = "xnor"
    ) -> None:
        super().__init__()
        self.mode = _check_mode(mode)
        self.in_features, self.out_features = in_features, out_features
        self.dot_length = in_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        _init_like_torch(self.weight, self.bias, in_features)
        self.binarize_weight = BinarizeWeight()
        if mode == "xnor":
            self.binarize_input = BinarizeInputLinear()
            self.xnor = XnorMatmul()
            self.rescale = Rescale(channel_dim=-1)
        else:
            self.bwn = BwnMatmul()

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, mode={self.mode!r}"
        )


class XnorConv2d(_BinaryLayer):
    """Binary 2-D convolution (Appendix B, Eq. 20); mode "xnor" or "bwn".

    xnor: y = (sign(I) (x) sign(W)) . K alpha_W + bias.
    bwn:  y = I (*) (alpha_W sign(W)) + bias.
    ``dot_length`` = in_channels / groups * kh * kw, the length of each binary dot product.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        groups: int = 1,
        bias: bool = True,
        mode: str = "xnor",
    ) -> None:
        super().__init__()
        self.mode = _check_mode(mode)
        if in_channels % groups or out_channels % groups:
            raise XncostError("in_channels and out_channels must be divisible by groups")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride, self.padding = _pair(stride), _pair(padding)
        self.groups = groups
        kh, kw = self.kernel_size
        self.dot_length = in_channels // groups * kh * kw
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kh, kw))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        _init_like_torch(self.weight, self.bias, self.dot_length)
        self.binarize_weight = BinarizeWeight()
        if mode == "xnor":
            self.binarize_input = BinarizeInput2d(
                self.kernel_size, self.stride, self.padding, groups
            )
            self.xnor = XnorConv(self.stride, self.padding, groups)
            self.rescale = Rescale(channel_dim=1)
        else:
            self.bwn = BwnConv(self.stride, self.padding, groups)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, groups={self.groups}, "
            f"bias={self.bias is not None}, mode={self.mode!r}"
        )
