"""xncost: exact analytical costs of XnODR, XnIDR, dynamic routing and XNOR-Net layers.

>>> import xncost
>>> xncost.cost("xnodr", caps_in=160).totals["flops"]
2225200

`xncost.summary(model, input_shape, convention="bnn")` profiles a whole PyTorch model
(`xncost.profile.summary.summary`; imported on first use, so `import xncost` stays
torch-free).
"""

import importlib

__version__ = "0.1.0"

# imported on first use, so that the command line's entry point (xncost.__main__) sets its
# signal handlers before anything heavy is imported
_WHERE = {
    "Breakdown": "xncost.core.accounting",
    "Step": "xncost.core.accounting",
    "breakdown": "xncost.core.accounting",
    "cost": "xncost.api",
    "table": "xncost.api",
    "CONVENTIONS": "xncost.conventions",
    "OPS": "xncost.conventions",
    "PAPER": "xncost.conventions",
    "Convention": "xncost.conventions",
    "get_convention": "xncost.conventions",
    "XncostError": "xncost.errors",
    "CAPS_PRESETS": "xncost.core.shapes",
    "SETTINGS": "xncost.core.shapes",
    "CapsShape": "xncost.core.shapes",
    "FCShape": "xncost.core.shapes",
    "summary": "xncost.profile.summary",
}


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module 'xncost' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


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
