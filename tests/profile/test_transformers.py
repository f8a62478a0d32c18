"""Transformer ops (xncost.conventions.fused and the conventions' rules): every op
nn.MultiheadAttention, nn.TransformerEncoderLayer and scaled_dot_product_attention dispatch in
eval and train mode has a rule; fused and unfused runs give the same MACs, equal to torch's own
counter and to the products torch's profiler records inside the fused kernels; the written-out
LayerNorm and GELU cost what their fused ops cost; ViT-B/16 and the reference models; the
binarized attention."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from support import invoke
from torch import nn
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from xncost.conventions import OPS, PTFLOPS, TF, class_key
from xncost.conventions.fused import (
    FUSED_WORK,
    LayerNorm,
    Product,
    Softmax,
    fused_products,
    fused_work,
)
from xncost.errors import XncostError
from xncost.models.registry import build_model
from xncost.models.transformers import (
    BinaryAttentionBlock,
    EncoderClassifier,
    VisionTransformer,
    unfused_attention,
    vit_b16,
)
from xncost.profile.detect import is_pm1
from xncost.profile.dispatch import OpCounter
from xncost.profile.fused_work import measure_work
from xncost.profile.paths import count_paths
from xncost.profile.summary import summary

aten = torch.ops.aten
D, H, T, B = 16, 4, 5, 2


# ----------------------------------------------------------------------------- the modules
class Attention(nn.Module):
    """nn.MultiheadAttention called as `how` says: self/cross attention, masks, weights."""

    def __init__(self, batch_first: bool = True, dropout: float = 0.0, **how: object) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(D, H, dropout=dropout, batch_first=batch_first)
        self.how = how
        self.float_mask = torch.randn(T, T, generator=torch.Generator().manual_seed(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        how = dict(self.how)
        kind = how.pop("inputs", "self")
        seq = 1 if self.mha.batch_first else 0
        y = 2 * x
        q, k, v = (x, x, x) if kind == "self" else (x, y, y) if kind == "kv" else (x, y, 3 * x)
        if how.pop("mask", None) == "causal":
            how["attn_mask"] = torch.ones(T, T, dtype=torch.bool).triu(1)
        elif how.get("attn_mask") == "float":
            how["attn_mask"] = self.float_mask
        if how.pop("kpm", False):
            pad = torch.zeros(x.shape[1 - seq], T, dtype=torch.bool)
            pad[-1, -2:] = True
            how["key_padding_mask"] = pad
        out, _ = self.mha(q, k, v, **how)
        return out


class Encoder(nn.Module):
    """nn.TransformerEncoder of two layers, called with or without masks."""

    def __init__(
        self, batch_first: bool = True, mask: bool = False, kpm: bool = False, **layer: object
    ) -> None:
        super().__init__()
        nested = bool(layer.pop("nested", False))
        cell = nn.TransformerEncoderLayer(D, H, 32, batch_first=batch_first, **layer)
        self.enc = nn.TransformerEncoder(cell, 2, enable_nested_tensor=nested)
        self.mask, self.kpm, self.batch_first = mask, kpm, batch_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        how = {}
        if self.mask:
            how["mask"] = nn.Transformer.generate_square_subsequent_mask(T)
        if self.kpm:
            pad = torch.zeros(B, T, dtype=torch.bool)
            pad[-1, -2:] = True
            how["src_key_padding_mask"] = pad
        return self.enc(x, **how)


class Sdpa(nn.Module):
    """F.scaled_dot_product_attention on [B, H, T, d] (or other ranks), as `how` says."""

    def __init__(self, **how: object) -> None:
        super().__init__()
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        how = dict(self.how)
        q = x.reshape(B, H, T, D // H)
        k = v = q
        if how.pop("gqa", False):
            k = v = q[:, :2]
            how["enable_gqa"] = True
        if how.pop("rank3", False):
            q, k, v = q.flatten(0, 1), k.flatten(0, 1), v.flatten(0, 1)
        mask = how.pop("mask", None)
        if mask == "bool":
            how["attn_mask"] = torch.ones(T, T, dtype=torch.bool).tril()
        elif mask == "float":
            how["attn_mask"] = torch.zeros(T, T)
        return F.scaled_dot_product_attention(q, k, v, **how)


def _bf(batch_first: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn((B, T, D) if batch_first else (T, B, D), generator=g)


MHA_CALLS = {
    "weights": {},
    "no-weights": {"need_weights": False},
    "per-head-weights": {"average_attn_weights": False},
    "causal": {"mask": "causal", "need_weights": False},
    "float-mask": {"attn_mask": "float"},
    "padding": {"kpm": True},
    "cross-kv": {"inputs": "kv"},
    "cross-qkv": {"inputs": "qkv", "need_weights": False},
    "dropout": {"dropout": 0.1, "need_weights": False},
}
ENCODER_CALLS = {
    "relu": {},
    "gelu-norm-first": {"activation": "gelu", "norm_first": True},
    "mask": {"mask": True},
    "padding": {"kpm": True},
}
SEQ_FIRST = ("weights", "no-weights", "causal", "cross-kv", "relu", "mask")  # batch_first=False
SDPA_CALLS = {
    "plain": {},
    "bool-mask": {"mask": "bool"},
    "float-mask": {"mask": "float"},
    "causal": {"is_causal": True},
    "gqa": {"gqa": True},
    "rank3": {"rank3": True},
    "scale": {"scale": 0.3},
    "dropout": {"dropout_p": 0.1},
}
CASES: dict[str, Callable[[], tuple[nn.Module, torch.Tensor]]] = {
    **{
        f"mha-{bf}-{name}": (lambda bf=bf, how=how: (Attention(bf, **how), _bf(bf)))
        for bf in (True, False)
        for name, how in MHA_CALLS.items()
        if bf or name in SEQ_FIRST
    },
    **{
        f"encoder-{bf}-{name}": (lambda bf=bf, how=how: (Encoder(bf, **how), _bf(bf)))
        for bf in (True, False)
        for name, how in ENCODER_CALLS.items()
        if bf or name in SEQ_FIRST
    },
    **{
        f"sdpa-{name}": (lambda how=how: (Sdpa(**how), torch.randn(B, T, D)))
        for name, how in SDPA_CALLS.items()
    },
}
NESTED = {"encoder-nested": lambda: (Encoder(True, kpm=True, nested=True), _bf(True))}
RUNS = {
    "eval-no-grad": (False, torch.no_grad),
    "eval-grad": (False, torch.enable_grad),
    "train-grad": (True, torch.enable_grad),
}


def _macs(model: nn.Module, x: torch.Tensor, unfused: bool = False) -> int:
    with unfused_attention() if unfused else contextlib.nullcontext():
        return summary(model, x).totals["float_macs"]


# ---------------------------------------------------------------- every op has a rule
@pytest.mark.parametrize(
    ("case", "run"),
    [(c, r) for c in CASES for r in RUNS] + [(c, "eval-no-grad") for c in NESTED],
)
def test_every_dispatched_op_has_a_rule(case: str, run: str) -> None:
    """Nested batches exist only in eval mode without grad."""
    model, x = {**CASES, **NESTED}[case]()
    training, grad = RUNS[run]
    model.train(training)
    x.requires_grad_(grad is torch.enable_grad)
    with grad(), OpCounter(model) as counter:
        model(x)
    assert counter.unknown_ops == []
    assert counter.float_macs > 0


def test_the_fused_ops_are_what_eval_mode_dispatches() -> None:
    """The cases reach every fused op this CPU dispatches (so the rules above are exercised)."""
    seen = set()

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.add(func.overloadpacket._qualified_op_name)
            return func(*args, **(kwargs or {}))

    for make in {**CASES, **NESTED}.values():
        model, x = make()
        with torch.no_grad(), Record():
            model.eval()(x)
    fused = seen & set(FUSED_WORK)
    assert fused == {
        "aten::_native_multi_head_attention",
        "aten::_transformer_encoder_layer_fwd",
        "aten::_scaled_dot_product_flash_attention_for_cpu",
    }


# ------------------------------------------------- MACs: fused, unfused, torch's counters
@pytest.mark.parametrize("case", CASES)
def test_macs_are_the_same_fused_and_unfused_and_equal_flop_counter(case: str) -> None:
    model, x = CASES[case]()
    fused = _macs(model.eval(), x)
    assert fused == _macs(model, x, unfused=True)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), unfused_attention(), counter:
        model(x)
    assert counter.get_total_flops() == 2 * fused  # torch's counter, 2 per MAC


@dataclass
class Captured:
    func: object
    args: tuple
    kwargs: dict
    out: object


def _fused_calls(model: nn.Module, x: torch.Tensor) -> list[Captured]:
    calls: list[Captured] = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func.overloadpacket._qualified_op_name in FUSED_WORK:
                calls.append(Captured(func, args, kwargs or {}, out))
            return out

    with torch.no_grad(), Record():
        model(x)
    return calls


def _profiled(run: Callable[[], object]) -> dict[str, int | None]:
    """MACs, softmax and LayerNorm elements of the aten ops torch's profiler records (inside
    the fused kernels too); LayerNorm None when it ran on nested tensors (no shapes)."""
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
        run()
    out: dict[str, int | None] = {"macs": 0, "softmax": 0, "layer_norm": 0}
    for e in p.events():
        s = e.input_shapes
        if e.name in ("aten::mm", "aten::bmm"):
            out["macs"] += math.prod(s[0]) * s[1][-1]
        elif e.name in ("aten::addmm", "aten::_addmm_activation", "aten::baddbmm"):
            out["macs"] += math.prod(s[1]) * s[2][-1]
        elif e.name in ("aten::_softmax", "aten::_masked_softmax"):
            out["softmax"] += math.prod(s[0])
        elif e.name == "aten::native_layer_norm" and out["layer_norm"] is not None:
            out["layer_norm"] = out["layer_norm"] + math.prod(s[0]) if s[0] else None
    return out


def _check_against_profile(calls: list[Captured], run: Callable[[], object]) -> None:
    work = [w for c in calls for w in fused_work(c.func, c.args, c.kwargs, c.out)]
    measured = _profiled(run)
    assert measured["macs"] == sum(w.dots.macs for w in work if isinstance(w, Product))
    assert measured["softmax"] == sum(w.elements for w in work if isinstance(w, Softmax))
    if measured["layer_norm"] is not None:
        norms = sum(w.elements for w in work if isinstance(w, LayerNorm))
        assert measured["layer_norm"] == norms


# the cases whose every product runs inside the fast path's fused kernels
FUSED_CASES = [
    *(f"mha-True-{c}" for c in ("weights", "no-weights", "per-head-weights", "causal", "padding")),
    *(f"encoder-True-{c}" for c in ("relu", "gelu-norm-first", "mask", "padding")),
]


@pytest.mark.parametrize("case", [*FUSED_CASES, *NESTED])
def test_fused_work_is_what_the_kernels_run(case: str) -> None:
    """The products, softmax and LayerNorms listed for each fused op are the ones torch's
    profiler records inside it (nested batches: tokens projected, attention padded)."""
    model, x = {**CASES, **NESTED}[case]()
    model.eval()
    calls = _fused_calls(model, x)
    assert {c.func.overloadpacket for c in calls} <= {
        aten._native_multi_head_attention,
        aten._transformer_encoder_layer_fwd,
    }
    assert calls
    _check_against_profile(calls, lambda: model(x))


@pytest.mark.parametrize("inputs", ["kv", "qkv"])
def test_fused_cross_attention_projects_each_input(inputs: str) -> None:
    """Called with distinct key/value tensors (nn.MultiheadAttention's fast path never does),
    the kernel projects the query, then key and value together or each on its own."""
    mha = nn.MultiheadAttention(D, H, batch_first=True).eval()
    q = _bf(True)
    k = 2 * q
    v = k if inputs == "kv" else 3 * q
    args = (q, k, v, D, H, mha.in_proj_weight, mha.in_proj_bias)
    args += (mha.out_proj.weight, mha.out_proj.bias, None, False)

    def run() -> object:
        return torch._native_multi_head_attention(*args)

    calls: list[Captured] = []
    with torch.no_grad():
        calls.append(Captured(aten._native_multi_head_attention.default, args, {}, run()))
    names = [w.name for w in fused_work(calls[0].func, args, {}, None) if isinstance(w, Product)]
    assert names[: 3 if inputs == "qkv" else 2] == (
        ["Q projection", "K projection", "V projection"]
        if inputs == "qkv"
        else ["Q projection", "KV projection"]
    )
    _check_against_profile(calls, run)


def _dispatch_macs(model: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), OpCounter(model.eval()) as counter:
        model(x)
    assert counter.unknown_ops == []
    return counter.float_macs


def test_nested_batch_counts_tokens_not_padding() -> None:
    """A nested batch (padding mask, eval) projects and feeds forward its 8 real tokens, not
    the 10 padded ones; attention runs padded."""
    model, x = NESTED["encoder-nested"]()
    dense = Encoder(True, kpm=True)
    dense.load_state_dict(model.state_dict())
    per_token = sum(w.numel() for n, w in model.named_parameters() if n.endswith("weight"))
    per_token -= sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.LayerNorm))
    assert _dispatch_macs(dense, x) - _dispatch_macs(model, x) == 2 * per_token
    assert summary(model, x).totals["float_macs"] == _dispatch_macs(model, x)


class ShortEncoder(nn.Module):
    """nn.TransformerEncoder on a nested batch whose sequences (T - 1 and T - 2 tokens) are
    all shorter than the padded T."""

    def __init__(self) -> None:
        super().__init__()
        cell = nn.TransformerEncoderLayer(D, H, 32, batch_first=True)
        self.enc = nn.TransformerEncoder(cell, 2, enable_nested_tensor=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = torch.zeros(x.shape[0], x.shape[1], dtype=torch.bool)
        pad[:, -1] = True
        pad[-1, -2:] = True
        return self.enc(x, src_key_padding_mask=pad)


def test_a_nested_batch_on_every_counting_path() -> None:
    """summary (a nested output shown padded to its longest sequence), OpCounter and
    FlopCounterMode count a nested batch alike; thop, whose hooks turn the fast path off,
    sees the leaf linears run on the padded batch."""
    torch.manual_seed(0)
    model, x = ShortEncoder().eval(), _bf(True)
    p = count_paths(model, x)
    assert p["summary"]["float_macs"] == p["dispatch"]["float_macs"] == _dispatch_macs(model, x)
    assert p["summary"]["flops"] == p["dispatch"]["flops"] == p["flop_counter"]["flops"]
    assert p["flop_counter"]["all_macs"] == p["summary"]["float_macs"]
    layers = model.enc.layers
    assert p["thop"]["float_macs"] == B * T * sum(2 * m.linear1.weight.numel() for m in layers)
    shapes = {r.name: r.output_shape for r in summary(model, x).layers}
    assert shapes["enc.layers.0"] == (B, T - 1, D) and shapes["enc"] == (B, T, D)


def test_a_nested_batch_from_the_command_line(tmp_path) -> None:
    (tmp_path / "nested.py").write_text(
        "from torch import nn\n"
        "import torch\n"
        "class EncMask(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)\n"
        "        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=True)\n"
        "    def forward(self, x):\n"
        "        mask = torch.zeros(x.shape[0], x.shape[1], dtype=torch.bool)\n"
        "        mask[:, -3:] = True\n"
        "        return self.enc(x, src_key_padding_mask=mask)\n"
    )
    r = invoke(["summary", f"{tmp_path / 'nested.py'}:EncMask", "--input", "2x10x32"])
    assert r.exit_code == 0, r.output
    assert "2x7x32" in r.stdout and "without a counting rule" not in r.stdout


# ------------------------------------------------------------- prices (ops, tf, ptflops)
class Module(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def _by_convention(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> dict:
    return summary(Module(fn), x).flops_by_convention


def _layer_norm_torch(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    return (x - mean) * (var + 1e-6).rsqrt() * w + b


def _layer_norm_tf(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """tf.nn.moments + tf.nn.batch_normalization, op for op, as aten ops."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    inv = (var + 1e-6).rsqrt() * w
    return x * inv + (b - mean * inv)


def test_layer_norm_costs_its_written_out_ops() -> None:
    x, w, b = torch.randn(3, 7, 12), torch.randn(12), torch.randn(12)
    fused = _by_convention(lambda t: F.layer_norm(t, (12,), w, b, 1e-6), x)
    assert fused["ops"] == _by_convention(lambda t: _layer_norm_torch(t, w, b), x)["ops"]
    assert fused["tf"] == _by_convention(lambda t: _layer_norm_tf(t, w, b), x)["tf"]
    keras_fused = _by_convention(lambda t: F.layer_norm(t, (12,), w, b, 1e-3), x)["tf"]
    assert keras_fused == _by_convention(lambda t: t * w + b, x)["tf"]  # FusedBatchNorm free
    bare = _by_convention(lambda t: F.layer_norm(t, (12,)), x)
    assert bare["ops"] == fused["ops"] - 2 * x.numel()


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_costs_its_written_out_ops(approximate: str) -> None:
    x = torch.randn(4, 9)
    fused = _by_convention(lambda t: F.gelu(t, approximate=approximate), x)
    if approximate == "none":  # torch's kernel / tf.nn.gelu
        torch_form = _by_convention(lambda t: t * 0.5 * (1 + torch.erf(t * 0.7071)), x)
        tf_form = _by_convention(lambda t: 0.5 * t * (1 + torch.erf(t / 1.4142)), x)
    else:
        torch_form = _by_convention(
            lambda t: 0.5 * t * (1 + torch.tanh(0.7979 * (t + 0.044715 * (t * t * t)))), x
        )
        tf_form = _by_convention(
            lambda t: 0.5 * t * (1 + torch.tanh(0.7979 * (t + 0.044715 * t.pow(3)))), x
        )
    assert fused["ops"] == torch_form["ops"]
    assert fused["tf"] == tf_form["tf"]


def _vit_small() -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(32, 16, 2, H, 64, 128, 10)


@pytest.mark.parametrize(
    "make", [_vit_small, EncoderClassifier, lambda: EncoderClassifier(norm_first=True)]
)
def test_fused_and_unfused_prices_differ_by_the_scaled_elements_only(make) -> None:
    """Fused attention scales the queries once (B x T x width); the math path scales queries
    and keys by sqrt(scale) each: the only difference, in `ops` and `tf`; `ptflops` and `bnn`
    price the same work either way."""
    model = make().eval()
    shape = (B, 3, 32, 32) if isinstance(model, VisionTransformer) else (B, *model.input_shape)
    fused = summary(model, shape).flops_by_convention
    with unfused_attention():
        unfused = summary(model, shape).flops_by_convention
    layers = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    tokens = 5 if isinstance(model, VisionTransformer) else model.input_shape[0]
    queries = sum(B * tokens * m.embed_dim for m in layers)
    for conv in ("ops", "tf"):
        assert unfused[conv] - fused[conv] == queries
    assert unfused["ptflops"] == fused["ptflops"] and unfused["bnn"] == fused["bnn"]


def test_ptflops_encoder_layer_is_its_submodules_hooks() -> None:
    """The fused encoder layer costs what ptflops' hooks give its submodules run unfused."""
    for act in ("relu", nn.GELU()):
        model, x = Encoder(True, activation=act), _bf(True)
        fused = summary(model.eval(), x).flops_by_convention["ptflops"]
        with unfused_attention():
            assert summary(model, x).flops_by_convention["ptflops"] == fused


def test_sdpa_kernels_share_one_layout_reading() -> None:
    q = torch.randn(2, 3, 5, 4)
    mask = torch.zeros(5, 5)
    cpu = fused_work(
        aten._scaled_dot_product_flash_attention_for_cpu, (q, q, q), {"attn_mask": mask}, None
    )
    for func, args in (
        (aten._scaled_dot_product_efficient_attention, (q, q, q, mask, False)),
        (aten._scaled_dot_product_attention_math, (q, q, q, mask)),
        (aten._scaled_dot_product_fused_attention_overrideable, (q, q, q, mask)),
    ):
        assert fused_work(func, args, {}, None) == cpu
    no_mask = fused_work(aten._scaled_dot_product_flash_attention, (q, q, q, 0.0, True), {}, None)
    assert no_mask == cpu  # causal counted like a mask
    with pytest.raises(XncostError, match="nested"):
        nt = torch.nested.nested_tensor([torch.randn(2, 4), torch.randn(3, 4)])
        fused_work(aten._scaled_dot_product_flash_attention_for_cpu, (nt, nt, nt), {}, None)


def test_fused_ops_are_registered_in_every_registry() -> None:
    for op in FUSED_WORK:
        assert op in OPS.rules and op in TF.rules
    for cls in (nn.MultiheadAttention, nn.LayerNorm, nn.GELU, nn.TransformerEncoderLayer):
        assert class_key(cls) in PTFLOPS.rules
    with pytest.raises(XncostError, match="already registered"):
        OPS.rules.register("aten::_native_multi_head_attention")(lambda ev, conv: 0)


# ----------------------------------------------------------------------------- models
def vit_macs(side: int, patch: int, layers: int, d: int, mlp: int, classes: int) -> dict:
    """ViT's MACs by part, from its architecture (batch 1)."""
    patches = (side // patch) ** 2
    t = patches + 1
    return {
        "patch embedding": patches * d * 3 * patch * patch,
        "QKV projection": layers * t * 3 * d * d,
        "QK^T": layers * t * t * d,
        "AV": layers * t * t * d,
        "out projection": layers * t * d * d,
        "MLP": layers * 2 * t * d * mlp,
        "head": d * classes,
    }


def _vit_parts(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Measured MACs by part: the fused attention's parts by name, the rest by its op."""
    parts: dict[str, int] = {}
    for w in measure_work(model, x):
        if isinstance(w, Product):
            parts[w.name] = parts.get(w.name, 0) + w.dots.macs
    return parts


def _check_vit(model: VisionTransformer, side: int, patch: int, layers: int, mlp: int) -> int:
    x = torch.randn(1, 3, side, side)
    expect = vit_macs(side, patch, layers, model.hidden_dim, mlp, model.heads.head.out_features)
    parts = _vit_parts(model.eval(), x)
    linear = expect["MLP"] + expect["head"]
    assert parts == {
        "aten.convolution": expect["patch embedding"],
        "QKV projection": expect["QKV projection"],
        "QK^T": expect["QK^T"],
        "AV": expect["AV"],
        "out projection": expect["out projection"],
        "aten.addmm": linear,
    }
    total = summary(model, x).totals["float_macs"]
    assert total == sum(expect.values())
    return total


def test_small_vit_decomposes_as_its_architecture() -> None:
    _check_vit(VisionTransformer(64, 16, 3, 4, 96, 192, 7), 64, 16, 3, 192)


@pytest.mark.slow
def test_vit_b16_macs() -> None:
    """ViT-B/16 at 224: 17,563,828,224 MACs, measured, by part; and through the CLI."""
    torch.manual_seed(0)
    total = _check_vit(vit_b16(), 224, 16, 12, 3072)
    assert total == 17_563_828_224
    r = invoke(["summary", "vit-b16", "--input", "1x3x224x224", "--format", "json"])
    assert r.exit_code == 0 and f'"float_macs": {total}' in r.stdout


def test_vit_b16_is_torchvision_shaped() -> None:
    with torch.device("meta"):
        model = build_model("vit-b16")
        assert sum(p.numel() for p in model.parameters()) == 86_567_656  # torchvision's
        assert model(torch.empty(2, 3, 224, 224)).shape == (2, 1000)
    assert [n for n, _ in model.encoder.layers.encoder_layer_0.named_children()] == [
        "ln_1",
        "self_attention",
        "dropout",
        "ln_2",
        "mlp",
    ]
    with pytest.raises(XncostError, match="multiple of 16"):
        build_model("vit-b16", input_side=100)


@pytest.mark.parametrize(
    "build",
    [
        lambda: VisionTransformer(30, 16, 1, 2, 8, 8),
        lambda: VisionTransformer(32, 16, 1, 3, 8, 8),
        lambda: EncoderClassifier(d_model=10, num_heads=4),
        lambda: EncoderClassifier(seq_len=0),
        lambda: BinaryAttentionBlock(dim=10, num_heads=3),
    ],
)
def test_bad_transformer_configs_are_one_clear_error(build) -> None:
    with pytest.raises(XncostError):
        build()


def test_encoder_classifier_file_route() -> None:
    r = invoke(
        ["summary", "xncost/models/transformers.py:EncoderClassifier", "--input", "1x64x32"],
    )
    assert r.exit_code == 0, r.output
    assert "TransformerEncoderLayer" in r.stdout


# -------------------------------------------------------------- binarized attention
def _qk_macs(block: BinaryAttentionBlock, batch: int, tokens: int) -> int:
    a = block.attention
    return batch * a.num_heads * tokens * tokens * a.head_dim


def test_binary_attention_exposes_its_sign_operands() -> None:
    """The fused attention's QK^T part carries the queries and keys it multiplies, here the
    +-1 outputs of the sign, so 1-bit detection can see them; AV does not (softmax output)."""
    torch.manual_seed(0)
    block = BinaryAttentionBlock().eval()
    x = torch.randn(2, 6, 64)
    parts = [w for w in measure_work(block, x) if isinstance(w, Product)]
    qk = [p for p in parts if p.name == "QK^T"]
    assert len(qk) == 1 and qk[0].dots.binary_ok
    assert is_pm1(qk[0].dots.lhs) and is_pm1(qk[0].dots.rhs)
    assert qk[0].dots.macs == _qk_macs(block, 2, 6)
    av = next(p for p in parts if p.name == "AV")
    assert not av.dots.binary_ok and not is_pm1(av.dots.rhs)
    calls = _fused_calls(block, x)
    dots = fused_products(calls[0].func, calls[0].args, calls[0].kwargs, calls[0].out)
    assert [p.name for p in dots.parts] == ["QK^T", "AV"] and not dots.binary_ok
    assert dots.parts[0].dots.lhs is calls[0].args[0] and dots.parts[0].dots.rhs is calls[0].args[1]
    assert dots.macs == qk[0].dots.macs + av.dots.macs


@pytest.mark.parametrize("fused", [True, False])
def test_binary_attention_qk_is_one_bit(fused: bool) -> None:
    torch.manual_seed(0)
    block = BinaryAttentionBlock(fused=fused)
    s = summary(block, (2, 6, 64))
    assert s.totals["binary_macs"] == _qk_macs(block, 2, 6)
