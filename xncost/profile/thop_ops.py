"""thop `custom_ops` for the capsule and binary step modules, in two conventions.

One handler per step class (paper Tables 2 and 3), counting from the runtime input and output
tensors and, for the binary steps, from the operand values (+-1 or not). Conventions:

- `paper` (SPEC §3, reproduces Tables 5 and 9): 2 FLOPs per multiply-accumulate (LP_out,
  weighted sum, agreement, FC), 9 per binarized element, softmax 2 per element; squash, the
  b += ... add, the alpha rescale, FC bias and ReLU free;
- `ops` (one FLOP per primitive op torch executes, the rules of `xncost.profile.oprules`):
  2 per MAC (1 when einsum lowers a length-1 contraction to a `mul`), binarize 9 per element
  (mul, add, clamp x2, round, mul, sub, abs, mean), softmax 5, squash 3 per element and 5 per
  capsule, the b update 1 per pair, the alpha rescale 2 per output, FC bias and ReLU 1 per
  output.

Both price a +-1 dot product of length k at `bops_per_word * ceil(k / word)` BOPs (xnor,
popcount, accumulate per 64-bit word); XNOR FLOPs = BOPs / word. A binary step given non-+-1
operands is priced as float work. thop keeps one number per module (`total_ops`, here FLOPs +
XNOR FLOPs, removed after `thop.profile` returns); `ThopRecorder` keeps FLOPs, BOPs and calls
per step. The handlers never call the analytic formulas of `xncost.accounting`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from xncost.errors import XncostError
from xncost.nn.binarize import Binarize
from xncost.nn.capsule import (
    AgreementUpdate,
    CapsuleWeight,
    DynamicRouting,
    Expand,
    LinearProjector,
    Routing,
    Softmax,
    Squash,
    WeightedSum,
    XnIDR,
    XnODR,
    XnorAffine,
    XnorAgreementUpdate,
    XnorDotUpdate,
    XnorProjector,
)
from xncost.profile import oprules
from xncost.profile.dispatch import StepCount

CONVENTIONS = ("paper", "ops")


@dataclass(frozen=True)
class Cost:
    flops: int = 0
    bops: int = 0


def _check(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise XncostError(f"unknown convention {convention!r} (known: paper, ops)")


class _Pricer:
    """The per-class counting rules of one convention."""

    def __init__(self, convention: str, word: int, bops_per_word: int) -> None:
        _check(convention)
        self.paper = convention == "paper"
        self.word = word
        self.bops_per_word = bops_per_word

    def float_dots(self, outputs: int, length: int) -> int:
        if self.paper:
            return 2 * outputs * length
        return oprules.contraction_flops(outputs, length)

    def dots(self, lhs: torch.Tensor, rhs: torch.Tensor, outputs: int, length: int) -> Cost:
        """+-1 operands: BOPs; anything else: float FLOPs."""
        if oprules.is_binary(lhs) and oprules.is_binary(rhs):
            return Cost(bops=oprules.binary_bops(outputs, length, self.word, self.bops_per_word))
        return Cost(flops=self.float_dots(outputs, length))

    def binarize(self, m: Binarize, x: tuple, y: Any) -> Cost:
        n = x[0].numel()
        if self.paper:
            return Cost(9 * n)
        # mul, add, clamp (min and max), round, mul, sub, abs per element; mean per input
        return Cost(8 * y[0].numel() + n)

    def zero(self, m: nn.Module, x: tuple, y: Any) -> Cost:
        return Cost()

    def lp_out(self, m: LinearProjector, x: tuple, y: torch.Tensor) -> Cost:
        return Cost(self.float_dots(y.numel(), x[0].shape[-1]))

    def xnor_affine(self, m: XnorAffine, x: tuple, y: torch.Tensor) -> Cost:
        b_in, _, b_w, _ = x
        cost = self.dots(b_in, b_w, y.numel(), b_in.shape[-1])
        rescale = 0 if self.paper else 2 * y.numel()  # alpha_I * alpha_W, dots * alpha
        return Cost(cost.flops + rescale, cost.bops)

    def softmax(self, m: Softmax, x: tuple, y: torch.Tensor) -> Cost:
        return Cost((2 if self.paper else 5) * x[0].numel())

    def weighted_sum(self, m: WeightedSum, x: tuple, y: torch.Tensor) -> Cost:
        c, _ = x
        return Cost(self.float_dots(y.numel(), c.shape[-2]))

    def squash(self, m: Squash, x: tuple, y: torch.Tensor) -> Cost:
        if self.paper:
            return Cost()
        s = x[0]
        # s*s, sum, final mul per element; 1+n2, /, +eps, sqrt, / per capsule
        return Cost(3 * s.numel() + 5 * (s.numel() // s.shape[-1]))

    def agreement(self, m: AgreementUpdate, x: tuple, y: torch.Tensor) -> Cost:
        _, u_hat, _ = x
        add = 0 if self.paper else y.numel()
        return Cost(self.float_dots(y.numel(), u_hat.shape[-1]) + add)

    def xnor_agreement(self, m: XnorDotUpdate, x: tuple, y: torch.Tensor) -> Cost:
        _, b_u, _, b_v, _ = x
        cost = self.dots(b_u, b_v, y.numel(), b_u.shape[-1])
        extra = 0 if self.paper else 3 * y.numel()  # alpha_u * alpha_v, dots * alpha, b + ...
        return Cost(cost.flops + extra, cost.bops)

    def linear(self, m: nn.Linear, x: tuple, y: torch.Tensor) -> Cost:
        flops = 2 * y.numel() * x[0].shape[-1]
        if not self.paper and m.bias is not None:
            flops += y.numel()
        return Cost(flops)

    def relu(self, m: nn.ReLU, x: tuple, y: torch.Tensor) -> Cost:
        return Cost(0 if self.paper else y.numel())


_HANDLERS: dict[type, str] = {
    Binarize: "binarize",
    Expand: "zero",
    CapsuleWeight: "zero",
    LinearProjector: "lp_out",
    XnorAffine: "xnor_affine",
    Softmax: "softmax",
    WeightedSum: "weighted_sum",
    Squash: "squash",
    AgreementUpdate: "agreement",
    XnorDotUpdate: "xnor_agreement",
    nn.Linear: "linear",
    nn.ReLU: "relu",
}
_CONTAINERS = (XnorProjector, XnorAgreementUpdate, Routing, DynamicRouting, XnODR, XnIDR)


class ThopRecorder:
    """Per-step FLOPs, BOPs and calls collected by the handlers (thop drops `total_ops`)."""

    def __init__(self, root: nn.Module | None = None, word: int = oprules.WORD_BITS) -> None:
        self.word = word
        self._names: dict[int, str] = {}
        if root is not None:
            for fqn, m in root.named_modules(remove_duplicate=False):
                self._names.setdefault(id(m), fqn.rsplit(".", 1)[-1] if fqn else "")
        self._seen_params: dict[str, set[int]] = {}
        self.steps: dict[str, StepCount] = {}

    def add(self, module: nn.Module, cost: Cost) -> None:
        name = self._names.get(id(module)) or type(module).__name__
        step = self.steps.get(name)
        if step is None:
            step = self.steps[name] = StepCount(name, word=self.word)
            self._seen_params[name] = set()
        step.flops += cost.flops
        step.bops += cost.bops
        step.calls += 1
        step.ops[type(module).__name__] += cost.flops
        seen = self._seen_params[name]
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                step.params += p.numel()

    @property
    def float_flops(self) -> int:
        return sum(s.flops for s in self.steps.values())

    @property
    def bops(self) -> int:
        return sum(s.bops for s in self.steps.values())


def _handler(price: Callable[..., Cost], word: int, recorder: ThopRecorder | None) -> Callable:
    def handler(m: nn.Module, x: tuple, y: Any) -> None:
        cost = price(m, x, y)
        total = cost.flops + Fraction(cost.bops, word)
        m.total_ops += total.numerator if total.denominator == 1 else total
        if recorder is not None:
            recorder.add(m, cost)

    handler.__name__ = handler.__qualname__ = f"count_{price.__name__}"
    return handler


def custom_ops(
    convention: str = "ops",
    recorder: ThopRecorder | None = None,
    word: int = oprules.WORD_BITS,
    bops_per_word: int = oprules.BOPS_PER_WORD,
) -> dict[type, Callable]:
    """thop `custom_ops` for every capsule/binary step class (plus nn.Linear and nn.ReLU).

    Each handler adds FLOPs + BOPs / word to the module's `total_ops` and, with a recorder,
    records FLOPs and BOPs per step. Containers map to thop's zero rule.
    """
    from thop.vision.basic_hooks import zero_ops

    pricer = _Pricer(convention, word, bops_per_word)
    ops: dict[type, Callable] = {
        cls: _handler(getattr(pricer, name), word, recorder) for cls, name in _HANDLERS.items()
    }
    ops.update({cls: zero_ops for cls in _CONTAINERS})
    return ops


@dataclass
class ThopResult:
    """thop's own total (FLOPs + XNOR FLOPs as a float), its parameter count, the steps."""

    thop_total: float
    thop_params: float
    recorder: ThopRecorder


