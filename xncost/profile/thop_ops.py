"""thop `custom_ops` for the capsule and binary step modules, priced by a `Convention`.

One handler per step class (paper Tables 2 and 3), counting from the runtime input and output
tensors and, for the binary steps, from the operand values (+-1 or not). Every price comes from
the convention given (`paper` or `ops`, docs/conventions.md): FLOPs per MAC (and per
length-1 contraction), per binarized element, per softmax element, squash, the b update, the
alpha rescale, FC bias and ReLU; BOPs of a +-1 dot product by `Convention.bops`.

One unit: thop's own rules for torch layers count MACs, so they are replaced: `nn.Linear` and
convolutions are re-priced in the convention's FLOPs (MACs x FLOPs per MAC, bias at the FC bias
price), ReLU at the FC activation price, and the other layers thop would price itself (batch
norm, average pooling, softmax modules, upsampling, ...) are recorded as *unpriced* (0, named
in `ThopRecorder.unpriced`) rather than mixed in.

thop sees module inputs and outputs only, so which products are 1-bit comes from the counting
engine: `thop_count` first runs a pre-pass (`product_log`) that classifies every product and
notes the module running it (`xncost.profile.detect`), no registration needed; convolutions
and linear layers are then priced from their inputs and outputs, in BOPs when the pre-pass
found their product 1-bit, and any other leaf module that ran products gets a handler pricing
them. Without the pre-pass (`custom_ops` alone), declared binary layers (`xncost.nn.declare`,
`register_binary`) are priced from their declared weight: one dot product per output element,
of the weight's per-filter length, in BOPs when the layer declares binary inputs, else float
MACs. thop cannot see a layer's binarization and rescale (docs/conventions.md).
`ThopRecorder` keeps FLOPs, BOPs, MACs and calls per step; thop keeps one number per module
(`total_ops`, here FLOPs + XNOR FLOPs). The handlers never call the analytic formulas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from xncost.conventions import OPS, Convention, Count, OpEvent, get_convention
from xncost.core.layers import LAYERS
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
    XnorAffine,
    XnorAgreementUpdate,
    XnorDotUpdate,
    XnorProjector,
)
from xncost.nn.xnor import XnorConv2d, XnorLinear
from xncost.profile.binary import BINARY_LAYERS, declaration
from xncost.profile.detect import ONE_BIT, Product, is_pm1
from xncost.profile.engine import DETECT, CountingEngine, OpResult
from xncost.profile.ledger import StepLedger


def cost(flops: int = 0, bops: int = 0, float_macs: int = 0, binary_macs: int = 0) -> Count:
    """A handler's count (`Count`), FLOPs first as the handlers price them."""
    return Count(float_macs, binary_macs, flops, bops)


class ProductLog(CountingEngine):
    """The pre-pass: every product classified (`xncost.profile.detect`), listed per call of
    the module running it (`calls[id(module)]`: one list of products per call)."""

    def __init__(self, root: nn.Module, binary: Any = None, detect: bool = DETECT) -> None:
        super().__init__(root, (), binary, detect)
        self.calls: dict[int, list[list[Product]]] = {}
        self.classes: dict[type, bool] = {}  # classes that ran products: leaf or not

    def enter(self, module: nn.Module) -> None:
        self.calls.setdefault(id(module), []).append([])

    def record(self, result: OpResult) -> None:
        module = result.ev.module
        if not result.products or module is None:
            return
        self.calls[id(module)][-1].extend(result.products)
        leaf = not module._modules
        self.classes[type(module)] = self.classes.get(type(module), True) and leaf


def product_log(
    model: nn.Module, *inputs: torch.Tensor, binary: Any = None, detect: bool = DETECT
) -> ProductLog:
    """Run the pre-pass on `model(*inputs)` under `torch.no_grad()`."""
    log = ProductLog(model, binary, detect)
    with torch.no_grad(), log:
        model(*inputs)
    return log


