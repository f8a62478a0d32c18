"""Bit-packed XNOR-popcount kernels and their speed measurement.

`packed`: pack +-1 data into uint64 words and compute exact binary dot products (GEMM,
XnODR's LP_out, XnIDR's agreement) with the compiled extension `_xnor` when it was built
(`COMPILED`), else with numpy; both give the same results bit for bit. `bench`: time them
against float32 matmul next to Eqs. 9, 12 and 15. `machine`: describe the machine a
measurement ran on.
"""

from xncost.kernels.packed import (
    COMPILED,
    Packed,
    binary_gemm,
    pack_signs,
    resolve_backend,
    unpack_signs,
    xnidr_agreement,
    xnodr_projector,
    xor_dots,
)

__all__ = [
    "COMPILED",
    "Packed",
    "binary_gemm",
    "pack_signs",
    "resolve_backend",
    "unpack_signs",
    "xnidr_agreement",
    "xnodr_projector",
    "xor_dots",
]
