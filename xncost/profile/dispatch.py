"""Dispatch-level op counter: every aten op executed, priced by `xncost.profile.oprules`.

`OpCounter` is a context manager around a `TorchDispatchMode` plus global module forward
hooks. Each op is attributed to the innermost module running when it executes; a step is
named by that module's attribute name (the last component of its qualified name), which for
the reference layers is the step name of the paper's Tables 2 and 3 (`lp_out`, `softmax`,
`xnor_affine`, ...). A module called several times (routing: softmax, weighted sum and squash
r times, the agreement r - 1 times) accumulates over its calls.

Binary steps (classes `XnorAffine`, `XnorDotUpdate`, or modules named `xnor_affine`,
`xnor_agreement`, `xnor`): a product whose two operands hold only -1/+1 (checked on the
values at run time) is priced in BOPs, `bops_per_word * ceil(k / word)` per dot product of
length k; an `aten.mul` of two +-1 tensors there is a length-1 dot product (what einsum runs
when the contracted axis has size 1). XNOR FLOPs = BOPs / word. Products on other values
are ordinary FLOPs. The counter never consults the analytic formulas.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from torch.utils._python_dispatch import TorchDispatchMode

from xncost.profile import oprules

BINARY_STEP_CLASSES = frozenset({"XnorAffine", "XnorDotUpdate"})
BINARY_STEP_NAMES = frozenset({"xnor_affine", "xnor_agreement", "xnor"})
GLOBAL = "(global)"


def is_binary_step(module: nn.Module | None, name: str) -> bool:
    """True for a leaf that computes +-1 dot products (Table 2 step 5, Table 3 step 10)."""
    if module is None:
        return False
    return type(module).__name__ in BINARY_STEP_CLASSES or name in BINARY_STEP_NAMES


def _normalize(x: Fraction) -> int | Fraction:
    return x.numerator if x.denominator == 1 else x


@dataclass
class StepCount:
    """Counts of one step (all modules sharing one attribute name)."""

    name: str
    flops: int = 0
    bops: int = 0
    calls: int = 0
    params: int = 0
    leaf: bool = True
    word: int = oprules.WORD_BITS
    ops: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def xnor_flops(self) -> int | Fraction:
        return _normalize(Fraction(self.bops, self.word))

    def as_dict(self) -> dict[str, Any]:
        return {
            "flops": self.flops,
            "bops": self.bops,
            "xnor_flops": self.xnor_flops,
            "params": self.params,
        }


class _Mode(TorchDispatchMode):
    def __init__(self, counter: OpCounter) -> None:
        super().__init__()
        self.counter = counter

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.counter._count(func, args, kwargs, out)
        return out


class OpCounter:
    """Count every aten op run inside the context under the `ops` rules, per step.

    `root` (optional) names modules by their attribute names inside it; modules outside it
    are named by their class name. After the context: `steps` (name -> StepCount, in order of
    first call), `by_op` (step -> aten op -> FLOPs), `unknown_ops` (`"step: aten.op"` for
    ops with no rule, each once), and totals `flops` (float FLOPs + XNOR FLOPs),
    `float_flops`, `bops`, `xnor_flops`.
    """

    def __init__(
        self,
        root: nn.Module | None = None,
        word: int = oprules.WORD_BITS,
        bops_per_word: int = oprules.BOPS_PER_WORD,
    ) -> None:
        self.word = word
        self.bops_per_word = bops_per_word
        self._names: dict[int, str] = {}
        if root is not None:
            for fqn, m in root.named_modules(remove_duplicate=False):
                self._names.setdefault(id(m), fqn.rsplit(".", 1)[-1] if fqn else "")
        self._stack: list[tuple[nn.Module, str]] = []
        self._handles: list[Any] = []
        self._mode: _Mode | None = None
        self._seen_params: dict[str, set[int]] = defaultdict(set)
        self.steps: dict[str, StepCount] = {}
        self.unknown_ops: list[str] = []

    def _name(self, module: nn.Module) -> str:
        name = self._names.get(id(module))
        return name if name else type(module).__name__

    def _step(self, name: str, leaf: bool) -> StepCount:
        step = self.steps.get(name)
        if step is None:
            step = self.steps[name] = StepCount(name, leaf=leaf, word=self.word)
        return step

    def _pre(self, module: nn.Module, _args: Any) -> None:
        name = self._name(module)
        leaf = not module._modules
        self._stack.append((module, name))
        if leaf:
            step = self._step(name, leaf=True)
            step.calls += 1
            self._add_params(step, module)

    def _post(self, module: nn.Module, _args: Any, _out: Any) -> None:
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] is module:
                del self._stack[i:]
                return

    def _add_params(self, step: StepCount, module: nn.Module) -> None:
        seen = self._seen_params[step.name]
        for p in module.parameters(recurse=not module._modules):
            if id(p) not in seen:
                seen.add(id(p))
                step.params += p.numel()

    def _count(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        module, name = self._stack[-1] if self._stack else (None, GLOBAL)
        step = self.steps.get(name)
        if step is None:
            step = self._step(name, leaf=False)
            if module is not None:
                self._add_params(step, module)
        op = oprules.op_name(func)
        rule = oprules.rule_for(func)
        if rule is None:
            entry = f"{name}: {op}"
            if entry not in self.unknown_ops:
                self.unknown_ops.append(entry)
            return
        if is_binary_step(module, name):
            bops = self._binary_bops(func, args, kwargs, out)
            if bops is not None:
                step.bops += bops
                step.ops[op + " (bops)"] += bops
                return
        flops = int(rule(args, kwargs, out))
        step.flops += flops
        step.ops[op] += flops

    def _binary_bops(self, func: Any, args: tuple, kwargs: dict, out: Any) -> int | None:
        dots = oprules.dot_products(func, args, kwargs, out)
        if dots is not None:
            if dots.binary_ok and oprules.is_binary(dots.lhs) and oprules.is_binary(dots.rhs):
                return dots.bops(self.word, self.bops_per_word)
            return None
        if func.overloadpacket is torch.ops.aten.mul and len(args) == 2:
            if oprules.is_binary(args[0]) and oprules.is_binary(args[1]):
                return oprules.binary_bops(out.numel(), 1, self.word, self.bops_per_word)
        return None

    def __enter__(self) -> OpCounter:
        self._handles = [
            register_module_forward_pre_hook(self._pre),
            register_module_forward_hook(self._post, always_call=True),
        ]
        self._mode = _Mode(self)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._mode is not None:
                self._mode.__exit__(*exc)
        finally:
            self._mode = None
            for h in self._handles:
                h.remove()
            self._handles = []
            self._stack = []
        self.steps = {
            k: v for k, v in self.steps.items() if v.leaf or v.flops or v.bops or v.params
        }

    @property
    def by_op(self) -> dict[str, dict[str, int]]:
        return {name: dict(s.ops) for name, s in self.steps.items()}

    @property
    def float_flops(self) -> int:
        return sum(s.flops for s in self.steps.values())

    @property
    def bops(self) -> int:
        return sum(s.bops for s in self.steps.values())

    @property
    def xnor_flops(self) -> int | Fraction:
        return _normalize(Fraction(self.bops, self.word))

    @property
    def flops(self) -> int | Fraction:
        return _normalize(self.float_flops + Fraction(self.bops, self.word))


def count_ops(model: nn.Module, *inputs: torch.Tensor, **kw: Any) -> OpCounter:
    """Run `model(*inputs)` once under `torch.no_grad()` inside an `OpCounter`."""
    counter = OpCounter(model, **kw)
    with torch.no_grad(), counter:
        model(*inputs)
    return counter
