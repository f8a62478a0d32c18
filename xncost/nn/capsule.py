"""Capsule fully connected layers: dynamic routing (DR), XnODR, XnIDR and XnBDR (both).

Tensor layout (paper Table 1, singleton axes dropped): input capsules u [B, N, D],
weights W [N, M, D, E], predictions u_hat [B, N, M, E], logits b [B, N, M],
outputs v [B, M, E]. Each step of Tables 2 and 3 that does work is a leaf module whose
attribute name is the step name used by `xncost.core.accounting`, so profilers attribute the
work of a leaf to the step of the same name. Routing is Sabour et al.'s (2017; paper Section
3.1): b starts at zero, c = softmax over output capsules, v = squash(sum_i c u_hat), and b is
updated on every iteration but the last.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from xncost.nn.binarize import Binarize
from xncost.nn.declare import BINARY_STEP, BinaryDeclaration

SQUASH_EPS = 1e-7


def squash(s: torch.Tensor, eps: float = SQUASH_EPS) -> torch.Tensor:
    """Eq. 4: v = |s|^2 / (1 + |s|^2) * s / |s| over the last axis (eps inside the root)."""
    n2 = (s * s).sum(dim=-1, keepdim=True)
    return s * (n2 / (1 + n2) / torch.sqrt(n2 + eps))


def _capsule_weight(caps_in: int, caps_out: int, dim_in: int, dim_out: int) -> nn.Parameter:
    w = torch.empty(caps_in, caps_out, dim_in, dim_out)
    nn.init.normal_(w, std=1.0 / math.sqrt(dim_in))
    return nn.Parameter(w)


class LinearProjector(nn.Module):
    """LP_out in full precision (Eqs. 2, 7): u_hat[b,n,m,:] = u[b,n,:] @ W[n,m]."""

    def __init__(self, caps_in: int, caps_out: int, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.weight = _capsule_weight(caps_in, caps_out, dim_in, dim_out)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bnd,nmde->bnme", u, self.weight)


class Expand(nn.Module):
    """Table 2 step 1: tile I_Prim [B, N, D] to I_Cap [B, N, M, D] (a view, no arithmetic)."""

    def __init__(self, caps_out: int) -> None:
        super().__init__()
        self.caps_out = caps_out

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        b, n, d = u.shape
        return u.unsqueeze(2).expand(b, n, self.caps_out, d)


class CapsuleWeight(nn.Module):
    """Table 2 step 2: the weight W_Cap [N, M, D, E]."""

    def __init__(self, caps_in: int, caps_out: int, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.weight = _capsule_weight(caps_in, caps_out, dim_in, dim_out)

    def forward(self) -> torch.Tensor:
        return self.weight


class _BinaryDots(nn.Module):
    """A binary dot-product step. With `packed` set (inference, no autograd) its layer runs
    the step on bit-packed words (`xncost.nn.inference`) instead of float +-1 matmuls; the
    result is the same, bit for bit. Packed work runs outside torch's dispatcher: profile in
    the default (float) mode. Declared a binary step (`xncost.nn.declare`)."""

    packed: bool = False
    xncost_binary = BINARY_STEP

    def _use_packed(self) -> bool:
        return self.packed and not torch.is_grad_enabled()


class XnorAffine(_BinaryDots):
    """Table 2 step 5: (B_I (x) B_W) . alpha_I alpha_W, dot products of length D (Eq. 20)."""

    def forward(
        self,
        b_in: torch.Tensor,
        alpha_in: torch.Tensor,
        b_w: torch.Tensor,
        alpha_w: torch.Tensor,
    ) -> torch.Tensor:
        dots = torch.einsum("bnmd,nmde->bnme", b_in, b_w)
        return dots * (alpha_in * alpha_w.squeeze(2))


class Softmax(nn.Module):
    """Eq. 5: coupling coefficients c = softmax(b) over the output capsules."""

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        return torch.softmax(b, dim=-1)


class WeightedSum(nn.Module):
    """Eq. 3: s_j = sum_i c_ij u_hat_j|i."""

    def forward(self, c: torch.Tensor, u_hat: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bnm,bnme->bme", c, u_hat)


class Squash(nn.Module):
    """Eq. 4 as a module."""

    def __init__(self, eps: float = SQUASH_EPS) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return squash(s, self.eps)


class AgreementUpdate(nn.Module):
    """Eqs. 6, 8 in full precision: b <- b + u_hat . v."""

    def forward(self, b: torch.Tensor, u_hat: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return b + torch.einsum("bnme,bme->bnm", u_hat, v)


class XnorAgreementUpdate(nn.Module):
    """Table 3 steps 8-10: binarize u_hat and v over E, b <- b + (B_u (x) B_v) . alpha_u alpha_v."""

    def __init__(self) -> None:
        super().__init__()
        self.binarize_uhat = Binarize(dim=-1)
        self.binarize_v = Binarize(dim=-1)
        self.xnor_agreement = XnorDotUpdate()

    def forward(self, b: torch.Tensor, u_hat: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if self.xnor_agreement._use_packed():
            from xncost.nn import inference

            return inference.agreement(b, u_hat, v)
        b_u, alpha_u = self.binarize_uhat(u_hat)
        b_v, alpha_v = self.binarize_v(v)
        return self.xnor_agreement(b, b_u, alpha_u, b_v, alpha_v)


class XnorDotUpdate(_BinaryDots):
    """Table 3 step 10: dot products of length E on +-1 values, rescaled, added to b."""

    def forward(
        self,
        b: torch.Tensor,
        b_u: torch.Tensor,
        alpha_u: torch.Tensor,
        b_v: torch.Tensor,
        alpha_v: torch.Tensor,
    ) -> torch.Tensor:
        dots = torch.einsum("bnme,bme->bnm", b_u, b_v)
        return b + dots * (alpha_u.squeeze(-1) * alpha_v.squeeze(-1).unsqueeze(1))


def use_packed(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Switch every binary dot-product step of `model` to bit-packed inference (or back)."""
    for m in model.modules():
        if isinstance(m, _BinaryDots):
            m.packed = enabled
    return model