def thop_count(
    model: nn.Module,
    *inputs: torch.Tensor,
    convention: str = "ops",
    word: int = oprules.WORD_BITS,
    bops_per_word: int = oprules.BOPS_PER_WORD,
) -> ThopResult:
    """Profile one forward pass of `model(*inputs)` with thop and the custom ops above."""
    import thop

    recorder = ThopRecorder(model, word)
    ops = custom_ops(convention, recorder, word, bops_per_word)
    total, params = thop.profile(model, inputs=inputs, custom_ops=ops, verbose=False)
    return ThopResult(float(total), float(params), recorder)


def flop_counter_mapping() -> dict[Any, Callable]:
    """`custom_mapping` for `torch.utils.flop_counter.FlopCounterMode`: the `ops` rules.

    FlopCounterMode keeps one int per (module fqn, aten op) and its formulas see the op's
    arguments but not the module running it, so it can count every `ops` FLOP (per module via
    `get_flop_counts()`, cumulative over parents) but cannot express BOPs or which steps are
    binary: +-1 products are counted as float FLOPs there. Use `OpCounter` for BOPs.
    """

    def wrap(rule: oprules.OpRule) -> Callable:
        def formula(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
            return int(rule(args, kwargs, out_val))

        formula._get_raw = True  # type: ignore[attr-defined]
        return formula

    return {packet: wrap(rule) for packet, rule in oprules.OP_RULES.items()}
