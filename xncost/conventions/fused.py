"""The work inside torch's fused transformer and recurrent ops, from their arguments' shapes
(no prices; torch-free: it reads shapes and attributes of what it is given).

A dispatch-level counter sees a fused op (`aten._native_multi_head_attention`,
`aten._transformer_encoder_layer_fwd`, the `scaled_dot_product_attention` kernels,
`aten.mkldnn_rnn_layer`) as one op; the products, softmax, norms and gates it runs inside
are not dispatched. `fused_work(func, args,
kwargs, out)` lists them as `Work` items, each from the real operand shapes: the same steps,
in the same order, as torch 2.13's CPU kernels run (aten/src/ATen/native/transformers/
attention.cpp, transformer.cpp, cpu/FlashAttentionKernel.cpp), so that every convention prices
a fused op as the sum of its steps (the rules of `xncost.conventions.ops`, `tf`, `ptflops`):

- `_native_multi_head_attention` (`nn.MultiheadAttention`, batch first, eval, no grad): the
  in-projection (one product when query, key and value are one tensor), the in-projection bias
  and the 1/sqrt(head_dim) scale of the queries, QK^T, the mask, softmax, AV, the
  out-projection with its bias, and with `need_weights` the average of the weights over heads.
  A nested (padded) batch projects its tokens only; QK^T, AV and the bias and scale run on
  the padded batch, softmax per sequence on its own length.
- `_transformer_encoder_layer_fwd` (`nn.TransformerEncoderLayer`): the two LayerNorms (before
  or after each sub-block as `norm_first` says), the attention above without weights, two
  residual adds, the feed-forward products with their biases and the ReLU or (exact) GELU.
- the scaled dot-product attention kernels: QK^T, the scale and the mask per score (the flash
  kernel applies them to the scores), softmax, dropout when `dropout_p` > 0, AV. Causal
  attention is counted dense, as torch's `FlopCounterMode` does.
- `mkldnn_rnn_layer` (`nn.LSTM` on CPU: one call per layer and direction): per token the
  input and hidden projections with their biases, the gate sum, the sigmoid and tanh gates,
  the cell and hidden states, as torch's composite LSTM cell runs them (`lstm_layer_work`).

`fused_products` gives the products of a fused op as one `FusedProducts`
(`xncost.conventions.aten`: a `DotProducts` whose MACs and FLOPs are the sums over `parts`),
registered as the op's products (`aten.register_product`), so every counter sees their MACs.
Each part is a `Product` whose `DotProducts` holds its operands where the op's arguments hold
them (`lhs`, `rhs`, with the axes each is contracted along; None for a tensor computed inside
the kernel, with `binary_ok` False): the queries and keys of a scaled dot-product attention,
the input and the weights of a projection, so that the counting engine classifies every part
(a part with two binary operands is 1-bit) and the rules price the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xncost.conventions import aten
from xncost.conventions.aten import DotProducts, FusedProducts
from xncost.errors import XncostError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Product:
    """A named product inside a fused op."""

    name: str
    dots: DotProducts


LAST, ROWS = (-1,), (-2,)  # contracted along the last axis (a row), or the rows (a column)


def product(
    name: str,
    count: int,
    length: int,
    lhs: torch.Tensor | None,
    rhs: torch.Tensor | None,
    extra: int = 0,
    rhs_dims: tuple[int, ...] = LAST,
) -> Product:
    """`count` dot products of `length` (+ `extra` bias adds), `lhs` contracted along its last
    axis, `rhs` along `rhs_dims` (a [out, in] weight or keys [T, E]: its last; values [T, E]:
    its rows); an operand computed inside the kernel is None, and then the product cannot be
    checked for 1-bit operands."""
    visible = lhs is not None and rhs is not None
    return Product(name, DotProducts(count, length, extra, lhs, rhs, LAST, rhs_dims, visible))


@dataclass(frozen=True)
class Pointwise:
    """`ops_per_element` primitive ops on each of `elements` (an add, a scale, a mask)."""

    name: str
    elements: int
    ops_per_element: int = 1


@dataclass(frozen=True)
class Softmax:
    """Softmax over `elements` scores."""

    name: str
    elements: int


@dataclass(frozen=True)
class Reduce:
    """A sum of `inputs` elements into `outputs`."""

    name: str
    inputs: int
    outputs: int


@dataclass(frozen=True)
class LayerNorm:
    """LayerNorm of `elements` in `rows` rows, with or without weight and bias."""

    name: str
    elements: int
    rows: int
    weight: bool
    bias: bool
    eps: float


@dataclass(frozen=True)
class Activation:
    """`kind` ("relu", "gelu": the erf form, "gelu_tanh", "sigmoid", "tanh") on `elements`."""

    name: str
    elements: int
    kind: str


Work = Product | Pointwise | Softmax | Reduce | LayerNorm | Activation


def _arg(args: tuple, kwargs: dict, index: int | None, name: str, default: Any = None) -> Any:
    """Positional argument `index` (None: keyword-only) or keyword `name`."""
    if index is not None and len(args) > index:
        return args[index]
    return kwargs.get(name, default)


@dataclass(frozen=True)
class Sequences:
    """The sequences of a batch-first [B, T, D] input: their lengths (a nested tensor's own
    lengths, else B times T)."""

    lengths: tuple[int, ...]

    @classmethod
    def of(cls, x: torch.Tensor) -> Sequences:
        if x.is_nested:
            return cls(tuple(int(n) for n in x._nested_tensor_size()[:, 0].tolist()))
        if x.dim() != 3:
            raise XncostError(f"expected a [batch, seq, dim] input, got shape {tuple(x.shape)}")
        return cls((int(x.shape[1]),) * int(x.shape[0]))

    @property
    def batch(self) -> int:
        return len(self.lengths)

    @property
    def tokens(self) -> int:
        """Tokens actually held (what a nested batch projects)."""
        return sum(self.lengths)

    @property
    def padded(self) -> int:
        """Length of the padded batch (what QK^T and AV run on)."""
        return max(self.lengths, default=0)

    @property
    def squares(self) -> int:
        """Sum of squared lengths: softmax scores per head."""
        return sum(n * n for n in self.lengths)


@dataclass(frozen=True)
class AttentionDims:
    """One attention's dimensions: `groups` independent (batch x head) attentions of `q_len`
    queries over `k_len` keys, query/key width `qk_dim`, value width `v_dim`."""

    groups: int
    q_len: int
    k_len: int
    qk_dim: int
    v_dim: int

    @property
    def scores(self) -> int:
        return self.groups * self.q_len * self.k_len


def sdpa_dims(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> AttentionDims:
    """Dimensions of a scaled dot-product attention: query [..., Tq, E], key [..., Tk, E],
    value [..., Tk, Ev]; the leading dims of the query count the attentions (with grouped-query
    attention the keys have fewer heads and each query head still attends)."""
    if query.is_nested or key.is_nested or value.is_nested:
        raise XncostError("scaled_dot_product_attention on nested tensors is not counted")
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise XncostError("scaled_dot_product_attention needs at least 2-D query, key, value")
    return AttentionDims(
        groups=math.prod(query.shape[:-2]),
        q_len=int(query.shape[-2]),
        k_len=int(key.shape[-2]),
        qk_dim=int(query.shape[-1]),
        v_dim=int(value.shape[-1]),
    )


def attention_core(
    dims: AttentionDims,
    query: torch.Tensor | None,
    key: torch.Tensor | None,
    value: torch.Tensor | None,
    *,
    masks: int = 0,
    dropout: bool = False,
    softmax_scores: int | None = None,
    scale: Pointwise | None = None,
) -> list[Work]:
    """softmax(QK^T * scale + masks) V: QK^T, the scale (per score unless `scale` says
    otherwise), `masks` masks per score, softmax (on `softmax_scores`, default every score),
    dropout (a draw, a compare and a multiply per score), AV. Operands that are None are
    computed inside the kernel."""
    work: list[Work] = [
        product("QK^T", dims.scores, dims.qk_dim, query, key),
        scale or Pointwise("scale", dims.scores),
    ]
    work += [Pointwise("mask", dims.scores) for _ in range(masks)]
    work.append(Softmax("softmax", dims.scores if softmax_scores is None else softmax_scores))
    if dropout:
        work.append(Pointwise("dropout", dims.scores, 3))
    av = dims.groups * dims.q_len * dims.v_dim
    work.append(product("AV", av, dims.k_len, None, value, rhs_dims=ROWS))
    return work


@dataclass(frozen=True)
class SdpaLayout:
    """Where a scaled dot-product attention kernel takes its mask (None: it takes none),
    dropout probability and causal flag: (position or None if keyword-only, name)."""

    mask: tuple[int | None, str] | None
    dropout: tuple[int | None, str]
    causal: tuple[int | None, str]


SDPA_LAYOUTS: dict[str, SdpaLayout] = {
    "_scaled_dot_product_flash_attention_for_cpu": SdpaLayout(
        (None, "attn_mask"), (3, "dropout_p"), (4, "is_causal")
    ),
    "_scaled_dot_product_flash_attention": SdpaLayout(None, (3, "dropout_p"), (4, "is_causal")),
    "_scaled_dot_product_efficient_attention": SdpaLayout(
        (3, "attn_bias"), (5, "dropout_p"), (6, "is_causal")
    ),
    "_scaled_dot_product_cudnn_attention": SdpaLayout(
        (3, "attn_bias"), (5, "dropout_p"), (6, "is_causal")
    ),
    "_scaled_dot_product_fused_attention_overrideable": SdpaLayout(
        (3, "attn_bias"), (4, "dropout_p"), (5, "is_causal")
    ),
    "_scaled_dot_product_attention_math": SdpaLayout(
        (3, "attn_mask"), (4, "dropout_p"), (5, "is_causal")
    ),
    "scaled_dot_product_attention": SdpaLayout(
        (3, "attn_mask"), (4, "dropout_p"), (5, "is_causal")
    ),
}


def sdpa_work(layout: SdpaLayout) -> Callable[..., list[Work]]:
    """The work of a scaled dot-product attention kernel whose arguments follow `layout`."""

    def work(args: tuple, kwargs: dict, out: Any) -> list[Work]:
        q, k, v = args[0], args[1], args[2]
        masks = int(layout.mask is not None and _arg(args, kwargs, *layout.mask) is not None)
        masks += int(bool(_arg(args, kwargs, *layout.causal, False)))
        drop = float(_arg(args, kwargs, *layout.dropout, 0.0) or 0.0) > 0
        return attention_core(sdpa_dims(q, k, v), q, k, v, masks=masks, dropout=drop)

    return work


def _projections(
    seq: Sequences,
    dim: int,
    qkv_weight: torch.Tensor,
    operands: tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None],
    self_attention: bool,
) -> list[Work]:
    """The in-projection as the kernel runs it: one product of [tokens, D] by the [3D, D]
    weight for self-attention (query, key and value one tensor), else a query product and one
    for key and value together (key is value) or one each."""
    n, (query, key, value) = seq.tokens, operands
    if self_attention:
        return [product("QKV projection", n * 3 * dim, dim, query, qkv_weight)]
    if key is value:
        return [
            product("Q projection", n * dim, dim, query, qkv_weight[:dim]),
            product("KV projection", n * 2 * dim, dim, key, qkv_weight[dim:]),
        ]
    return [
        product(f"{label} projection", n * dim, dim, x, w)
        for label, x, w in zip("QKV", operands, qkv_weight.chunk(3), strict=True)
    ]


def multi_head_attention(
    seq: Sequences,
    dim: int,
    heads: int,
    qkv_weight: torch.Tensor,
    proj_weight: torch.Tensor,
    operands: tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None],
    *,
    mask: bool,
    need_weights: bool,
    average_weights: bool,
    self_attention: bool = False,
) -> list[Work]:
    """The work of torch's fused multi-head attention (module docstring) on `seq`, width `dim`,
    `heads` heads; `operands` are the query, key and value tensors where visible (None inside
    a fused layer); `self_attention` when they are one tensor."""
    if heads < 1 or dim % heads:
        raise XncostError(f"embed_dim {dim} is not divisible by {heads} heads")
    b, t, head_dim = seq.batch, seq.padded, dim // heads
    dims = AttentionDims(b * heads, t, t, head_dim, head_dim)
    query, key, value = operands
    same = self_attention or (query is not None and query is key and key is value)
    work = _projections(seq, dim, qkv_weight, operands, same)
    work.append(Pointwise("QKV bias", b * t * 3 * dim))
    work += attention_core(
        dims,
        None,
        None,
        None,
        masks=int(mask),
        softmax_scores=heads * seq.squares,
        scale=Pointwise("Q scale", b * t * dim),
    )
    n = seq.tokens
    work.append(product("out projection", n * dim, dim, None, proj_weight, n * dim))
    if need_weights and average_weights:
        work.append(Reduce("weights: sum over heads", dims.scores, b * t * t))
        work.append(Pointwise("weights: divide by heads", b * t * t))
    return work


def mha_work(args: tuple, kwargs: dict, out: Any) -> list[Work]:
    """`_native_multi_head_attention(query, key, value, embed_dim, num_head, qkv_weight,
    qkv_bias, proj_weight, proj_bias, mask, need_weights, average_attn_weights, mask_type)`."""
    q, k, v = args[0], args[1], args[2]
    return multi_head_attention(
        Sequences.of(q),
        int(args[3]),
        int(args[4]),
        args[5],
        args[7],
        (q, k, v),
        mask=_arg(args, kwargs, 9, "mask") is not None,
        need_weights=bool(_arg(args, kwargs, 10, "need_weights", True)),
        average_weights=bool(_arg(args, kwargs, 11, "average_attn_weights", True)),
    )


def encoder_layer_work(args: tuple, kwargs: dict, out: Any) -> list[Work]:
    """`_transformer_encoder_layer_fwd(src, embed_dim, num_heads, qkv_weight, qkv_bias,
    proj_weight, proj_bias, use_gelu, norm_first, eps, norm_weight_1, norm_bias_1,
    norm_weight_2, norm_bias_2, ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2, mask,
    mask_type)`."""
    src, dim, heads = args[0], int(args[1]), int(args[2])
    use_gelu, norm_first, eps = bool(args[7]), bool(args[8]), float(args[9])
    w1, w2 = args[14], args[16]
    seq = Sequences.of(src)
    n, hidden = seq.tokens, int(w1.shape[0])

    def norm(i: int) -> LayerNorm:
        return LayerNorm(f"norm{i}", n * dim, n, True, True, eps)

    x = None if norm_first else src
    attention = multi_head_attention(
        seq,
        dim,
        heads,
        args[3],
        args[5],
        (x, x, x),
        mask=_arg(args, kwargs, 18, "mask") is not None,
        need_weights=False,
        average_weights=True,
        self_attention=True,
    )
    return [
        *([norm(1)] if norm_first else []),
        *attention,
        Pointwise("residual add", n * dim),
        norm(1 if not norm_first else 2),
        product("linear1", n * hidden, dim, None, w1, n * hidden),
        Activation("activation", n * hidden, "gelu" if use_gelu else "relu"),
        product("linear2", n * dim, hidden, None, w2, n * dim),
        Pointwise("residual add", n * dim),
        *([] if norm_first else [norm(2)]),
    ]


def layer_norm_work(args: tuple, kwargs: dict, out: Any) -> list[Work]:
    """`native_layer_norm(input, normalized_shape, weight, bias, eps)` (and `layer_norm`)."""
    x, shape = args[0], args[1]
    width = math.prod(int(s) for s in shape)
    weight = _arg(args, kwargs, 2, "weight") is not None
    bias = _arg(args, kwargs, 3, "bias") is not None
    eps = float(_arg(args, kwargs, 4, "eps", 1e-5))
    rows = x.numel() // width if width else 0
    return [LayerNorm("layer norm", x.numel(), rows, weight, bias, eps)]


def gelu_work(args: tuple, kwargs: dict, out: Any) -> list[Work]:
    """`gelu(self, *, approximate)`: the erf form, or the tanh form with approximate="tanh"."""
    tanh = _arg(args, kwargs, None, "approximate", "none") == "tanh"
    elements = args[0].numel()
    return [Activation("gelu", elements, "gelu_tanh" if tanh else "gelu")]


LSTM_MODE = 2  # `mode` of `mkldnn_rnn_layer` (cuDNN's numbering: RNN_RELU, RNN_TANH, LSTM, GRU)


def lstm_layer_work(args: tuple, kwargs: dict, out: Any) -> list[Work]:
    """`mkldnn_rnn_layer(input, weight0, weight1, weight2, weight3, hx_, cx_, reverse,
    batch_sizes, mode, hidden_size, ...)`: one LSTM layer in one direction over every token of
    `input` (the oneDNN kernel `nn.LSTM` runs on CPU), as torch's composite LSTM cell
    computes each token (aten/src/ATen/native/RNN.cpp, `LSTMCell`): the input and hidden
    projections with their biases, their sum, three sigmoid gates and the tanh cell gate, the
    cell state f * c + i * g, and h = o * tanh(c)."""
    x, w_ih, w_hh = args[0], args[1], args[2]
    mode, hidden = int(_arg(args, kwargs, 9, "mode")), int(_arg(args, kwargs, 10, "hidden_size"))
    if mode != LSTM_MODE:
        raise XncostError(f"mkldnn_rnn_layer in mode {mode} (not an LSTM) is not counted")
    bias = bool(_arg(args, kwargs, 12, "has_biases", True))
    tokens = x.numel() // int(x.shape[-1]) if x.numel() else 0
    gates = tokens * int(w_ih.shape[0])
    n = tokens * hidden
    return [
        product("input projection", gates, int(w_ih.shape[1]), x, w_ih, gates if bias else 0),
        product("hidden projection", gates, int(w_hh.shape[1]), None, w_hh, gates if bias else 0),
        Pointwise("gate sum", gates),
        Activation("input, forget, output gates", 3 * n, "sigmoid"),
        Activation("cell gate", n, "tanh"),
        Pointwise("cell state", n, 3),
        Activation("cell state", n, "tanh"),
        Pointwise("hidden state", n),
    ]


Plan = Callable[[tuple, dict, Any], list[Work]]
FUSED_WORK: dict[str, Plan] = {
    "aten::_native_multi_head_attention": mha_work,
    "aten::_transformer_encoder_layer_fwd": encoder_layer_work,
    "aten::mkldnn_rnn_layer": lstm_layer_work,
    **{f"aten::{name}": sdpa_work(layout) for name, layout in SDPA_LAYOUTS.items()},
}
OP_WORK: dict[str, Plan] = {
    **FUSED_WORK,
    **dict.fromkeys(("aten::native_layer_norm", "aten::layer_norm"), layer_norm_work),
    **dict.fromkeys(("aten::gelu", "aten::gelu_"), gelu_work),
}


def op_name(func: Any) -> str:
    """`"aten::bmm"` for an op name, or an aten overload or packet."""
    if isinstance(func, str):
        return func
    return getattr(getattr(func, "overloadpacket", func), "_qualified_op_name", str(func))


def fused_work(op: Any, args: tuple, kwargs: dict, out: Any) -> list[Work] | None:
    """The work inside a fused transformer op (its name `"aten::..."`, overload or packet),
    or None if it is not one."""
    plan = FUSED_WORK.get(op_name(op))
    return None if plan is None else plan(args, kwargs, out)


def fused_products(op: Any, args: tuple, kwargs: dict, out: Any) -> FusedProducts | None:
    """The products inside a fused transformer op (module docstring), or None."""
    work = fused_work(op, args, kwargs, out)
    return None if work is None else FusedProducts.of(w for w in work if isinstance(w, Product))


for _op, _plan in FUSED_WORK.items():
    aten.register_product(_op)(
        lambda args, kwargs, out, _plan=_plan: FusedProducts.of(
            w for w in _plan(args, kwargs, out) if isinstance(w, Product)
        )
    )


def op_work(op: Any, args: tuple, kwargs: dict, out: Any) -> list[Work]:
    """The work items of one dispatched op: a fused op's, a LayerNorm's or GELU's, any other
    product as one `Product` named after its aten op (`aten.dot_products`); else none."""
    op = op_name(op)
    plan = OP_WORK.get(op)
    if plan is not None:
        return plan(args, kwargs, out)
    dots = aten.dot_products(op, args, kwargs, out)
    return [] if dots is None else [Product(aten.display_name(op), dots)]
