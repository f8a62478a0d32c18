"""Dispatch-level op counter: every aten op executed, priced by `xncost.profile.oprules`.

`ModuleDispatch` is a context manager around a `TorchDispatchMode` plus global module forward
hooks that keeps the stack of running modules and calls three public hooks: `enter(module)`,
`exit(module, out)` and `op(func, args, kwargs, out)`. `OpCounter` (a `ModuleDispatch` and a
`StepLedger`) attributes each op to the innermost module running when it executes; a step is
named by that module's attribute name, which for the reference layers is the step name of
the paper's Tables 2 and 3 (`lp_out`, `softmax`, `xnor_affine`, ...).

Binary work: inside a binary step (classes `XnorAffine`, `XnorDotUpdate`, or modules named
`xnor_affine`, `xnor_agreement`, `xnor`) or a registered binary layer
(`xncost.profile.binary`), a product whose two operands hold only -1/+1 (checked on the values
at run time) is priced in BOPs by the convention (`Convention.bops`); an `aten.mul` of two +-1
tensors there is a length-1 dot product (what einsum runs when the contracted axis has size
1). Products on other values are ordinary FLOPs. The counter never consults the analytic
formulas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from torch.utils._python_dispatch import TorchDispatchMode

from xncost.conventions import OPS, Convention
from xncost.profile import oprules
from xncost.profile.binary import in_binary_layer, is_binary_step
from xncost.profile.ledger import StepCount, StepLedger

GLOBAL = "(global)"


@dataclass(frozen=True)
class BinaryProduct:
    """A product of two +-1 operands: `count` dot products of `length` bits."""

    count: int
    length: int

    @property
    def macs(self) -> int:
        return self.count * self.length


def binary_product(func: Any, args: tuple, kwargs: dict, out: Any) -> BinaryProduct | None:
    """The +-1 dot products of an op, or None if it is not a product of two +-1 tensors."""
    dots = oprules.dot_products(func, args, kwargs, out)
    if dots is not None:
        if dots.binary_ok and oprules.is_binary(dots.lhs) and oprules.is_binary(dots.rhs):
            return BinaryProduct(dots.count, dots.length)
        return None
    if getattr(func, "overloadpacket", func) is torch.ops.aten.mul and len(args) == 2:
        if oprules.is_binary(args[0]) and oprules.is_binary(args[1]):
            return BinaryProduct(out.numel(), 1)
    return None


class _Mode(TorchDispatchMode):
    def __init__(self, counter: ModuleDispatch) -> None:
        super().__init__()
        self.counter = counter

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.counter.op(func, args, kwargs, out)
        return out


class ModuleDispatch:
    """Runs `enter`, `exit` and `op` for every module call and aten op inside the context;
    `stack` holds the running modules, innermost last, as (module, name)."""

    def __init__(self) -> None:
        self.stack: list[tuple[nn.Module, str]] = []
        self._handles: list[Any] = []
        self._mode: _Mode | None = None

    def module_name(self, module: nn.Module) -> str:
        """The name pushed on `stack` with the module."""
        return type(module).__name__

    def short_name(self, module: nn.Module, name: str) -> str:
        """The module's attribute name (what `is_binary_step` matches)."""
        return name

    def enter(self, module: nn.Module) -> None:
        """Called before a module's forward (after it is pushed on `stack`)."""

    def exit(self, module: nn.Module, out: Any) -> None:
        """Called after a module's forward (before it is popped from `stack`)."""

    def op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        """Called for every aten op executed."""

    def finish(self) -> None:
        """Called once when the context exits."""

    def in_binary_context(self) -> bool:
        """Inside a binary step or a registered binary layer."""
        if not self.stack:
            return False
        module, name = self.stack[-1]
        return is_binary_step(module, self.short_name(module, name)) or in_binary_layer(
            m for m, _ in self.stack
        )

    def _pre(self, module: nn.Module, _args: Any) -> None:
        self.stack.append((module, self.module_name(module)))
        self.enter(module)

    def _post(self, module: nn.Module, _args: Any, out: Any) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] is module:
                self.exit(module, out)
                del self.stack[i:]
                return

    def __enter__(self) -> ModuleDispatch:
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
            self.stack = []
        self.finish()


class OpCounter(ModuleDispatch, StepLedger):
    """Count every aten op run inside the context under a convention's op rules, per step.

    `root` (optional) names modules by their attribute names inside it; modules outside it
    are named by their class name. After the context: `steps` (name -> StepCount, in order of
    first call), `by_op` (step -> aten op -> FLOPs), `unknown_ops` (`"step: aten.op"` for ops
    with no rule, each once), and the ledger's totals (`flops`, `float_flops`, `bops`,
    `xnor_flops`, `float_macs`, `binary_macs`).
    """

    def __init__(self, root: nn.Module | None = None, conv: Convention = OPS) -> None:
        ModuleDispatch.__init__(self)
        StepLedger.__init__(self, root, conv)
        self.unknown_ops: list[str] = []

    def module_name(self, module: nn.Module) -> str:
        return self.step_name(module)

    def enter(self, module: nn.Module) -> None:
        if not module._modules:
            step = self.step(self.stack[-1][1], leaf=True)
            step.calls += 1
            self.add_params(step, module, recurse=False)

    def op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        module, name = self.stack[-1] if self.stack else (None, GLOBAL)
        step = self.steps.get(name)
        if step is None:
            step = self.step(name, leaf=False)
            if module is not None:
                self.add_params(step, module, recurse=not module._modules)
        op = oprules.op_name(func)
        rule = oprules.rule_for(func)
        if rule is None:
            entry = f"{name}: {op}"
            if entry not in self.unknown_ops:
                self.unknown_ops.append(entry)
            return
        if self.in_binary_context():
            product = binary_product(func, args, kwargs, out)
            if product is not None:
                bops = self.conv.bops(product.count, product.length)
                step.bops += bops
                step.binary_macs += product.macs
                step.ops[op + " (bops)"] += bops
                return
        flops = int(rule(args, kwargs, out, self.conv))
        step.flops += flops
        step.ops[op] += flops
        dots = oprules.dot_products(func, args, kwargs, out)
        if dots is not None:
            step.float_macs += dots.macs

    def finish(self) -> None:
        self.steps = {
            k: v for k, v in self.steps.items() if v.leaf or v.flops or v.bops or v.params
        }


def count_ops(model: nn.Module, *inputs: torch.Tensor, conv: Convention = OPS) -> OpCounter:
    """Run `model(*inputs)` once under `torch.no_grad()` inside an `OpCounter`."""
    counter = OpCounter(model, conv)
    with torch.no_grad(), counter:
        model(*inputs)
    return counter


__all__ = [
    "GLOBAL",
    "BinaryProduct",
    "ModuleDispatch",
    "OpCounter",
    "StepCount",
    "binary_product",
    "count_ops",
    "is_binary_step",
]
