"""Declared binary layers: what a layer class says about itself, and what the user declares.

A layer declares itself binary with a class attribute, `xncost_binary = BinaryDeclaration(...)`
(`xncost.nn.declare`; xncost's XNOR layers, XnODR's projector, `SignConv2d` and the capsule
binary steps do). `register_binary(cls, ...)` declares a class you cannot edit, with the same
fields; `BinaryPatterns` declares, from the command line (`--binary PATTERN`) or the API
(`binary=[...]`), modules whose weights were binarized outside their forward pass (by a
training loop or a loader). Whether a product is 1-bit is decided when it runs
(`xncost.profile.detect`); docs/conventions.md, "Binary work", says what a declaration adds.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from xncost.errors import XncostError
from xncost.nn.declare import BinaryDeclaration, ScaleFn

BINARY_LAYERS: dict[type, BinaryDeclaration] = {}  # classes declared by register_binary


def register_binary(
    cls: type | None = None,
    *,
    weights: Sequence[str] = ("weight",),
    scales: ScaleFn | None = None,
    binary_inputs: Any = True,
    override: bool = False,
) -> Any:
    """Declare a binary layer class (one call; or `@register_binary` as a decorator).

    The parameters named in `weights` (dotted names inside the layer; `()` for binary
    activations only) are stored at 1 bit plus `scales(module, name, param)` 32-bit scales
    (default: one per output channel of the weight as its product uses it); products inside
    an instance count as 1-bit when their operands are binary up to scale, from provenance or
    from their values alone. `binary_inputs` (a bool, or a function of the instance) tells
    the thop path, when it runs without the engine's pre-pass, whether the layer's product is
    1-bit (XNOR) or has a real operand (BWN). A class registered (or declared) twice raises
    unless `override=True`.
    """

    def do(c: type) -> type:
        if not isinstance(c, type) or not issubclass(c, nn.Module):
            raise XncostError(f"register_binary needs an nn.Module subclass, got {c!r}")
        if isinstance(weights, str):
            raise XncostError("weights must be a sequence of parameter names, not a string")
        if (c in BINARY_LAYERS or "xncost_binary" in vars(c)) and not override:
            raise XncostError(
                f"{c.__name__} is already registered as binary (pass override=True to replace it)"
            )
        BINARY_LAYERS[c] = BinaryDeclaration(tuple(weights), scales, binary_inputs)
        return c

    return do if cls is None else do(cls)


def declaration(module: nn.Module | None) -> BinaryDeclaration | None:
    """The binary declaration of a module: registered for its class, else its class
    attribute `xncost_binary` (inherited by subclasses, as a larq quantizer is)."""
    if module is None:
        return None
    cls = type(module)
    found = BINARY_LAYERS.get(cls)
    if found is None:
        found = getattr(cls, "xncost_binary", None)
    return found if isinstance(found, BinaryDeclaration) else None


def declared_weights(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, parameter) of every weight a module declares binary."""
    spec = declaration(module)
    out = []
    for name in spec.weights if spec else ():
        try:
            out.append((name, module.get_parameter(name)))
        except AttributeError:
            raise XncostError(
                f"binary layer {type(module).__name__} has no parameter {name!r}"
            ) from None
    return out


@dataclass(frozen=True)
class BinaryPatterns:
    """Modules declared binary by pattern (`--binary`): a pattern is a module class name
    (`BinConv2d`) or an fnmatch pattern on qualified module names (`features.*.conv`). The
    weights (parameters of 2 or more dimensions) of a matched module and of its submodules
    count as binary up to scale, one 32-bit scale per output channel."""

    patterns: tuple[str, ...] = ()

    @classmethod
    def of(cls, patterns: Iterable[str] | str | None) -> BinaryPatterns:
        if patterns is None:
            return cls()
        if isinstance(patterns, str):
            patterns = (patterns,)
        out = tuple(patterns)
        for p in out:
            if not isinstance(p, str) or not p.strip():
                raise XncostError(
                    f"--binary takes a class name or a module name pattern, got {p!r}"
                )
        return cls(out)

    def matches(self, name: str, module: nn.Module, patterns: tuple[str, ...] = ()) -> bool:
        """Whether the module `name` matches one of `patterns` (default: all)."""
        cls = type(module).__name__
        return any(p == cls or fnmatch.fnmatchcase(name, p) for p in patterns or self.patterns)

    def weights(self, root: nn.Module) -> dict[int, str]:
        """id(param) -> qualified name of every weight under a matched module; a pattern that
        matches no module raises (a typo would otherwise count nothing)."""
        out: dict[int, str] = {}
        used: set[str] = set()
        for name, m in root.named_modules():
            hit = [p for p in self.patterns if self.matches(name, m, (p,))]
            if not hit:
                continue
            used.update(hit)
            for pname, p in m.named_parameters(prefix=name):
                if p.dim() >= 2:
                    out.setdefault(id(p), pname)
        missing = [p for p in self.patterns if p not in used]
        if missing:
            raise XncostError(
                f"--binary {missing[0]!r} matches no module of the model (a class name, or a "
                "pattern on qualified module names such as 'features.*.conv')"
            )
        return out


def suggested_patterns(
    root: nn.Module, targets: Iterable[str], others: Collection[str]
) -> tuple[str, ...]:
    """The `--binary` patterns that would declare the weights of the summary rows `targets`
    (products with binary inputs and real weights) and of nothing else: per target row
    whose module holds a weight (a parameter of 2 or more dimensions), the first pattern
    that matches no module around a row of `others` (other float work) nor holding a weight
    outside the target rows: the class name of its module, of the modules around it
    (nearest first), `*.NAME` for its attribute name, else its qualified name."""
    modules = dict(root.named_modules())
    targets, others = list(dict.fromkeys(targets)), set(others)
    rows = [*targets, *others]
    holders = [n for n, m in modules.items() if any(p.dim() >= 2 for p in m.parameters(False))]

    def inside(name: str, row: str) -> bool:
        return not row or name == row or name.startswith(row + ".")

    def clean(name: str) -> bool:
        """Module `name` holds no row of `others` and no weight outside the target rows."""
        around = [r for r in rows if inside(r, name)] or [r for r in rows if inside(name, r)]
        if any(r in others for r in around):
            return False
        return all(any(inside(h, t) for t in targets) for h in holders if inside(h, name))

    verdict: dict[str, bool] = {}

    def fits(pattern: str) -> bool:
        if pattern not in verdict:
            match = BinaryPatterns((pattern,)).matches
            verdict[pattern] = all(clean(n) for n, m in modules.items() if match(n, m))
        return verdict[pattern]

    out: dict[str, None] = {}
    for row in targets:
        if row not in modules or not any(inside(h, row) for h in holders):
            continue
        parts = row.split(".")
        around = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
        candidates = [type(modules[n]).__name__ for n in around]
        candidates += [f"*.{parts[-1]}" if len(parts) > 1 else parts[-1], row]
        out[next((c for c in candidates if fits(c)), row)] = None
    return tuple(out)


__all__ = [
    "BINARY_LAYERS",
    "BinaryDeclaration",
    "BinaryPatterns",
    "declaration",
    "declared_weights",
    "register_binary",
    "suggested_patterns",
]
