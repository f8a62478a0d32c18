"""What a counting convention is (docs/conventions.md): its prices, scope and labels in one
`Convention`, its per-op rules in one `RuleSet`, and the one exact count record, `Count`.

Torch-free. A rule has one signature, `rule(ev: OpEvent, conv: Convention) -> int`: the
FLOPs of one op under `conv`'s prices. `OpEvent` carries the op's qualified name
(`"aten::mm"`), its arguments and output, the module running it and, for a product, its
`DotProducts` (`xncost.conventions.aten`); rules read only shapes and attributes of what
they are given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from typing import Any

from xncost.conventions import aten
from xncost.errors import XncostError
from xncost.exact import ceil_div, is_power_of_two, normalize, ratio

MAX_WORD_BITS = 4096  # wider than any SIMD register; keeps BOPs/word decimals short
LAYER, MODEL = "layer", "model"  # scopes: the analytic layer tables, whole-network summaries
_META = {"meta": True}  # Convention fields that are not prices


def xnor_flops(bops: Any, word: Any) -> Any:
    """BOPs / word: Table 5's "XNOR FLOPs", the BNN literature's BOPs / 64 (exact; symbolic
    for sympy arguments). The one place this rule is written."""
    return ratio(bops, word)


@dataclass
class Count:
    """One exact count record: float and 1-bit MACs, float FLOPs, BOPs and the packed word.

    XNOR FLOPs (`xnor_flops`) and the total FLOPs + XNOR FLOPs (`total`; the `bnn`
    convention's OPs) are derived, never stored."""

    float_macs: int = 0
    binary_macs: int = 0
    flops: int = 0
    bops: int = 0
    word: int = 64

    @property
    def xnor_flops(self) -> int | Fraction:
        return xnor_flops(self.bops, self.word)

    @property
    def total(self) -> int | Fraction:
        """float FLOPs + BOPs / word."""
        return normalize(self.flops + Fraction(self.xnor_flops))

    def add(self, other: Count) -> None:
        """Add `other`'s counts in place (same word)."""
        self.float_macs += other.float_macs
        self.binary_macs += other.binary_macs
        self.flops += other.flops
        self.bops += other.bops


class OpEvent:
    """One aten op as the rules see it: `op` (`"aten::mm"`), `args`, `kwargs`, `out`, the
    innermost running `module` (None outside modules) and `dots`, the op's dot products when
    it is a product (`aten.dot_products`)."""

    __slots__ = ("op", "args", "kwargs", "out", "module", "dots")

    def __init__(
        self, op: str, args: tuple, kwargs: dict, out: Any, module: Any = None, dots: Any = None
    ) -> None:
        self.op, self.args, self.kwargs, self.out = op, args, kwargs, out
        self.module, self.dots = module, dots

    @classmethod
    def of(cls, op: str, args: tuple, kwargs: dict, out: Any, module: Any = None) -> OpEvent:
        """The event of `op`, its dot products computed."""
        return cls(op, args, kwargs, out, module, aten.dot_products(op, args, kwargs, out))

    def arg(self, i: int, name: str, default: Any = None) -> Any:
        return aten.arg(self.args, self.kwargs, i, name, default)

    @property
    def output(self) -> Any:
        """The (first) output tensor."""
        return aten.first_tensor(self.out)

    @property
    def module_type(self) -> str:
        """Qualified class name of the running module (`torch.nn.modules.conv.Conv2d`)."""
        return "" if self.module is None else class_key(type(self.module))


def class_key(cls: type) -> str:
    """`module.QualName` of a class: the key of module-keyed rules."""
    return f"{cls.__module__}.{cls.__qualname__}"


Rule = Callable[[OpEvent, "Convention"], int]


class RuleSet:
    """A convention's rules, keyed by op name (`by="op"`, `"aten::mm"`) or by the class of
    the running module (`by="module"`, `class_key`); one rule per key, duplicates refused
    unless `override=True` (as torch's `register_flop_formula`). `fallback` prices an op no
    key matches; without one such an op is *unknown*: `price` returns None and the counter
    reports it rather than count it as 0."""

    def __init__(self, name: str, by: str = "op", fallback: Rule | None = None) -> None:
        if by not in ("op", "module"):
            raise XncostError(f"rules are keyed by 'op' or 'module', not {by!r}")
        self.name, self.by, self.fallback = name, by, fallback
        self.rules: dict[str, Rule] = {}

    def register(self, *keys: str, override: bool = False) -> Callable[[Rule], Rule]:
        """Decorator: register `rule` for every key (an op name or a `class_key`)."""

        def deco(rule: Rule) -> Rule:
            for key in keys:
                if key in self.rules and not override:
                    raise XncostError(
                        f"{self.name}: a rule for {key} is already registered "
                        "(pass override=True to replace it)"
                    )
            for key in keys:
                self.rules[key] = rule
            return rule

        return deco

    def rule_for(self, key: str) -> Rule | None:
        """The rule of `key`, else the fallback (None: unknown)."""
        return self.rules.get(key, self.fallback)

    def key(self, ev: OpEvent) -> str:
        return ev.op if self.by == "op" else ev.module_type

    def price(self, ev: OpEvent, conv: Convention) -> int | None:
        """FLOPs of `ev` under `conv`, or None when no rule covers it."""
        rule = self.rule_for(self.key(ev))
        return None if rule is None else int(rule(ev, conv))

    def get(self, key: str) -> Rule | None:
        return self.rules.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self.rules

    def __iter__(self) -> Iterator[str]:
        return iter(self.rules)

    def items(self) -> Any:
        return self.rules.items()


OTHERS_TOTAL = (
    "FLOPs + XNOR FLOPs = float FLOPs + BOPs/{word} = {sums} (float FLOPs under `{name}`; "
    "BOPs: {bop_rule}; not the BNN literature's OPs, which `--convention bnn` gives)."
)


@dataclass(frozen=True)
class Convention:
    """One counting convention: per-primitive prices (every price an exact int), its scope
    (`layer`: the analytic tables; `model`: whole-network summaries), labels, and the rules
    that price an aten op under it (`rules`; None for a layer-only convention)."""

    name: str
    description: str
    word_bits: int = 64
    bops_per_word: int = 3
    flops_per_mac: int = 2
    single_mac_flops: int = 2
    binarize_per_element: int = 9
    softmax_per_element: int = 2
    squash_per_element: int = 0
    squash_per_capsule: int = 0
    agreement_add: int = 0
    rescale_per_output: int = 0
    fc_bias: int = 0
    fc_activation: int = 0
    bops_per_binary_mac: int = field(default=0, metadata={"model_price": True})
    scopes: tuple[str, ...] = field(default=(LAYER,), metadata=_META)
    order: int = field(default=100, metadata=_META)  # where it is listed among the others
    option_help: str = field(default="", metadata=_META)
    total_label: str = field(default="FLOPs + XNOR FLOPs", metadata=_META)
    total_text: str = field(default=OTHERS_TOTAL, metadata=_META)
    fixed_word: bool = field(default=False, metadata=_META)
    rules: RuleSet | None = field(default=None, compare=False, repr=False, metadata=_META)

    @classmethod
    def price_fields(cls) -> tuple[str, ...]:
        """The prices the analytic step functions read (every field but the name,
        description, word size, the whole-model BOP price and the metadata)."""
        return tuple(
            f.name
            for f in fields(cls)
            if f.name not in ("name", "description", "word_bits")
            and not f.metadata.get("meta")
            and not f.metadata.get("model_price")
        )

    @classmethod
    def table_fields(cls) -> tuple[str, ...]:
        """The fields of docs/conventions.md's price table: word, prices, BOPs per 1-bit MAC."""
        return ("word_bits", *cls.price_fields(), "bops_per_binary_mac")

    def bops(self, dots: Any, length: Any) -> Any:
        """BOPs of `dots` +-1 dot products of `length`: per packed word and per 1-bit MAC.
        The only place the BOP rule is written."""
        packed = self.bops_per_word * dots * ceil_div(length, self.word_bits)
        if not self.bops_per_binary_mac:
            return packed
        return packed + self.bops_per_binary_mac * dots * length

    def xnor_flops(self, bops: Any) -> Any:
        """BOPs / word (`xnor_flops`)."""
        return xnor_flops(bops, self.word_bits)

    def contraction_flops(self, outputs: Any, length: Any) -> Any:
        """FLOPs of `outputs` float dot products of `length` as torch runs an einsum:
        `flops_per_mac` per multiply-accumulate through bmm, `single_mac_flops` (one `mul`)
        per output when the contracted axis has size 1."""
        return outputs * (self.flops_per_mac * length if length > 1 else self.single_mac_flops)

    def count(self, ev: OpEvent) -> int | None:
        """FLOPs of one float op under this convention's rules (None: no rule covers it)."""
        if self.rules is None:
            raise XncostError(f"the {self.name} convention prices layers only, not aten ops")
        return self.rules.price(ev, self)

    def total_sentence(self, sums: str, bop_rule: str) -> str:
        """The summary's sentence for its total, float FLOPs + BOPs / word."""
        return self.total_text.format(
            word=self.word_bits, sums=sums, name=self.name, bop_rule=bop_rule
        )

    def with_word(self, word_bits: int) -> Convention:
        """The same convention with another word size (a power of two, so BOPs/word is exact)."""
        if not isinstance(word_bits, int) or not is_power_of_two(word_bits):
            raise XncostError(f"word size must be a power of two, got {word_bits!r}")
        if word_bits > MAX_WORD_BITS:
            raise XncostError(f"word size must be at most {MAX_WORD_BITS} bits, got {word_bits}")
        return replace(self, word_bits=word_bits)
