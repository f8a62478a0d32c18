"""The ResNet-50 FC head: which flattened map side the printed FLOPs imply (Tables 5, 9, 10)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xncost.core.shapes import RESNET_CHANNELS, RESNET_FC_HIDDEN, SETTINGS, resnet_fc_dims
from xncost.paper.audit.inverse import printed_interval
from xncost.paper.printed import Printed
from xncost.paper.store import printed_lookup
from xncost.paper.tables import fc_flops, keras_resnet50_map_side


@dataclass(frozen=True)
class MapSide:
    """One Table 5 setting: the printed head, the side it implies, the sides ResNet-50 gives."""

    setting: str
    label: str
    printed: Printed
    root: Any  # exact side s solving FLOPs(s) = printed value (sympy)
    lo: int | None
    hi: int | None
    input_side: int
    real: int  # size-keeping stem padding (xncost.core.shapes.resnet50_map_side)
    keras: int  # Keras' ZeroPadding2D layers kept (xncost.paper.tables.keras_resnet50_map_side)

    @property
    def halves(self) -> bool:
        """The implied side is ceil(real / 2): what one more stride-2 stage would give."""
        return self.lo == (self.real + 1) // 2


def fc_flops_expr() -> Any:
    """FLOPs(s) of the 1024-512-10 head on a flattened s x s x 2048 map (sympy)."""
    import sympy as sp

    s = sp.Symbol("s", positive=True)
    return sp.expand(sp.sympify(fc_flops(resnet_fc_dims(s))))  # type: ignore[arg-type]


def side_root(printed: Printed) -> Any:
    """The exact positive s with FLOPs(s) = the printed value, or None."""
    import sympy as sp

    expr = fc_flops_expr()
    s = next(iter(expr.free_symbols))
    roots = [r for r in sp.solve(sp.Eq(expr, sp.Rational(str(printed.value))), s) if r.is_positive]
    return roots[0] if roots else None


def map_sides(table: int = 5) -> list[MapSide]:
    """Every ResNet-50 FC cell of Table `table` (5 or 9) with the side it implies."""
    lookup = printed_lookup(table)
    out = []
    for key, setting in SETTINGS.items():
        printed = lookup[(key, "resnet50", "total_flops")].printed
        lo, hi = printed_interval(lambda k: fc_flops(resnet_fc_dims(k)), printed)
        out.append(
            MapSide(
                key,
                setting.label,
                printed,
                side_root(printed),
                lo,
                hi,
                setting.input_side,
                setting.real_map_side,
                keras_resnet50_map_side(setting.input_side, setting.upsampling),
            )
        )
    return out


def pooled_head_flops() -> int:
    """The head after global average pooling (2048-1024-512-10), what the authors' code does."""
    return fc_flops((RESNET_CHANNELS, *RESNET_FC_HIDDEN))
