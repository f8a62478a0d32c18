"""Registries of small per-op (or per-module-type) counting rules, duplicates refused.

Shared by the `ops` rules (`xncost.profile.oprules`), the `tf` and `ptflops` rules
(`xncost.profile.tfrules`, `xncost.profile.ptflopsrules`) and the `bnn` rules: a rule is
registered once per key; registering a key twice raises unless `override=True` (as torch's
`register_flop_formula` does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from xncost.errors import XncostError


class RuleRegistry:
    """Key (aten overload packet or module class) -> rule, one rule per key."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rules: dict[Any, Callable[..., int]] = {}

    def register(self, *keys: Any, override: bool = False) -> Callable[[Callable], Callable]:
        """Decorator: register `rule` for every key; a key already registered raises unless
        `override`."""

        def deco(rule: Callable[..., int]) -> Callable[..., int]:
            for key in keys:
                if key in self.rules and not override:
                    raise XncostError(
                        f"{self.name}: a rule for {_key_name(key)} is already registered "
                        "(pass override=True to replace it)"
                    )
            for key in keys:
                self.rules[key] = rule
            return rule

        return deco

    def get(self, key: Any) -> Callable[..., int] | None:
        return self.rules.get(key)

    def __contains__(self, key: Any) -> bool:
        return key in self.rules

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rules)

    def items(self) -> Any:
        return self.rules.items()


def _key_name(key: Any) -> str:
    return getattr(key, "__name__", None) or str(key)
