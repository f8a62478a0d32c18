"""Reference transformer models, written with torch's own modules (no torchvision).

- `VisionTransformer`: the Vision Transformer (Dosovitskiy et al., ICLR 2021) laid out module
  for module as torchvision's `vit_b_16` (`conv_proj`, `class_token`, `encoder.layers.
  encoder_layer_i` with `ln_1`, `self_attention` (an `nn.MultiheadAttention`, batch first),
  `ln_2`, `mlp`, then `encoder.ln` and `heads.head`), so that in eval mode its attention takes
  torch's fused `aten._native_multi_head_attention`. `vit_b16()`: 224x224 images, patch 16,
  12 layers, width 768, 12 heads, MLP 3072, a class token, 1000 classes.
- `EncoderClassifier`: a small `nn.TransformerEncoder` (batch-first `nn.TransformerEncoderLayer`,
  GELU) over a sequence of feature vectors, [B, T, F] -> [B, classes]; in eval mode each layer
  runs as one fused `aten._transformer_encoder_layer_fwd`.
- `BinaryAttentionBlock`: a pre-norm transformer block whose self-attention binarizes the
  queries and keys (sign, straight-through gradient) before QK^T, as binary transformers do
  (BiT, Liu et al. 2022; BiViT, He et al. 2023); softmax, the values and the projections stay
  real-valued.

How each convention prices them: docs/conventions.md, "Transformer ops".
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from xncost.errors import XncostError

VIT_B16 = {"patch_size": 16, "num_layers": 12, "num_heads": 12, "hidden_dim": 768, "mlp_dim": 3072}
VIT_IMAGE_SIDE = 224
LAYER_NORM_EPS = 1e-6  # torchvision's ViT norm layer: partial(nn.LayerNorm, eps=1e-6)


@contextlib.contextmanager
def unfused_attention() -> Iterator[None]:
    """Run attention as separate aten ops: torch's fused fast path of `nn.MultiheadAttention`
    and `nn.TransformerEncoderLayer` off, scaled dot-product attention on its math backend
    (products as `bmm`). Restores the fast-path setting on exit."""
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


def _positive(label: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise XncostError(f"{label} must be a positive integer, got {value!r}")
    return value


def _heads_divide(dim: int, heads: int) -> None:
    if dim % heads:
        raise XncostError(f"width {dim} is not divisible by {heads} attention heads")


class MLPBlock(nn.Sequential):
    """Linear, GELU, Dropout, Linear, Dropout (torchvision's `MLPBlock`)."""

    def __init__(self, in_dim: int, mlp_dim: int, dropout: float = 0.0) -> None:
        super().__init__(
            nn.Linear(in_dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_dim, in_dim),
            nn.Dropout(dropout),
        )


class EncoderBlock(nn.Module):
    """Pre-norm block: x + attention(ln_1(x)), then + mlp(ln_2(.))."""

    def __init__(self, num_heads: int, hidden_dim: int, mlp_dim: int, dropout: float = 0.0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden_dim, eps=LAYER_NORM_EPS)
        self.self_attention = nn.MultiheadAttention(hidden_dim, num_heads, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = nn.LayerNorm(hidden_dim, eps=LAYER_NORM_EPS)
        self.mlp = MLPBlock(hidden_dim, mlp_dim, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + self.dropout(y)
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    """Learned position embedding, the blocks, a final LayerNorm."""

    def __init__(
        self, seq_length: int, num_layers: int, num_heads: int, hidden_dim: int, mlp_dim: int
    ) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, hidden_dim).normal_(std=0.02))
        self.dropout = nn.Dropout(0.0)
        self.layers = nn.Sequential(
            OrderedDict(
                (f"encoder_layer_{i}", EncoderBlock(num_heads, hidden_dim, mlp_dim))
                for i in range(num_layers)
            )
        )
        self.ln = nn.LayerNorm(hidden_dim, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.layers(self.dropout(x + self.pos_embedding)))


class VisionTransformer(nn.Module):
    """ViT: patches by a strided convolution, a class token, the encoder, a linear head on the
    class token. [B, C, S, S] -> [B, num_classes]."""

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        mlp_dim: int,
        num_classes: int = 1000,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        for label, value in (
            ("image_size", image_size),
            ("patch_size", patch_size),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("hidden_dim", hidden_dim),
            ("mlp_dim", mlp_dim),
            ("num_classes", num_classes),
            ("in_channels", in_channels),
        ):
            _positive(label, value)
        if image_size % patch_size:
            raise XncostError(f"image side {image_size} is not a multiple of patch {patch_size}")
        _heads_divide(hidden_dim, num_heads)
        self.image_size, self.patch_size, self.hidden_dim = image_size, patch_size, hidden_dim
        self.conv_proj = nn.Conv2d(in_channels, hidden_dim, patch_size, stride=patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        seq_length = (image_size // patch_size) ** 2 + 1
        self.encoder = Encoder(seq_length, num_layers, num_heads, hidden_dim, mlp_dim)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(hidden_dim, num_classes)))
        self.input_shape = (in_channels, image_size, image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        x = self.conv_proj(x).reshape(n, self.hidden_dim, -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        return self.heads(self.encoder(x)[:, 0])


def vit_b16(
    num_classes: int = 1000, in_channels: int = 3, image_size: int = VIT_IMAGE_SIDE
) -> VisionTransformer:
    """ViT-B/16 (torchvision's `vit_b_16` layout; its parameters as torchvision's at 224 and
    1000 classes, tests/models). Any side that is a multiple of 16."""
    return VisionTransformer(
        image_size, num_classes=num_classes, in_channels=in_channels, **VIT_B16
    )


class EncoderClassifier(nn.Module):
    """[B, seq_len, features] -> [B, num_classes]: a linear embedding plus learned positions,
    `nn.TransformerEncoder` of batch-first `nn.TransformerEncoderLayer`s (post-norm unless
    `norm_first`), a final LayerNorm, the mean over tokens and a linear classifier."""

    def __init__(
        self,
        features: int = 32,
        seq_len: int = 64,
        d_model: int = 128,
        num_heads: int = 4,
        ff_dim: int = 512,
        num_layers: int = 4,
        num_classes: int = 10,
        activation: str = "gelu",
        norm_first: bool = False,
    ) -> None:
        super().__init__()
        for label, value in (
            ("features", features),
            ("seq_len", seq_len),
            ("d_model", d_model),
            ("num_heads", num_heads),
            ("ff_dim", ff_dim),
            ("num_layers", num_layers),
            ("num_classes", num_classes),
        ):
            _positive(label, value)
        _heads_divide(d_model, num_heads)
        self.embed = nn.Linear(features, d_model)
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_len, d_model).normal_(std=0.02))
        layer = nn.TransformerEncoderLayer(
            d_model,
            num_heads,
            ff_dim,
            dropout=0.1,
            activation=activation,
            batch_first=True,
            norm_first=norm_first,
        )
        self.encoder = nn.TransformerEncoder(
            layer, num_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        self.head = nn.Linear(d_model, num_classes)
        self.input_shape = (seq_len, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.encoder(self.embed(x) + self.pos_embedding)
        return self.head(x.mean(dim=1))


class SignSTE(torch.autograd.Function):
    """sign(x) forward, the gradient passed through where |x| <= 1 (BiT's binary quantizer)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.sign(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


class BinaryAttention(nn.Module):
    """Multi-head self-attention with 1-bit queries and keys: softmax(sign(Q) sign(K)^T /
    sqrt(d)) V. `fused` runs the core as `F.scaled_dot_product_attention`, otherwise as
    explicit matmuls (both as public binary-transformer code does)."""

    def __init__(self, dim: int, num_heads: int, fused: bool = True) -> None:
        super().__init__()
        _positive("dim", dim)
        _positive("num_heads", num_heads)
        _heads_divide(dim, num_heads)
        self.num_heads, self.head_dim, self.fused = num_heads, dim // num_heads, fused
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = SignSTE.apply(q), SignSTE.apply(k)
        if self.fused:
            y = F.scaled_dot_product_attention(q, k, v)
        else:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
            y = scores.softmax(dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class BinaryAttentionBlock(nn.Module):
    """Pre-norm block with `BinaryAttention` and a real-valued GELU MLP, [B, T, dim] -> same."""

    def __init__(self, dim: int = 64, num_heads: int = 4, mlp_dim: int = 256, fused: bool = True):
        super().__init__()
        _positive("mlp_dim", mlp_dim)
        self.ln_1 = nn.LayerNorm(dim)
        self.attention = BinaryAttention(dim, num_heads, fused)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = MLPBlock(dim, mlp_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))
