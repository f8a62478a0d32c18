"""Losses used by the paper (Section 4.3): margin loss (CapsNet), squared hinge (XNOR-Net),
cross-entropy for the FC baselines. All take class scores [B, K] and targets that are class
indices [B] or multi-hot vectors [B, K] (MultiMNIST), and return the batch mean.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from xncost.errors import XncostError

LOSSES = ("auto", "margin", "squared-hinge", "cross-entropy")
M_PLUS = 0.9
M_MINUS = 0.1
LAMBDA = 0.5

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def as_multi_hot(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices [B] -> one-hot [B, K]; multi-hot [B, K] is returned as float."""
    if targets.dim() == 1:
        return F.one_hot(targets.long(), num_classes).to(torch.float32)
    return targets.to(torch.float32)


def margin_loss(
    scores: torch.Tensor,
    targets: torch.Tensor,
    m_plus: float = M_PLUS,
    m_minus: float = M_MINUS,
    lam: float = LAMBDA,
) -> torch.Tensor:
    """Sabour et al. Eq. 4: sum_k T_k max(0, m+ - |v_k|)^2 + lam (1 - T_k) max(0, |v_k| - m-)^2."""
    t = as_multi_hot(targets, scores.shape[-1]).to(scores.dtype)
    present = t * F.relu(m_plus - scores) ** 2
    absent = lam * (1 - t) * F.relu(scores - m_minus) ** 2
    return (present + absent).sum(dim=-1).mean()


def squared_hinge_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Keras squared hinge: mean_k max(0, 1 - y_k s_k)^2 with y in {-1, +1}."""
    y = 2 * as_multi_hot(targets, scores.shape[-1]).to(scores.dtype) - 1
    return (F.relu(1 - y * scores) ** 2).mean(dim=-1).mean()


def cross_entropy_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy for class indices; BCE-with-logits for multi-hot targets."""
    if targets.dim() == 1:
        return F.cross_entropy(scores, targets.long())
    return F.binary_cross_entropy_with_logits(scores, targets.to(scores.dtype))


def resolve_loss(name: str, head: str) -> str:
    """`auto` is margin loss for capsule heads and cross-entropy for the FC head."""
    if name not in LOSSES:
        raise XncostError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
    if name == "auto":
        return "cross-entropy" if head == "fc" else "margin"
    return name


def get_loss(name: str) -> LossFn:
    """The loss function for a resolved loss name."""
    return {
        "margin": margin_loss,
        "squared-hinge": squared_hinge_loss,
        "cross-entropy": cross_entropy_loss,
    }[name]
