"""The four counting paths on one model, side by side (docs/conventions.md, "Counting paths").

- `thop`: thop with `custom_ops` (`xncost.profile.thop_ops`): module hooks, one unit (FLOPs
  under the convention); sees module inputs and outputs, and which products are 1-bit from
  the counting engine's pre-pass; a layer's inner binarization and rescale are not seen;
  batch norm, average pooling and other layers thop would price in its own unit are left out.
- `flop_counter`: torch's `FlopCounterMode` with `flop_counter_mapping` (the op rules): every
  aten op, but no module and no provenance, so 1-bit products are counted as float MACs and
  FLOPs.
- `dispatch`: `OpCounter`: the counting engine, per step.
- `summary`: the whole-network summary (`LayerCounter`): the counting engine, per layer,
  under every whole-network convention at once.

`count_paths` returns, per path, float MACs, 1-bit MACs, FLOPs and BOPs under `ops`, and the
`bnn` OPs; a value a path cannot produce is None.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from xncost.conventions import BNN, OPS, Count
from xncost.conventions.aten import PRODUCTS, dot_products
from xncost.profile.dispatch import count_ops
from xncost.profile.summary import fixed_seed, summary
from xncost.profile.thop_ops import counted_ops, flop_counter_mapping, thop_count

PATHS = ("thop", "flop_counter", "dispatch", "summary")
KEYS = ("float_macs", "binary_macs", "flops", "bops", "bnn_ops")


def _bnn_ops(float_macs: int, binary_macs: int) -> Any:
    """The BNN literature's OPs from MACs alone: FLOPs = float MACs, BOPs = 1-bit MACs."""
    flops = BNN.flops_per_mac * float_macs
    return Count(float_macs, binary_macs, flops, BNN.bops(binary_macs, 1), BNN.word_bits).total


def _macs_mapping() -> dict[Any, Any]:
    """FlopCounterMode mapping that counts the MACs of every product op."""

    def bind(op: str) -> Any:
        def f(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
            return dot_products(op, args, kwargs, out_val).macs

        f._get_raw = True  # type: ignore[attr-defined]
        return f

    return counted_ops({op: bind(op) for op in PRODUCTS})  # the fused ops' products too


def _flop_counter(model: nn.Module, xs: tuple, mapping: dict[Any, Any]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=mapping) as fcm:
        model(*xs)
    return int(fcm.get_total_flops())


def count_paths(
    model: nn.Module, x: torch.Tensor | tuple[torch.Tensor, ...], binary: Any = None
) -> dict[str, dict[str, Any]]:
    """One forward pass of `model(x)` (or `model(*x)`) per path, each under the summary's
    fixed seed; per path the figures of `KEYS` (None where the path cannot see them).
    `binary`: `--binary` patterns, for the paths that take declarations."""
    xs = x if isinstance(x, tuple) else (x,)
    was_training = model.training
    model.eval()
    try:
        with fixed_seed():
            th = thop_count(model, *xs, convention=OPS, binary=binary).recorder
        with fixed_seed():
            fc_flops = _flop_counter(model, xs, flop_counter_mapping(OPS))
        with fixed_seed():
            fc_macs = _flop_counter(model, xs, _macs_mapping())
        with fixed_seed():
            op = count_ops(model, *xs, conv=OPS, binary=binary)
    finally:
        model.train(was_training)
    s = summary(model, list(xs), convention="ops", binary=binary)
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
