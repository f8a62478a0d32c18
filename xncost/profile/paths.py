"""The four counting paths on one model, side by side (docs/conventions.md, "Counting paths").

- `thop`: thop with `custom_ops` (`xncost.profile.thop_ops`): module hooks, one unit (FLOPs
  under the convention); sees module inputs and outputs, so registered binary layers are
  priced from their declaration and their inner binarization and rescale are not seen; batch
  norm, average pooling and other layers thop would price in its own unit are left out.
- `flop_counter`: torch's `FlopCounterMode` with `flop_counter_mapping` (the op rules): every
  aten op, but no module, so 1-bit products are counted as float MACs and FLOPs.
- `dispatch`: `OpCounter`: every aten op and its module, +-1 operands checked at run time.
- `summary`: the whole-network summary (`LayerCounter`): what `dispatch` sees, per layer,
  under every whole-network convention at once.

`count_paths` returns, per path, float MACs, 1-bit MACs, FLOPs and BOPs under `ops`, and the
`bnn` OPs; a value a path cannot produce is None.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import torch
from torch import nn

from xncost.conventions import BNN, OPS
from xncost.exact import normalize
from xncost.profile import oprules
from xncost.profile.dispatch import count_ops
from xncost.profile.summary import summary
from xncost.profile.thop_ops import flop_counter_mapping, thop_count

PATHS = ("thop", "flop_counter", "dispatch", "summary")
KEYS = ("float_macs", "binary_macs", "flops", "bops", "bnn_ops")


def _bnn_ops(float_macs: int, binary_macs: int) -> int | Fraction:
    """The BNN literature's OPs from MACs alone: FLOPs = float MACs, BOPs = 1-bit MACs."""
    flops = BNN.flops_per_mac * float_macs
    return normalize(flops + Fraction(BNN.xnor_flops(binary_macs * BNN.bops_per_binary_mac)))


def _macs_mapping() -> dict[Any, Any]:
    """FlopCounterMode mapping that counts the MACs of every product op."""

    def formula(*args: Any, out_val: Any = None, _packet: Any = None, **kwargs: Any) -> int:
        return oprules.dot_products(_packet, args, kwargs, out_val).macs

    def bind(packet: Any) -> Any:
        def f(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
            return formula(*args, out_val=out_val, _packet=packet, **kwargs)

        f._get_raw = True  # type: ignore[attr-defined]
        return f

    return {p: bind(p) for p in oprules.PRODUCT_OPS}


def _flop_counter(model: nn.Module, x: torch.Tensor, mapping: dict[Any, Any]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=mapping) as fcm:
        model(x)
    return int(fcm.get_total_flops())


def count_paths(model: nn.Module, x: torch.Tensor) -> dict[str, dict[str, Any]]:
    """One forward pass of `model(x)` per path; per path the figures of `KEYS` (None where
    the path cannot see them)."""
    was_training = model.training
    model.eval()
    try:
        th = thop_count(model, x, convention=OPS).recorder
        fc_flops = _flop_counter(model, x, flop_counter_mapping(OPS))
        fc_macs = _flop_counter(model, x, _macs_mapping())
        op = count_ops(model, x, conv=OPS)
    finally:
        model.train(was_training)
    s = summary(model, x, convention="ops")
    t = s.totals
    out = {
        "thop": {
            "float_macs": th.float_macs,
            "binary_macs": th.binary_macs,
            "flops": th.float_flops,
            "bops": th.bops,
        },
        "flop_counter": {
            "float_macs": None,
            "binary_macs": None,
            "all_macs": fc_macs,
            "flops": fc_flops,
            "bops": None,
        },
        "dispatch": {
            "float_macs": op.float_macs,
            "binary_macs": op.binary_macs,
            "flops": op.float_flops,
            "bops": op.bops,
        },
        "summary": {
            "float_macs": t["float_macs"],
            "binary_macs": t["binary_macs"],
            "flops": t["float_flops"],
            "bops": t["bops"],
        },
    }
    for row in out.values():
        fm, bm = row["float_macs"], row["binary_macs"]
        row["bnn_ops"] = None if fm is None else _bnn_ops(fm, bm)
    return out
