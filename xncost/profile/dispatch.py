"""`OpCounter`: the counting engine (`xncost.profile.engine`) under one convention, per step.

Each aten op is attributed to the innermost module running when it executes; a step is named
by that module's attribute name, which for the reference layers is the step name of the
paper's Tables 2 and 3 (`lp_out`, `softmax`, `xnor_affine`, ...). A 1-bit product (both
operands binary up to scale, `xncost.profile.detect`) is priced in BOPs by the convention
(`Convention.bops`), anything else in FLOPs by its rules. The counter never consults the
analytic formulas.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from xncost.conventions import OPS, Convention
from xncost.profile.engine import DETECT, GLOBAL, CountingEngine, OpResult
from xncost.profile.ledger import StepCount, StepLedger


class OpCounter(CountingEngine, StepLedger):
    """Count every aten op run inside the context under a convention's op rules, per step.

    `root` (optional) names modules by their attribute names inside it; modules outside it
    are named by their class name. After the context: `steps` (name -> StepCount, in order of
    first call), `by_op` (step -> aten op -> FLOPs), `unknown_ops` (`"step: aten.op"` for ops
    with no rule, each once), and the ledger's totals (`flops`, `float_flops`, `bops`,
    `xnor_flops`, `float_macs`, `binary_macs`).
    """

    def __init__(
        self,
        root: nn.Module | None = None,
        conv: Convention = OPS,
        binary: Any = None,
        detect: bool = DETECT,
    ) -> None:
        CountingEngine.__init__(self, root, (conv,), binary, detect)
        StepLedger.__init__(self, root, conv)
        self.unknown_ops: list[str] = []

    def module_name(self, module: nn.Module) -> str:
        return self.step_name(module)

    def enter(self, module: nn.Module) -> None:
        if not module._modules:
            step = self.step(self.stack[-1][1], leaf=True)
            step.calls += 1
            self.add_params(step, module, recurse=False)

    def record(self, result: OpResult) -> None:
        module, name = self.stack[-1] if self.stack else (None, GLOBAL)
        step = self.steps.get(name)
        if step is None:
            step = self.step(name, leaf=False)
            if module is not None:
                self.add_params(step, module, recurse=not module._modules)
        op = result.info.display
        if result.unknown:
            entry = f"{name}: {op}"
            if entry not in self.unknown_ops:
                self.unknown_ops.append(entry)
            return
        count = result.counts[self.conv.name]
        step.add(count)
        if result.one_bit:
            step.ops[op + " (bops)"] += count.bops
        if len(result.one_bit) < len(result.products) or not result.products:
            step.ops[op] += count.flops

    def finish(self) -> None:
        CountingEngine.finish(self)
        self.steps = {
            k: v for k, v in self.steps.items() if v.leaf or v.flops or v.bops or v.params
        }


def count_ops(
    model: nn.Module,
    *inputs: torch.Tensor,
    conv: Convention = OPS,
    binary: Any = None,
    detect: bool = DETECT,
) -> OpCounter:
    """Run `model(*inputs)` once under `torch.no_grad()` inside an `OpCounter`."""
    counter = OpCounter(model, conv, binary, detect)
    with torch.no_grad(), counter:
        model(*inputs)
    return counter


__all__ = ["GLOBAL", "OpCounter", "StepCount", "count_ops"]