class _Pricer:
    """The per-class counting rules, priced by one convention; with the pre-pass `log`,
    convolutions and linear layers take their kind from it and other modules that ran
    products are priced from it."""

    def __init__(self, conv: Convention, log: ProductLog | None = None) -> None:
        self.conv = conv
        self.log = log
        self._call: dict[int, int] = {}

    def float_dots(self, outputs: int, length: int) -> Count:
        flops = self.conv.contraction_flops(outputs, length)
        return cost(flops, float_macs=outputs * length)

    def binary_dots(self, outputs: int, length: int) -> Count:
        return cost(bops=self.conv.bops(outputs, length), binary_macs=outputs * length)

    def dots(self, lhs: torch.Tensor, rhs: torch.Tensor, outputs: int, length: int) -> Count:
        """+-1 operands: BOPs; anything else: float FLOPs."""
        if is_pm1(lhs) and is_pm1(rhs):
            return self.binary_dots(outputs, length)
        return self.float_dots(outputs, length)

    def logged(self, m: nn.Module) -> list[Product] | None:
        """The pre-pass's products of this call of `m` (None without a pre-pass)."""
        if self.log is None:
            return None
        calls = self.log.calls.get(id(m), [])
        i = self._call.get(id(m), 0)
        self._call[id(m)] = i + 1
        return calls[i] if i < len(calls) else []

    def one_bit(self, m: nn.Module) -> bool:
        products = self.logged(m)
        return bool(products) and all(p.kind == ONE_BIT for p in products)

    def products(self, m: nn.Module, x: tuple, y: Any) -> Count:
        """A module the pre-pass saw run products: each priced by its kind."""
        total = cost()
        for p in self.logged(m) or ():
            total.add(self.binary_dots(p.count, p.length) if p.kind == ONE_BIT else self._float(p))
        return total

    def _float(self, p: Product) -> Count:
        return cost(self.conv.flops_per_mac * p.macs, float_macs=p.macs)

    def binarize(self, m: Binarize, x: tuple, y: Any) -> Count:
        return cost(self.conv.binarize_per_element * x[0].numel())

    def zero(self, m: nn.Module, x: tuple, y: Any) -> Count:
        return cost()

    def lp_out(self, m: LinearProjector, x: tuple, y: torch.Tensor) -> Count:
        return self.float_dots(y.numel(), x[0].shape[-1])

    def xnor_affine(self, m: XnorAffine, x: tuple, y: torch.Tensor) -> Count:
        b_in, _, b_w, _ = x
        cost = self.dots(b_in, b_w, y.numel(), b_in.shape[-1])
        return _plus(cost, self.conv.rescale_per_output * y.numel())

    def softmax(self, m: Softmax, x: tuple, y: torch.Tensor) -> Count:
        return cost(self.conv.softmax_per_element * x[0].numel())

    def weighted_sum(self, m: WeightedSum, x: tuple, y: torch.Tensor) -> Count:
        c, _ = x
        return self.float_dots(y.numel(), c.shape[-2])

    def squash(self, m: Squash, x: tuple, y: torch.Tensor) -> Count:
        s = x[0]
        capsules = s.numel() // s.shape[-1]
        per_capsule = self.conv.squash_per_capsule * capsules
        return cost(self.conv.squash_per_element * s.numel() + per_capsule)

    def agreement(self, m: AgreementUpdate, x: tuple, y: torch.Tensor) -> Count:
        _, u_hat, _ = x
        cost = self.float_dots(y.numel(), u_hat.shape[-1])
        return _plus(cost, self.conv.agreement_add * y.numel())

    def xnor_agreement(self, m: XnorDotUpdate, x: tuple, y: torch.Tensor) -> Count:
        _, b_u, _, b_v, _ = x
        cost = self.dots(b_u, b_v, y.numel(), b_u.shape[-1])
        return _plus(cost, (self.conv.rescale_per_output + self.conv.agreement_add) * y.numel())

    def _product(self, m: nn.Module, macs: int, outputs: int) -> Count:
        if self.one_bit(m):
            return cost(bops=self.conv.bops(outputs, macs // outputs), binary_macs=macs)
        bias = self.conv.fc_bias * outputs if getattr(m, "bias", None) is not None else 0
        return cost(self.conv.flops_per_mac * macs + bias, float_macs=macs)

    def linear(self, m: nn.Linear, x: tuple, y: torch.Tensor) -> Count:
        return self._product(m, y.numel() * x[0].shape[-1], y.numel())

    def convolution(self, m: nn.modules.conv._ConvNd, x: tuple, y: torch.Tensor) -> Count:
        per_filter = m.weight[0].numel()
        if m.transposed:
            return self._product(m, x[0].numel() * per_filter, y.numel())
        return self._product(m, y.numel() * per_filter, y.numel())

    def relu(self, m: nn.ReLU, x: tuple, y: torch.Tensor) -> Count:
        return cost(self.conv.fc_activation * y.numel())

    def registered(self, m: nn.Module, x: tuple, y: Any) -> Count:
        """A declared binary layer (no pre-pass): its product from the declared weight and
        inputs."""
        spec = declaration(m)
        if spec is None or not spec.weights:
            return cost()
        w = m.get_parameter(spec.weights[0])
        y = y if isinstance(y, torch.Tensor) else y[0]
        outputs, length = y.numel(), w[0].numel()
        if spec.binary_inputs(m):
            return self.binary_dots(outputs, length)
        return self.float_dots(outputs, length)


def _plus(count: Count, flops: int) -> Count:
    count.add(cost(flops))
    return count


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
    **dict.fromkeys(
        (
            nn.Conv1d,
            nn.Conv2d,
            nn.Conv3d,
            nn.ConvTranspose1d,
            nn.ConvTranspose2d,
            nn.ConvTranspose3d,
        ),
        "convolution",
    ),
    nn.ReLU: "relu",
}
_STEP_CONTAINERS = (XnorProjector, XnorAgreementUpdate, Routing, DynamicRouting)


def _containers() -> tuple[type, ...]:
    """Modules whose work is their children's: the step containers and every registered
    capsule layer's module (`xncost.core.layers`)."""
    return (*_STEP_CONTAINERS, *(s.module_class() for s in LAYERS.values() if s.is_caps))


class ThopRecorder(StepLedger):
    """Per-step FLOPs, BOPs, MACs and calls collected by the handlers (thop drops
    `total_ops`); `unpriced` lists the layer classes thop would price in its own unit."""

    def __init__(self, root: nn.Module | None = None, conv: Convention | None = None) -> None:
        super().__init__(root, conv or OPS)
        self.unpriced: list[str] = []

    def add(self, module: nn.Module, cost: Count) -> None:
        step = self.step(self.step_name(module))
        step.add(cost)
        step.calls += 1
        step.ops[type(module).__name__] += cost.flops
        self.add_params(step, module)

    def skip(self, module: nn.Module) -> None:
        name = type(module).__name__
        if name not in self.unpriced:
            self.unpriced.append(name)


def _handler(price: Callable[..., Count], word: int, recorder: ThopRecorder | None) -> Callable:
    def handler(m: nn.Module, x: tuple, y: Any) -> None:
        count = price(m, x, y)
        count.word = word
        m.total_ops += count.total
        if recorder is not None:
            recorder.add(m, count)

    handler.__name__ = handler.__qualname__ = f"count_{price.__name__}"
    return handler


def _unpriced(recorder: ThopRecorder | None) -> Callable:
    def count_unpriced(m: nn.Module, x: tuple, y: Any) -> None:
        if recorder is not None:
            recorder.skip(m)

    return count_unpriced


def custom_ops(
    convention: str | Convention = "ops",
    recorder: ThopRecorder | None = None,
    word_bits: int | None = None,
    log: ProductLog | None = None,
) -> dict[type, Callable]:
    """thop `custom_ops` for every capsule/binary step class, nn.Linear, convolutions and
    nn.ReLU, priced by `convention`; with the pre-pass `log` (`product_log`), also every other
    leaf class that ran products, else the declared binary layers (xncost's and
    `register_binary`'s); the other layers thop would price itself are recorded as unpriced
    (see the module docstring).

    Each handler adds FLOPs + BOPs / word to the module's `total_ops` and, with a recorder,
    records FLOPs, BOPs and MACs per step. Containers map to thop's zero rule.
    """
    import importlib

    from thop.vision.basic_hooks import zero_ops

    thop_rules = importlib.import_module("thop.profile").register_hooks
    conv = get_convention(convention, word_bits)
    pricer = _Pricer(conv, log)
    containers = _containers()
    word = conv.word_bits
    unpriced = [t for t, rule in thop_rules.items() if rule is not zero_ops]
    ops: dict[type, Callable] = dict.fromkeys(unpriced, _unpriced(recorder))
    ops.update(
        {cls: _handler(getattr(pricer, name), word, recorder) for cls, name in _HANDLERS.items()}
    )
    if log is None:
        declared = (*BINARY_LAYERS, XnorConv2d, XnorLinear)
        ops.update({cls: _handler(pricer.registered, word, recorder) for cls in declared})
    else:
        ops.update(
            {
                cls: _handler(pricer.products, word, recorder)
                for cls, leaf in log.classes.items()
                if leaf and cls not in _HANDLERS and cls not in containers
            }
        )
    ops.update({cls: zero_ops for cls in containers})
    return ops


@dataclass
class ThopResult:
    """thop's own total (FLOPs + XNOR FLOPs under `convention`, as a float), its parameter
    count, the steps; `flops` is the same total, exact, from the recorder."""

    thop_total: float
    thop_params: float
    recorder: ThopRecorder

    @property
    def flops(self) -> int | Fraction:
        return self.recorder.flops


def thop_count(
    model: nn.Module,
    *inputs: torch.Tensor,
    convention: str | Convention = "ops",
    word_bits: int | None = None,
    prepass: bool = True,
    binary: Any = None,
    detect: bool = DETECT,
) -> ThopResult:
    """Profile one forward pass of `model(*inputs)` with thop and the custom ops above, after
    the engine's pre-pass classified its products (`prepass`; `binary`: `--binary` patterns;
    `detect`: as `CountingEngine`)."""
    import thop

    conv = get_convention(convention, word_bits)
    recorder = ThopRecorder(model, conv)
    log = product_log(model, *inputs, binary=binary, detect=detect) if prepass else None
    ops = custom_ops(conv, recorder, log=log)
    total, params = thop.profile(model, inputs=inputs, custom_ops=ops, verbose=False)
    return ThopResult(float(total), float(params), recorder)


def flop_counter_mapping(convention: str | Convention = "ops") -> dict[Any, Callable]:
    """`custom_mapping` for `torch.utils.flop_counter.FlopCounterMode`: the op rules, priced
    by `convention`.

    FlopCounterMode keeps one int per (module fqn, aten op) and its formulas see the op's
    arguments but not the module running it, so it can count every `ops` FLOP (per module via
    `get_flop_counts()`, cumulative over parents) but cannot express BOPs or which steps are
    binary: +-1 products (registered binary layers included) are counted as float FLOPs
    there. Use `OpCounter` for BOPs.
    """

    conv = get_convention(convention)

    if conv.rules is None:
        raise XncostError(f"the {conv.name} convention has no op rules")

    def wrap(op: str) -> Callable:
        def formula(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
            return int(conv.count(OpEvent.of(op, args, kwargs, out_val)) or 0)

        formula._get_raw = True  # type: ignore[attr-defined]
        return formula

    return counted_ops({op: wrap(op) for op in conv.rules})


def counted_ops(formulas: dict[str, Callable]) -> dict[Any, Callable]:
    """`custom_mapping` keys for formulas by op name: each op's overload packet (which
    FlopCounterMode looks its formula up by) and every overload of it, since FlopCounterMode
    first decomposes an op whose overload it has no key for (`upsample_nearest2d` into index
    arithmetic), and would then count other ops than the counting engine sees."""
    mapping: dict[Any, Callable] = {}
    for op, formula in formulas.items():
        packet = aten_packet(op)
        if packet is not None:
            mapping[packet] = formula
            mapping.update(dict.fromkeys((getattr(packet, o) for o in packet.overloads()), formula))
    return mapping


def aten_packet(op: str) -> Any:
    """The torch overload packet of an op name (`"aten::mm"` -> `torch.ops.aten.mm`), or None
    when this torch has no such op."""
    namespace, _, name = op.partition("::")
    try:
        return getattr(getattr(torch.ops, namespace), name)
    except (AttributeError, RuntimeError):
        return None
