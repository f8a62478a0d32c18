"""Interpolation (`F.interpolate`, `nn.Upsample`): the aten ops it runs and how many input
elements each of them weighs (no prices; torch-free: it reads shapes and arguments).

Every mode of `F.interpolate` but `area` (an adaptive average pooling) runs one `upsample_*`
op. torch's CPU kernels (aten/src/ATen/native/cpu/UpSampleKernel.cpp) compute each output
element as a weighted sum of `taps` input elements per interpolated dimension: nearest and
nearest-exact copy one element (no weight), linear, bilinear and trilinear weigh 2 per
dimension, bicubic 4. With `antialias=True` the kernel is separable: one pass per resized
dimension, the last first, each output of a pass weighing the input elements within the
filter's support around its centre (support = taps/2, times the scale when downsampling),
clipped to the input (`_compute_indices_min_size_weights_aa`, computed here in exact
arithmetic, where the kernel rounds in float).
`weighted_taps` is the total over every output (and every pass): the length of the weighted
sums an op computes, which the conventions price (docs/conventions.md, "Interpolation").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from xncost.conventions.aten import arg


@dataclass(frozen=True)
class Interpolation:
    """An upsample op: `dims` interpolated dimensions (the last ones), `taps` input elements
    weighed per dimension (1: a copy), `antialias` for the separable kernel."""

    dims: int
    taps: int
    antialias: bool = False


def _ops(names: str, dims: int, taps: int, antialias: bool = False) -> dict[str, Interpolation]:
    return {f"aten::{n}": Interpolation(dims, taps, antialias) for n in names.split()}


INTERPOLATIONS: dict[str, Interpolation] = {
    **_ops("upsample_nearest1d _upsample_nearest_exact1d", 1, 1),
    **_ops("upsample_nearest2d _upsample_nearest_exact2d", 2, 1),
    **_ops("upsample_nearest3d _upsample_nearest_exact3d", 3, 1),
    **_ops("upsample_linear1d", 1, 2),
    **_ops("upsample_bilinear2d", 2, 2),
    **_ops("upsample_trilinear3d", 3, 2),
    **_ops("upsample_bicubic2d", 2, 4),
    **_ops("_upsample_bilinear2d_aa", 2, 2, antialias=True),
    **_ops("_upsample_bicubic2d_aa", 2, 4, antialias=True),
}
UPSAMPLE_OPS: tuple[str, ...] = tuple(INTERPOLATIONS)


def _scales(args: tuple, kwargs: dict, dims: int) -> list[Any]:
    """The scale factors passed to the op (None where not given): `scales_*` after
    `align_corners`, or the `.vec` overload's list."""
    rest = args[3:] if len(args) > 3 else ()
    if rest and isinstance(rest[0], (list, tuple)):
        return list(rest[0])
    if not rest and isinstance(kwargs.get("scale_factors"), (list, tuple)):
        return list(kwargs["scale_factors"])
    named = ("scales_d", "scales_h", "scales_w")[3 - dims :] if dims > 1 else ("scales",)
    return [arg(args, kwargs, 3 + i, name) for i, name in enumerate(named)]


def _scale(size: int, out: int, align_corners: bool, factor: Any) -> Fraction:
    """The kernel's input-per-output step (`area_pixel_compute_scale`), exactly."""
    if align_corners:
        return Fraction(size - 1, out - 1) if out > 1 else Fraction(0)
    if factor is not None and factor > 0:
        return 1 / Fraction(factor)
    return Fraction(size, out)


def window_taps(size: int, out: int, taps: int, scale: Fraction) -> int:
    """Input elements the antialiased kernel weighs for all `out` outputs of one pass
    (`_compute_indices_min_size_weights_aa`: the support around each output's centre,
    clipped to the `size` inputs)."""
    support = Fraction(taps, 2) * (scale if scale >= 1 else 1)
    widest = math.ceil(support) * 2 + 1
    total = 0
    for i in range(out):
        centre = scale * (2 * i + 1) / 2
        low = max(int(centre - support + Fraction(1, 2)), 0)
        high = min(int(centre + support + Fraction(1, 2)), size)
        total += min(max(high - low, 0), widest)
    return total


def weighted_taps(op: str, args: tuple, kwargs: dict, out: Any) -> int:
    """Input elements weighed, summed over every output element of the upsample op `op`
    (module docstring): 0 for a nearest copy, `taps ** dims` per output element, or the
    antialiased kernel's windows pass by pass."""
    spec = INTERPOLATIONS[op]
    if spec.taps == 1:
        return 0
    if not spec.antialias:
        return spec.taps**spec.dims * out.numel()
    x = args[0]
    shape, out_shape = list(x.shape), list(out.shape)
    align = bool(arg(args, kwargs, 2, "align_corners", False))
    factors = _scales(args, kwargs, spec.dims)
    total = 0
    for d in reversed(range(spec.dims)):  # the last dimension first, as the kernel runs
        axis = len(shape) - spec.dims + d
        size, size_out = int(shape[axis]), int(out_shape[axis])
        if size == size_out:
            continue
        factor = factors[d] if d < len(factors) else None
        per_line = window_taps(size, size_out, spec.taps, _scale(size, size_out, align, factor))
        shape[axis] = size_out
        total += per_line * (math.prod(shape) // size_out)
    return total
