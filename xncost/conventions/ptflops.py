"""`ptflops`: ptflops' module hooks ("MACs"), whole networks only (docs/conventions.md).

Rules are keyed by the exact class of the module running an aten op (`class_key`), as
ptflops' hooks are: conv and linear `flops_per_mac` (1) per MAC + bias 1 per output, batch
norm 1 per element (2 with affine), ReLU-like activations 1 per output element, pooling 1 per
input element, recurrent layers and cells by its rnn hooks. Any other module, custom binary
layers included, costs 0, as in ptflops, but for interpolation (its `F.interpolate` hook: 1
per output element, wherever it is called; the fallback rule).
"""

from __future__ import annotations

from typing import Any

from xncost.conventions import aten, fused, interpolation
from xncost.conventions.base import MODEL, Convention, OpEvent, RuleSet, class_key
from xncost.conventions.fused import SDPA_LAYOUTS, Sequences


def functional_rule(ev: OpEvent, conv: Convention) -> int:
    """An op in a module without a hook: 0, but for interpolation, which ptflops' hook on
    `F.interpolate` prices wherever it is called: 1 per output element."""
    return aten.output_elements(ev.out) if ev.op in interpolation.INTERPOLATIONS else 0


RULES = RuleSet("ptflops rules", by="module", fallback=functional_rule)
register = RULES.register

