"""The step ledger shared by the dispatch counter and the thop recorder.

A step is named by a module's attribute name inside the profiled root (the last component of
its qualified name, the step names of the paper's Tables 2 and 3) or, outside it, by its
class name; a module called several times accumulates over its calls. Parameters are counted
once per step however often the module runs. Prices come from the ledger's `Convention`;
each step is a `Count` (`xncost.conventions`), XNOR FLOPs derived from it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from torch import nn

from xncost.conventions import OPS, Convention, Count


@dataclass
class StepCount(Count):
    """Counts of one step (all modules sharing one attribute name)."""

    name: str = ""
    calls: int = 0
    params: int = 0
    leaf: bool = True
    ops: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def as_dict(self) -> dict[str, Any]:
        return {
            "flops": self.flops,
            "bops": self.bops,
            "xnor_flops": self.xnor_flops,
            "params": self.params,
        }


class StepLedger:
    """Steps by name (in order of first use), parameters de-duplicated per step, totals.

    Totals: `flops` (float FLOPs + XNOR FLOPs), `float_flops`, `bops`, `xnor_flops`,
    `float_macs`, `binary_macs`.
    """

    def __init__(self, root: nn.Module | None = None, conv: Convention = OPS) -> None:
        self.conv = conv
        self.word = conv.word_bits
        self._names: dict[int, str] = {}
        if root is not None:
            for fqn, m in root.named_modules(remove_duplicate=False):
                self._names.setdefault(id(m), fqn.rsplit(".", 1)[-1] if fqn else "")
        self._seen_params: dict[str, set[int]] = defaultdict(set)
        self.steps: dict[str, StepCount] = {}

    def step_name(self, module: nn.Module) -> str:
        return self._names.get(id(module)) or type(module).__name__

    def step(self, name: str, leaf: bool = True) -> StepCount:
        """The step `name`, created on first use."""
        step = self.steps.get(name)
        if step is None:
            step = self.steps[name] = StepCount(name=name, leaf=leaf, word=self.word)
        return step

    def add_params(self, step: StepCount, module: nn.Module, recurse: bool = True) -> None:
        """Add the module's parameters to the step, each parameter once."""
        seen = self._seen_params[step.name]
        for p in module.parameters(recurse=recurse):
            if id(p) not in seen:
                seen.add(id(p))
                step.params += p.numel()

    @property
    def count(self) -> Count:
        """All steps together."""
        total = Count(word=self.word)
        for s in self.steps.values():
            total.add(s)
        return total

    @property
    def float_flops(self) -> int:
        return self.count.flops

    @property
    def bops(self) -> int:
        return self.count.bops

    @property
    def float_macs(self) -> int:
        return self.count.float_macs

    @property
    def binary_macs(self) -> int:
        return self.count.binary_macs

    @property
    def xnor_flops(self) -> int | Fraction:
        return self.count.xnor_flops

    @property
    def flops(self) -> int | Fraction:
        return self.count.total

    @property
    def by_op(self) -> dict[str, dict[str, int]]:
        return {name: dict(s.ops) for name, s in self.steps.items()}
