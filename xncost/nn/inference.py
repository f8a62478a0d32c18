"""Bit-packed inference for the binary steps of XnODR and XnIDR (`xncost.nn.use_packed`).

In packed mode (no autograd) a layer's binary dot products run on 64-bit words
(`xncost.kernels.packed`): activations are binarized and packed in one pass per call (the
sign convention of `sign_ste`, 0 -> -1, bit for bit), XnODR's weights are binarized and
packed once and kept until the parameter changes. The scales alpha (Eq. 18) and the
rescaling are computed as the float path computes them, so the outputs are identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from xncost.kernels import packed


def _alpha(x: torch.Tensor, dim: int) -> torch.Tensor:
    """alpha = mean |x| over `dim` (keepdim), as `xncost.nn.binarize.binarize` computes it."""
    return x.detach().abs().mean(dim=dim, keepdim=True)


def _pack(x: torch.Tensor, axis: int) -> packed.Packed:
    return packed.pack_signs(x.detach().cpu().numpy(), axis=axis)


def _dots_dtype(k: int) -> type[np.signedinteger[Any]]:
    return np.int32 if k < 1 << 31 else np.int64


def _as_tensor(dots: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(dots).to(device=like.device, dtype=like.dtype)


def packed_weight(step: nn.Module, weight: torch.Tensor) -> tuple[packed.Packed, torch.Tensor]:
    """XnODR's W_Cap [N, M, D, E] binarized and packed over D, and its alpha_W [N, M, 1, E]
    (Table 2 steps 2-3), computed once and kept on `step` until `weight` changes (another
    tensor, or an in-place update such as an optimizer step or `load_state_dict`)."""
    key = (weight.data_ptr(), weight._version, tuple(weight.shape), weight.dtype, weight.device)
    cached = getattr(step, "_packed_weight", None)
    if cached is None or cached[0] != key:
        cached = (key, _pack(weight, axis=2), _alpha(weight, 2))
        step._packed_weight = cached
    return cached[1], cached[2]


def projector(step: nn.Module, u: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Table 2 steps 1-5 on packed words: u [B, N, D] -> u_hat [B, N, M, E]. The input is
    packed once per call (I_Prim; the kernel tiles it over M, step 1), W comes from
    `packed_weight`."""
    pw, alpha_w = packed_weight(step, weight)
    dots = packed.xnodr_projector(_pack(u, -1), pw, _dots_dtype(pw.k))
    alpha_in = _alpha(u, -1).unsqueeze(2)  # [B, N, 1, 1]: the same for every output capsule
    return _as_tensor(dots, u) * (alpha_in * alpha_w.squeeze(2))


def agreement(b: torch.Tensor, u_hat: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Table 3 steps 8-10 on packed words: b + (B_u (x) B_v) . alpha_u alpha_v, with u_hat
    [B, N, M, E] and v [B, M, E] binarized and packed over E in this call."""
    pu, pv = _pack(u_hat, -1), _pack(v, -1)
    dots = packed.xnidr_agreement(pu, pv, _dots_dtype(pu.k))
    alpha_u, alpha_v = _alpha(u_hat, -1), _alpha(v, -1)
    return b + _as_tensor(dots, b) * (alpha_u.squeeze(-1) * alpha_v.squeeze(-1).unsqueeze(1))