PTFLOPS = Convention(
    name="ptflops",
    description=(
        "ptflops' module hooks (MACs): conv and linear 1 per MAC + bias 1 per output, batch norm "
        "1 per element (2 with affine), ReLU 1, pooling 1 per input element, RNN/LSTM/GRU by "
        "its rnn hooks, interpolation 1 per output element, any other module 0; 3 BOPs per "
        "packed word"
    ),
    flops_per_mac=1,
    single_mac_flops=1,
    binarize_per_element=0,
    softmax_per_element=0,
    scopes=(MODEL,),
    order=40,
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


# ----------------------------------------------------------------------------- transformer ops
# Rules for transformer modules, keyed by module class: the prices of ptflops' module hooks (its
# pytorch backend, `ptflops/pytorch_ops.py`; docs/conventions.md, "Transformer ops"):
#
# - `nn.MultiheadAttention` (`multihead_attention_counter_hook`), per sample with Tq queries,
#   Tk keys, width E, key and value widths kdim, vdim and H heads: the query scaling Tq*E, the
#   projections Tq*E^2 + Tk*kdim^2 + Tk*vdim^2 (+ (Tq + 2Tk)*E with an in-projection bias), per
#   head QK^T Tq*Tk*(E/H), softmax Tq*Tk and AV Tq*Tk*(vdim/H), the out-projection
#   Tq*vdim*(vdim + 1); products at `flops_per_mac` (ptflops: 1). The hook prices the module
#   call once: here at the one op of the call that holds the attention (the fused
#   `_native_multi_head_attention`, a scaled dot-product attention kernel, or the softmax of
#   the unfused path), every other op of the module 0;
# - `nn.LayerNorm` 1 per input element (its batch-norm hook doubles only modules with an
#   `affine` attribute, which LayerNorm does not have); `nn.GELU` 1 per output element;
# - `nn.TransformerEncoderLayer`, which ptflops has no hook for: when it runs fused, none of its
#   submodules' forward runs, so ptflops itself counts nothing for it. Here the fused op is
#   priced as the hooks of the submodules doing its work: `self_attn` as above, `linear1` and
#   `linear2` (1 per MAC + the bias), `norm1`, `norm2`, and the activation if it is a module
#   ptflops hooks; so an encoder layer costs the same run fused or not.

SOFTMAXES = ("aten::_softmax", "aten::softmax", "aten::_safe_softmax")
SDPA_KERNELS = tuple(f"aten::{name}" for name in SDPA_LAYOUTS)


def attention_hook_flops(m: Any, q_len: int, k_len: int, conv: Convention) -> int:
    """ptflops' `multihead_attention_counter_hook` for one sample of `q_len` queries and
    `k_len` keys (module docstring)."""
    e, h, kdim, vdim = m.embed_dim, m.num_heads, m.kdim, m.vdim
    scores = q_len * k_len
    macs = q_len * e * e + k_len * kdim * kdim + k_len * vdim * vdim
    macs += h * scores * (e // h + vdim // h) + q_len * vdim * vdim
    other = q_len * e + h * scores + q_len * vdim
    if m.in_proj_bias is not None:
        other += (q_len + 2 * k_len) * e
    return conv.flops_per_mac * macs + other


def _attention_call(m: Any, op: str, args: tuple) -> tuple[int, int, int]:
    """(samples, Tq, Tk) of the attention call whose anchor op is `op`; samples 0 for any
    other op of the module."""
    if op == "aten::_native_multi_head_attention":
        seq = Sequences.of(args[0])
        return seq.batch, seq.padded, seq.padded
    if op in SDPA_KERNELS:
        dims = fused.sdpa_dims(args[0], args[1], args[2])
        return dims.groups // m.num_heads, dims.q_len, dims.k_len
    if op in SOFTMAXES and args[0].dim() >= 2:
        x = args[0]
        q_len, k_len = int(x.shape[-2]), int(x.shape[-1])
        return (x.numel() // (m.num_heads * q_len * k_len) if x.numel() else 0), q_len, k_len
    return 0, 0, 0


@register(*torch_nn("activation", "MultiheadAttention"))
def multihead_attention_rule(ev: OpEvent, conv: Convention) -> int:
    """ptflops' MultiheadAttention hook, once per call (module docstring)."""
    samples, q_len, k_len = _attention_call(ev.module, ev.op, ev.args)
    return samples * attention_hook_flops(ev.module, q_len, k_len, conv) if samples else 0


@register(*torch_nn("normalization", "LayerNorm"))
def layer_norm_rule(ev: OpEvent, conv: Convention) -> int:
    """LayerNorm: 1 per input element."""
    return ev.args[0].numel() if ev.op in ("aten::native_layer_norm", "aten::layer_norm") else 0


@register(*torch_nn("activation", "GELU"))
def gelu_rule(ev: OpEvent, conv: Convention) -> int:
    """GELU: 1 per output element (ptflops prices it as ReLU)."""
    return ev.out.numel() if ev.op in ("aten::gelu", "aten::gelu_") else 0


def _linear_hook(linear: Any, tokens: int, conv: Convention) -> int:
    """ptflops' Linear hook: (in * out MACs + out bias adds) per token."""
    bias = linear.out_features if linear.bias is not None else 0
    return tokens * (conv.flops_per_mac * linear.in_features * linear.out_features + bias)


@register(*torch_nn("transformer", "TransformerEncoderLayer"))
def encoder_layer_rule(ev: OpEvent, conv: Convention = PTFLOPS) -> int:
    """The fused layer as the hooks of its submodules (module docstring)."""
    if ev.op != "aten::_transformer_encoder_layer_fwd":
        return 0
    m, seq = ev.module, Sequences.of(ev.args[0])
    n, d = seq.tokens, m.linear1.in_features
    total = sum(attention_hook_flops(m.self_attn, t, t, conv) for t in seq.lengths)
    total += _linear_hook(m.linear1, n, conv) + _linear_hook(m.linear2, n, conv) + 2 * n * d
    if class_key(type(m.activation)) in PTFLOPS.rules:  # a module ptflops hooks, not F.relu
        total += n * m.linear1.out_features
    return total


# ----------------------------------------------------------------------------- recurrent layers
# `nn.RNN`, `nn.LSTM`, `nn.GRU` and their cells, as ptflops' `rnn_flops_counter_hook` and
# `rnn_cell_flops_counter_hook` price them: per token (a sample's time step), for each layer
# and direction, the elements of its two weights `weight_ih` and `weight_hh` (products at
# `flops_per_mac`), its two biases, and per hidden unit 1 (RNN), 7 (GRU: the reset product,
# three adds of the two states' gates, the last two products and add) or 10 (LSTM: four gate
# adds, 3 for the cell state, 3 for the output) more; an LSTM's projection `weight_hr` is not
# priced (the hook reads only those two weights). The hook prices a call once: here each
# layer and direction at the one op reading its `weight_ih` (oneDNN's `mkldnn_rnn_layer`, or
# the input projection of the composite path; a cell's first product), for the tokens that op
# projects; every other op of the module 0.

GATE_OPS = {"RNN": 1, "GRU": 7, "LSTM": 10}  # per hidden unit and token, besides the weights
RECURRENT = torch_nn("rnn", *GATE_OPS, *(f"{kind}Cell" for kind in GATE_OPS))


def _input_weight(params: dict[str, Any], operand: Any) -> str | None:
    """The name of the `weight_ih*` parameter `operand` reads (itself or a view of it)."""
    if operand is None or not hasattr(operand, "data_ptr"):
        return None
    for name, p in params.items():
        if name.startswith("weight_ih") and p.data_ptr() == operand.data_ptr():
            return name
    return None


def rnn_hook_flops(m: Any, weight_ih: str, conv: Convention) -> int:
    """ptflops' rnn hooks per token for the layer and direction of `weight_ih` (above)."""
    params = m._parameters
    w_ih, w_hh = params[weight_ih], params[weight_ih.replace("_ih", "_hh")]
    flops = conv.flops_per_mac * (w_ih.numel() + w_hh.numel())
    flops += GATE_OPS[type(m).__name__.removesuffix("Cell")] * m.hidden_size
    if m.bias:
        bias = weight_ih.replace("weight", "bias")
        flops += params[bias].numel() + params[bias.replace("_ih", "_hh")].numel()
    return flops


@register(*RECURRENT)
def recurrent_rule(ev: OpEvent, conv: Convention) -> int:
    """ptflops' rnn hooks, at each op reading a layer's input weights (above)."""
    dots = aten.dot_products(ev.op, ev.args, ev.kwargs, ev.out)
    if dots is None:
        return 0
    params = ev.module._parameters
    total = 0
    for part in aten.parts_of(dots):
        name = _input_weight(params, part.rhs)
        if name is not None:
            tokens = part.count // params[name].shape[0]
            total += tokens * rnn_hook_flops(ev.module, name, conv)
    return total
