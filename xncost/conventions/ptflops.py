"""`ptflops`: ptflops' module hooks ("MACs"), whole networks only (docs/conventions.md).

Rules are keyed by the exact class of the module running an aten op (`class_key`), as
ptflops' hooks are: conv and linear `flops_per_mac` (1) per MAC + bias 1 per output, batch
norm 1 per element (2 with affine), ReLU-like activations 1 per output element, pooling 1 per
input element. Any other module, custom binary layers included, costs 0, as in ptflops.
"""

from __future__ import annotations

from xncost.conventions import aten
from xncost.conventions.base import MODEL, Convention, OpEvent, RuleSet

RULES = RuleSet("ptflops rules", by="module", fallback=aten.free)  # classes without a hook
register = RULES.register

PTFLOPS = Convention(
    name="ptflops",
    description=(
        "ptflops' module hooks (MACs): conv and linear 1 per MAC + bias 1 per output, batch norm "
        "1 per element (2 with affine), ReLU 1, pooling 1 per input element, any other module 0; "
        "3 BOPs per packed word"
    ),
    flops_per_mac=1,
    single_mac_flops=1,
    binarize_per_element=0,
    softmax_per_element=0,
    scopes=(MODEL,),
    option_help="ptflops",
    rules=RULES,
)
CONVENTION = PTFLOPS


def torch_nn(module: str, *classes: str) -> tuple[str, ...]:
    """Keys of torch.nn classes defined in `torch.nn.modules.<module>`."""
    return tuple(f"torch.nn.modules.{module}.{c}" for c in classes)


CONVS_AND_LINEAR = torch_nn("conv", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d") + torch_nn(
    "linear", "Linear"
)
BATCH_NORMS = torch_nn("batchnorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
ACTIVATIONS = torch_nn("activation", "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU")
POOLING = torch_nn(
    "pooling",
    "MaxPool1d",
    "MaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
)


@register(*CONVS_AND_LINEAR)
def product_rule(ev: OpEvent, conv: Convention) -> int:
    """Conv / Linear: `flops_per_mac` (ptflops: 1) per MAC + bias 1 per output."""
    return 0 if ev.dots is None else ev.dots.flops(conv)


@register(*BATCH_NORMS)
def batch_norm_rule(ev: OpEvent, conv: Convention) -> int:
    """Batch norm: 1 per element, 2 with affine."""
    if ev.op not in aten.BATCH_NORMS:
        return 0
    return (2 if ev.module.affine else 1) * ev.args[0].numel()


@register(*ACTIVATIONS)
def activation_rule(ev: OpEvent, conv: Convention) -> int:
    """Activations: 1 per output element."""
    return aten.output_elements(ev.out) if ev.op in aten.RELUS else 0


@register(*POOLING)
def pool_rule(ev: OpEvent, conv: Convention) -> int:
    """Pooling: 1 per input element."""
    if ev.op in aten.POOLS or ev.op in aten.ADAPTIVE_POOLS or ev.op == "aten::mean":
        return ev.args[0].numel()
    return 0
