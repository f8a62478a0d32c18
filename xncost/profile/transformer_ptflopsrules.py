"""The `ptflops` convention's rules for transformer modules, registered into
`xncost.conventions.ptflops` (keyed by module class): the prices of ptflops' module hooks
(its pytorch backend, `ptflops/pytorch_ops.py`; docs/conventions.md, "Transformer ops"):

- `nn.MultiheadAttention` (`multihead_attention_counter_hook`), per sample with Tq queries,
  Tk keys, width E, key and value widths kdim, vdim and H heads: the query scaling Tq*E, the
  projections Tq*E^2 + Tk*kdim^2 + Tk*vdim^2 (+ (Tq + 2Tk)*E with an in-projection bias), per
  head QK^T Tq*Tk*(E/H), softmax Tq*Tk and AV Tq*Tk*(vdim/H), the out-projection
  Tq*vdim*(vdim + 1); products at `flops_per_mac` (ptflops: 1). The hook prices the module
  call once: here at the one op of the call that holds the attention (the fused
  `_native_multi_head_attention`, a scaled dot-product attention kernel, or the softmax of
  the unfused path), every other op of the module 0;
- `nn.LayerNorm` 1 per input element (its batch-norm hook doubles only modules with an
  `affine` attribute, which LayerNorm does not have); `nn.GELU` 1 per output element;
- `nn.TransformerEncoderLayer`, which ptflops has no hook for: when it runs fused, none of its
  submodules' forward runs, so ptflops itself counts nothing for it. Here the fused op is
  priced as the hooks of the submodules doing its work: `self_attn` as above, `linear1` and
  `linear2` (1 per MAC + the bias), `norm1`, `norm2`, and the activation if it is a module
  ptflops hooks; so an encoder layer costs the same run fused or not.
"""

from __future__ import annotations

from torch import nn

from xncost.conventions import class_key
from xncost.conventions.base import Convention, OpEvent
from xncost.conventions.ptflops import PTFLOPS, register
from xncost.profile import transformer_ops
from xncost.profile.transformer_ops import SDPA_LAYOUTS, Sequences

SOFTMAXES = ("aten::_softmax", "aten::softmax", "aten::_safe_softmax")
SDPA_KERNELS = tuple(f"aten::{name}" for name in SDPA_LAYOUTS)


def attention_hook_flops(m: nn.MultiheadAttention, q_len: int, k_len: int, conv: Convention) -> int:
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


def _attention_call(m: nn.MultiheadAttention, op: str, args: tuple) -> tuple[int, int, int]:
    """(samples, Tq, Tk) of the attention call whose anchor op is `op`; samples 0 for any
    other op of the module."""
    if op == "aten::_native_multi_head_attention":
        seq = Sequences.of(args[0])
        return seq.batch, seq.padded, seq.padded
    if op in SDPA_KERNELS:
        dims = transformer_ops.sdpa_dims(args[0], args[1], args[2])
        return dims.groups // m.num_heads, dims.q_len, dims.k_len
    if op in SOFTMAXES and args[0].dim() >= 2:
        x = args[0]
        q_len, k_len = int(x.shape[-2]), int(x.shape[-1])
        return (x.numel() // (m.num_heads * q_len * k_len) if x.numel() else 0), q_len, k_len
    return 0, 0, 0


@register(class_key(nn.MultiheadAttention))
def multihead_attention_rule(ev: OpEvent, conv: Convention) -> int:
    """ptflops' MultiheadAttention hook, once per call (module docstring)."""
    samples, q_len, k_len = _attention_call(ev.module, ev.op, ev.args)
    return samples * attention_hook_flops(ev.module, q_len, k_len, conv) if samples else 0


@register(class_key(nn.LayerNorm))
def layer_norm_rule(ev: OpEvent, conv: Convention) -> int:
    """LayerNorm: 1 per input element."""
    return ev.args[0].numel() if ev.op in ("aten::native_layer_norm", "aten::layer_norm") else 0


@register(class_key(nn.GELU))
def gelu_rule(ev: OpEvent, conv: Convention) -> int:
    """GELU: 1 per output element (ptflops prices it as ReLU)."""
    return ev.out.numel() if ev.op in ("aten::gelu", "aten::gelu_") else 0


def _linear_hook(linear: nn.Linear, tokens: int, conv: Convention) -> int:
    """ptflops' Linear hook: (in * out MACs + out bias adds) per token."""
    bias = linear.out_features if linear.bias is not None else 0
    return tokens * (conv.flops_per_mac * linear.in_features * linear.out_features + bias)


@register(class_key(nn.TransformerEncoderLayer))
def encoder_layer_rule(ev: OpEvent, conv: Convention = PTFLOPS) -> int:
    """The fused layer as the hooks of its submodules (module docstring)."""
    if ev.op != "aten::_transformer_encoder_layer_fwd":
        return 0
    m, seq = ev.module, Sequences.of(ev.args[0])
    n, d = seq.tokens, m.linear1.in_features
    total = sum(attention_hook_flops(m.self_attn, t, t, conv) for t in seq.lengths)
    total += _linear_hook(m.linear1, n, conv) + _linear_hook(m.linear2, n, conv) + 2 * n * d
    if isinstance(m.activation, nn.Module) and class_key(type(m.activation)) in PTFLOPS.rules:
        total += n * m.linear1.out_features
    return total


__all__ = ["attention_hook_flops"]
