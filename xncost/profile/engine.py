"""The one dispatch-level counting engine: every aten op of a forward pass, the module running
it, its provenance, whether it is a 1-bit product, and its price under every convention given
(docs/architecture.md, "The measurement wing").

`ModuleDispatch` is a context manager around a `TorchDispatchMode` plus global module forward
hooks that keeps the stack of running modules and calls `enter(module)`, `exit(module, out)`
and `op(func, args, kwargs, out)`. `CountingEngine` implements `op` once for every counter:
it updates the provenance of the op's outputs (`xncost.profile.provenance`), classifies a
product (`xncost.profile.detect`), prices the op under each convention by that convention's
rules (a 1-bit product in BOPs, `Convention.bops`; anything else in FLOPs, `Convention.count`)
and hands the result, one `Count` per convention, to `record`. It names no convention.
Counters (`OpCounter`: steps of one convention; the summary's `LayerCounter`: rows under every
whole-model convention) only say where a result goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from torch.utils._python_dispatch import TorchDispatchMode

from xncost.conventions import Convention, Count, OpEvent, aten
from xncost.profile.binary import BinaryPatterns, declaration
from xncost.profile.detect import BINARY, ONE_BIT, Detector, Product
from xncost.profile.provenance import Provenance, key_of

GLOBAL = "(global)"
DETECT = True  # automatic 1-bit detection, on by default
LENGTH_ONE = "aten::mul"  # einsum's lowering of a contraction of length 1


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

    def enter(self, module: nn.Module) -> None:
        """Called before a module's forward (after it is pushed on `stack`)."""

    def exit(self, module: nn.Module, out: Any) -> None:
        """Called after a module's forward (before it is popped from `stack`)."""

    def op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        """Called for every aten op executed."""

    def start(self) -> None:
        """Called once when the context is entered."""

    def finish(self) -> None:
        """Called once when the context exits."""

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
        self.start()
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


@dataclass(frozen=True)
class OpInfo:
    """What the engine needs to know of an aten overload (cached per overload)."""

    name: str
    display: str
    mutable: bool
    product: bool


@dataclass(frozen=True)
class OpResult:
    """One op as counted: its event and `info`, its classified `products` (one per dot-product
    part; none for other ops), one `Count` per convention, and the conventions that have no
    rule for it (`unknown`)."""

    ev: OpEvent
    info: OpInfo
    products: tuple[Product, ...]
    counts: dict[str, Count]
    unknown: tuple[str, ...]

    @property
    def one_bit(self) -> tuple[Product, ...]:
        return tuple(p for p in self.products if p.kind == ONE_BIT)


@dataclass(frozen=True)
class WeightUse:
    """A parameter found binary in a product: its 32-bit `scales` (distinct scale groups seen)
    and `channels` (output channels of the weight as the product uses it)."""

    scales: int
    channels: int


