"""Measured counts of the reference layers: thop custom ops and a dispatch-level op counter.

Importing this package imports torch (and `thop_ops` imports thop lazily when profiling).
"""

from xncost.profile.dispatch import OpCounter, StepCount, count_ops
from xncost.profile.measure import Measured, build_layer, measure_layer
from xncost.profile.thop_ops import (
    ThopRecorder,
    ThopResult,
    custom_ops,
    flop_counter_mapping,
    thop_count,
)

__all__ = [
    "Measured",
    "OpCounter",
    "StepCount",
    "ThopRecorder",
    "ThopResult",
    "build_layer",
    "count_ops",
    "custom_ops",
    "flop_counter_mapping",
    "measure_layer",
    "thop_count",
]
