"""Reference PyTorch layers (torch-only part of xncost).

Every step of the paper's Tables 2 and 3 is its own small submodule so that module-level
profilers (thop) and the dispatch-level counter can attribute work to steps.
"""

from xncost.nn.binarize import Binarize, binarize, sign_ste
from xncost.nn.capsule import (
    AgreementUpdate,
    DynamicRouting,
    LinearProjector,
    Routing,
    Softmax,
    Squash,
    WeightedSum,
    XnBDR,
    XnIDR,
    XnODR,
    XnorAgreementUpdate,
    XnorProjector,
    squash,
    use_packed,
)
from xncost.nn.xnor import XnorConv2d, XnorLinear

__all__ = [
    "AgreementUpdate",
    "Binarize",
    "DynamicRouting",
    "LinearProjector",
    "Routing",
    "Softmax",
    "Squash",
    "WeightedSum",
    "XnBDR",
    "XnIDR",
    "XnODR",
    "XnorAgreementUpdate",
    "XnorConv2d",
    "XnorLinear",
    "XnorProjector",
    "binarize",
    "sign_ste",
    "squash",
    "use_packed",
]