class CountingEngine(ModuleDispatch):
    """Counts one forward pass under `conventions` (see the module docstring).

    `root` (optional) is the model: its parameters and buffers are the static tensors, its
    modules matched by `binary` (`BinaryPatterns`, `--binary`) declare their weights binary.
    `detect` False: only declared layers' products can be 1-bit (`Detector`).
    After the context: `products` (every classified product, with its module), `binary_weights`
    (id(param) -> `WeightUse`), `sign_zeros`, `binarizations` (origin -> sign-like ops run).
    """

    def __init__(
        self,
        root: nn.Module | None,
        conventions: Sequence[Convention],
        binary: BinaryPatterns | Iterable[str] | str | None = None,
        detect: bool = DETECT,
    ) -> None:
        super().__init__()
        self.root = root
        self.detect = detect
        self.conventions = tuple(conventions)
        self.patterns = binary if isinstance(binary, BinaryPatterns) else BinaryPatterns.of(binary)
        self.products: list[tuple[nn.Module | None, Product]] = []
        self.binary_weights: dict[int, WeightUse] = {}
        self.forced_weights: dict[int, str] = {}
        self._info: dict[Any, OpInfo] = {}
        self._declared: set[int] = set()
        self._uses: dict[int, WeightUse] = {}
        self.provenance = Provenance({})
        self.detector = Detector(self.provenance)

    # ------------------------------------------------------------------ set-up

    def start(self) -> None:
        statics: dict[tuple, frozenset[int]] = {}
        forced: set[int] = set()
        if self.root is not None:
            self.forced_weights = self.patterns.weights(self.root) if self.patterns.patterns else {}
            for name, m in self.root.named_modules():
                if declaration(m) is not None or (
                    self.patterns.patterns and self.patterns.matches(name, m)
                ):
                    self._declared.add(id(m))
            tensors = list(self.root.parameters()) + list(self.root.buffers())
            for t in tensors:
                k = key_of(t)
                if k is not None:
                    statics[k] = frozenset({k[0]})
                    if id(t) in self.forced_weights:
                        forced.add(k[0])
        self.provenance = Provenance(statics)
        self.detector = Detector(self.provenance, frozenset(forced), self.detect)

    def finish(self) -> None:
        """Charge binary weights to the parameters they live in or were computed from."""
        if self.root is None:
            return
        for p in self.root.parameters():
            k = key_of(p)
            if k is None:
                continue
            use = self._uses.get(k[0])
            if use is not None:
                self.binary_weights[id(p)] = use

    @property
    def sign_zeros(self) -> int:
        return self.detector.sign_zeros

    @property
    def binarizations(self) -> dict[str, int]:
        return dict(self.provenance.binarizations)

    def op_info(self, func: Any) -> OpInfo:
        info = self._info.get(func)
        if info is None:
            packet = getattr(func, "overloadpacket", func)
            name = getattr(packet, "_qualified_op_name", str(packet))
            schema = getattr(func, "_schema", None)
            mutable = bool(getattr(schema, "is_mutable", False))
            info = OpInfo(name, aten.display_name(name), mutable, name in aten.PRODUCTS)
            self._info[func] = info
        return info

    # ------------------------------------------------------------------ per op

    def in_declared(self) -> bool:
        """Inside a declared binary layer or a module matched by `--binary`."""
        return any(id(m) in self._declared for m, _ in self.stack)

    def op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        info = self.op_info(func)
        module = self.stack[-1][0] if self.stack else None
        dots = aten.dot_products(info.name, args, kwargs, out) if info.product else None
        products: tuple[Product, ...] = ()
        if dots is not None:
            declared = self.in_declared()
            parts = aten.parts_of(dots)
            products = tuple(self.detector.product(info.name, d, declared) for d in parts)
        elif info.name == LENGTH_ONE and len(args) == 2:
            products = self._length_one(module, args, out)
        self.provenance.update(info.name, info.mutable, args, kwargs, out)
        for product in products:
            self.products.append((module, product))
            self._charge(product)
        binary = [i for i, p in enumerate(products) if p.kind == ONE_BIT]
        if binary and dots is not None:
            dots = dots.without(binary)  # the rules price what is not 1-bit (a bias too)
        ev = OpEvent(info.name, args, kwargs, out, module, dots)
        self.record(OpResult(ev, info, products, *self.price(ev, products)))

    def _length_one(self, module: nn.Module | None, args: tuple, out: Any) -> tuple[Product, ...]:
        """In a binary step, an element-wise product of two binary operands is a dot product
        of length 1 (einsum over an axis of size 1)."""
        spec = declaration(module)
        if spec is None or not spec.step or not all(isinstance(a, torch.Tensor) for a in args):
            return ()
        every = tuple(range(-args[0].dim(), 0)) if args[0].dim() else ()
        dots = aten.DotProducts(out.numel(), 1, 0, args[0], args[1], every, every)
        product = self.detector.product(LENGTH_ONE, dots, True)
        return (product,) if product.kind == ONE_BIT else ()

    def _charge(self, product: Product) -> None:
        """Remember which storages hold binary weights (operands computed from the weights
        alone), with the most scales any product saw."""
        for operand in (product.weight, product.input):
            if not operand.static or operand.state != BINARY:
                continue
            use = WeightUse(operand.scales, operand.slices)
            for ptr in operand.ptrs:
                old = self._uses.get(ptr)
                if old is None or use.scales > old.scales:
                    self._uses[ptr] = use

    def price(
        self, ev: OpEvent, products: tuple[Product, ...]
    ) -> tuple[dict[str, Count], tuple[str, ...]]:
        """One `Count` per convention (1-bit products in BOPs, the rest of the op by the
        convention's rules); the conventions that have no rule for the op."""
        binary = [p for p in products if p.kind == ONE_BIT]
        if binary and ev.dots is None:  # a length-1 product (an element-wise mul), all 1-bit
            return {c.name: self._binary(c, binary) for c in self.conventions}, ()
        counts: dict[str, Count] = {}
        unknown = []
        macs = 0 if ev.dots is None else ev.dots.macs
        for c in self.conventions:
            flops = c.count(ev)
            if flops is None:
                unknown.append(c.name)
                flops = 0
            count = Count(float_macs=macs, flops=flops, word=c.word_bits)
            count.add(self._binary(c, binary))
            counts[c.name] = count
        return counts, tuple(unknown)

    @staticmethod
    def _binary(conv: Convention, products: list[Product]) -> Count:
        """1-bit products priced in BOPs by `conv`."""
        return Count(
            binary_macs=sum(p.macs for p in products),
            bops=sum(conv.bops(p.count, p.length) for p in products),
            word=conv.word_bits,
        )

    def record(self, result: OpResult) -> None:
        """Where a counter puts one op's result."""


__all__ = [
    "DETECT",
    "GLOBAL",
    "CountingEngine",
    "ModuleDispatch",
    "OpInfo",
    "OpResult",
    "WeightUse",
]