class Routing(nn.Module):
    """Dynamic routing (Sabour et al. 2017; paper Section 3.1) with a pluggable agreement."""

    def __init__(self, iterations: int, agreement: nn.Module) -> None:
        super().__init__()
        if iterations < 1:
            raise ValueError("iterations must be >= 1")
        self.iterations = iterations
        self.softmax = Softmax()
        self.weighted_sum = WeightedSum()
        self.squash = Squash()
        self.agreement = agreement

    def forward(self, u_hat: torch.Tensor) -> torch.Tensor:
        bsz, n, m, _ = u_hat.shape
        b = torch.zeros(bsz, n, m, dtype=u_hat.dtype, device=u_hat.device)
        v = u_hat.new_zeros(())
        for it in range(self.iterations):
            c = self.softmax(b)
            v = self.squash(self.weighted_sum(c, u_hat))
            if it < self.iterations - 1:
                b = self.agreement(b, u_hat, v)
        return v


def caps_weight_scales(module: nn.Module, name: str, param: torch.Tensor) -> int:
    """XnODR's W_Cap [N, M, D, E] is binarized over D: N*M*E alphas (Table 2 step 4)."""
    return param.numel() // param.shape[2]


class XnorProjector(nn.Module):
    """Table 2 steps 1-5: XnODR's xnorized LP_out; W_Cap declared binary (1 bit, an alpha per
    dot product over D)."""

    xncost_binary = BinaryDeclaration(weights=("weight.weight",), scales=caps_weight_scales)

    def __init__(self, caps_in: int, caps_out: int, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.expand = Expand(caps_out)
        self.weight = CapsuleWeight(caps_in, caps_out, dim_in, dim_out)
        self.binarize_input = Binarize(dim=-1)
        self.binarize_weight = Binarize(dim=2)
        self.xnor_affine = XnorAffine()

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        if self.xnor_affine._use_packed():
            from xncost.nn import inference

            return inference.projector(self.xnor_affine, u, self.weight.weight)
        b_in, alpha_in = self.binarize_input(self.expand(u))
        b_w, alpha_w = self.binarize_weight(self.weight())
        return self.xnor_affine(b_in, alpha_in, b_w, alpha_w)


class _CapsFC(nn.Module):
    """A CapsFC layer [B, N, D] -> [B, M, E]: LP_out, then dynamic routing. The class flags
    say which of the two is xnorized: LP_out (attribute `projector`, Table 2 steps 1-5; else
    the float `lp_out`) and the agreement inside the routing (Table 3 steps 8-10)."""

    xnor_projector: bool = False
    xnor_agreement: bool = False

    def __init__(
        self, caps_in: int, caps_out: int, dim_in: int, dim_out: int, iterations: int = 3
    ) -> None:
        super().__init__()
        self.caps_in, self.caps_out = caps_in, caps_out
        self.dim_in, self.dim_out = dim_in, dim_out
        self.iterations = iterations
        sizes = (caps_in, caps_out, dim_in, dim_out)
        if self.xnor_projector:
            self.projector = XnorProjector(*sizes)
        else:
            self.lp_out = LinearProjector(*sizes)
        agreement = XnorAgreementUpdate() if self.xnor_agreement else AgreementUpdate()
        self.routing = Routing(iterations, agreement)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.routing(self.projector(u) if self.xnor_projector else self.lp_out(u))

    def extra_repr(self) -> str:
        return (
            f"caps_in={self.caps_in}, caps_out={self.caps_out}, dim_in={self.dim_in}, "
            f"dim_out={self.dim_out}, iterations={self.iterations}"
        )


class DynamicRouting(_CapsFC):
    """CapsFC layer with dynamic routing: [B, N, D] -> [B, M, E]."""


class XnODR(_CapsFC):
    """XnODR (Table 2): xnorized LP_out, then full-precision dynamic routing."""

    xnor_projector = True


class XnIDR(_CapsFC):
    """XnIDR (Table 3): full-precision LP_out, xnorized agreement inside the routing."""

    xnor_agreement = True


class XnBDR(_CapsFC):
    """XnBDR (Section 3.3.2): XnODR's xnorized LP_out, then XnIDR's xnorized routing."""

    xnor_projector = True
    xnor_agreement = True
