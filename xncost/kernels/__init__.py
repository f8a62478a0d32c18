"""Bit-packed XNOR-popcount kernels (numpy only) and their speed measurement.

`packed`: pack +-1 data into uint64 words and compute exact binary dot products (GEMM,
XnODR's LP_out, XnIDR's agreement). `bench`: time them against float32 matmul next to
Eqs. 9, 12 and 15. `machine`: describe the machine a measurement ran on.
"""

from xncost.kernels.packed import (
    Packed,
    binary_gemm,
    pack_signs,
    unpack_signs,
    xnidr_agreement,
    xnodr_projector,
    xor_dots,
)

__all__ = [
    "Packed",
    "binary_gemm",
    "pack_signs",
    "unpack_signs",
    "xnidr_agreement",
    "xnodr_projector",
    "xor_dots",
]
