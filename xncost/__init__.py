"""xncost: exact analytical costs of XnODR, XnIDR, dynamic routing and XNOR-Net layers.

>>> import xncost
>>> xncost.cost("xnodr", caps_in=160).totals["flops"]
2225200

`xncost.summary(model, input_shape, convention="bnn")` profiles a whole PyTorch model
(`xncost.profile.summary.summary`; imported on first use, so `import xncost` stays
torch-free).
"""

from typing import Any

from xncost.accounting import Breakdown, Step, breakdown
from xncost.api import cost, table
from xncost.conventions import CONVENTIONS, OPS, PAPER, Convention, get_convention
from xncost.errors import XncostError
from xncost.shapes import CAPS_PRESETS, SETTINGS, CapsShape, FCShape

__version__ = "0.1.0"



def __getattr__(name: str) -> Any:
    if name == "summary":
        from xncost.profile.summary import summary

        return summary
    raise AttributeError(f"module 'xncost' has no attribute {name!r}")


__all__ = [
    "Breakdown",
    "CAPS_PRESETS",
    "CONVENTIONS",
    "CapsShape",
    "Convention",
    "FCShape",
    "OPS",
    "PAPER",
    "SETTINGS",
    "Step",
    "XncostError",
    "breakdown",
    "cost",
    "get_convention",
    "summary",
    "table",
]
