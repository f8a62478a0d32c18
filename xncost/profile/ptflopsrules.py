"""The `ptflops` convention's module rules: ptflops' module-hook prices ("Mac"), keyed by the
exact class of the module running an aten op (docs/conventions.md), one small rule per module
type, in a registry shaped like `xncost.profile.oprules`. Any other module (custom layers
included) costs 0, as in ptflops.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from xncost.conventions import PTFLOPS, Convention
from xncost.profile import oprules
from xncost.profile.registry import RuleRegistry

aten = torch.ops.aten
RULES = RuleRegistry("ptflops rules")
register = RULES.register

_RELU = (aten.relu, aten.relu_, aten.hardtanh, aten.hardtanh_)


@register(nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)
def product_rule(
    m: nn.Module, func: Any, args: tuple, kwargs: dict, out: Any, conv: Convention
) -> int:
    """Conv / Linear: `flops_per_mac` (ptflops: 1) per MAC + bias 1 per output."""
    dots = oprules.dot_products(func, args, kwargs, out)
    return 0 if dots is None else dots.flops(conv)


@register(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
def batch_norm_rule(
    m: nn.Module, func: Any, args: tuple, kwargs: dict, out: Any, conv: Convention
) -> int:
    """Batch norm: 1 per element, 2 with affine."""
    if getattr(func, "overloadpacket", func) not in oprules.BATCH_NORMS:
        return 0
    return (2 if m.affine else 1) * args[0].numel()


@register(nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU)
def activation_rule(
    m: nn.Module, func: Any, args: tuple, kwargs: dict, out: Any, conv: Convention
) -> int:
    """Activations: 1 per output element."""
    if getattr(func, "overloadpacket", func) not in _RELU:
        return 0
    return (out if isinstance(out, torch.Tensor) else out[0]).numel()


@register(
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
)
def pool_rule(
    m: nn.Module, func: Any, args: tuple, kwargs: dict, out: Any, conv: Convention
) -> int:
    """Pooling: 1 per input element."""
    p = getattr(func, "overloadpacket", func)
    if p in oprules.POOLS or p in oprules.ADAPTIVE_POOLS or p is aten.mean:
        return args[0].numel()
    return 0


def ptflops_flops(
    module: nn.Module | None,
    func: Any,
    args: tuple,
    kwargs: dict,
    out: Any,
    conv: Convention = PTFLOPS,
) -> int:
    """The `ptflops` price of one aten op run by `module` (0 outside the priced classes)."""
    rule = RULES.get(type(module))
    return 0 if rule is None else int(rule(module, func, args, kwargs, out, conv))
from xncost.profile import transformer_ptflopsrules  # noqa: E402, F401  (transformer modules)
