"""The inputs of a whole-network summary: shapes parsed and checked before anything is
allocated, example tensors drawn, and the fixed seed models are built and run under (so the
same summary gives the same figures in every run; docs/conventions.md, "Binary work")."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from xncost.errors import XncostError

SEED = 0  # models are built, inputs drawn and forward passes run under this seed
MAX_INPUT_ELEMENTS = 2**26  # the largest input a summary builds (256 MiB of float32)
MAX_ACTIVATION_BYTES = 2**32  # activations of one forward pass a summary may allocate


def check_input_shape(shape: tuple, model: nn.Module | None = None) -> tuple[int, ...]:
    """Refuse an input shape before anything is allocated: positive ints, at most
    `MAX_INPUT_ELEMENTS` elements, and (with a model) activations estimated from the widest
    layer below `MAX_ACTIVATION_BYTES` (one clear error; a first look, before the inputs are
    drawn: the forward pass is bounded op by op, `xncost.profile.memory_bound`)."""
    if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in shape):
        raise XncostError(f"input shape must be positive integers, got {shape!r}")
    n = math.prod(shape)
    if n > MAX_INPUT_ELEMENTS:
        raise XncostError(
            f"input {'x'.join(map(str, shape))} has {n:,} elements (limit "
            f"{MAX_INPUT_ELEMENTS:,}); use a smaller batch or image"
        )
    if model is not None and len(shape) == 4:
        widest = max((_out_channels(m) for m in model.modules()), default=0)
        batch, channels, h, w = shape
        estimate = 4 * batch * max(widest, channels) * h * w
        if estimate >= MAX_ACTIVATION_BYTES:
            raise XncostError(
                f"input {'x'.join(map(str, shape))} needs about {estimate:,} bytes for one "
                f"activation of the widest layer ({max(widest, channels):,} channels at full "
                f"resolution; limit {MAX_ACTIVATION_BYTES:,}); use a smaller batch or image"
            )
    return tuple(shape)


def _out_channels(m: nn.Module) -> int:
    """`m.out_channels` when it is an int, else 0 (a user's module may hold anything there)."""
    try:
        c = getattr(m, "out_channels", 0)
    except Exception:
        return 0
    return c if isinstance(c, int) and not isinstance(c, bool) else 0


def parse_input_shape(text: str) -> tuple[int, ...]:
    """'1x3x32x32' -> (1, 3, 32, 32); every entry a positive integer."""
    parts = text.lower().replace("×", "x").strip().split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise XncostError(f"--input must look like 1x3x32x32, got {text!r}") from None
    if not shape or any(d <= 0 for d in shape):
        raise XncostError(f"--input sizes must be positive integers, got {text!r}")
    return shape


def parse_input_shapes(text: str) -> tuple[tuple[int, ...], ...]:
    """'1x3x32x32,1x10' -> ((1, 3, 32, 32), (1, 10)): one shape per model input."""
    shapes = tuple(parse_input_shape(part) for part in text.split(","))
    total = sum(math.prod(s) for s in shapes)
    if total > MAX_INPUT_ELEMENTS:
        raise XncostError(
            f"--input {text} has {total:,} elements together (limit {MAX_INPUT_ELEMENTS:,}); "
            "use a smaller batch or image"
        )
    return shapes


@contextmanager
def fixed_seed(seed: int = SEED) -> Iterator[None]:
    """Within the block torch, numpy and random are seeded with `seed`; the caller's RNG
    states are restored after."""
    import numpy as np

    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def _is_shape(x: Any) -> bool:
    return isinstance(x, (tuple, list, torch.Size)) and all(
        isinstance(d, int) and not isinstance(d, bool) for d in x
    )


def example_inputs(example: Any, model: nn.Module) -> list[torch.Tensor]:
    """The example inputs: a tensor, a shape (batch first, N(0, 1) from the seed), or a list
    of them (one per model argument)."""
    if isinstance(example, torch.Tensor) or _is_shape(example):
        items = [example]
    elif isinstance(example, (tuple, list)) and example:
        items = list(example)
    else:
        raise XncostError(f"summary needs an input shape or tensor, got {example!r}")
    if not all(isinstance(x, (torch.Tensor, tuple, list, torch.Size)) for x in items):
        # a flat tuple that is not all ints is one bad shape, not a list of inputs
        raise XncostError(f"input shape must be positive integers, got {example!r}")
    shapes = [tuple(x) for x in items if not isinstance(x, torch.Tensor)]
    for shape in shapes:
        if not _is_shape(shape):
            raise XncostError(f"input shape must be positive integers, got {shape!r}")
        check_input_shape(shape, model)
    if sum(math.prod(s) for s in shapes) > MAX_INPUT_ELEMENTS:
        raise XncostError(f"inputs have more than {MAX_INPUT_ELEMENTS:,} elements together")
    g = torch.Generator().manual_seed(SEED)
    return [x if isinstance(x, torch.Tensor) else torch.randn(tuple(x), generator=g) for x in items]
