"""Recurrent layers (docs/conventions.md, "Recurrent layers"): every op nn.RNN, nn.LSTM, nn.GRU
and their cells dispatch has a rule (oneDNN's LSTM layer, the composite cells' data movement);
their MACs are those of their weights per token; the oneDNN LSTM costs what its composite
path costs under every convention; `ptflops` is ptflops' rnn hooks; every counting path
agrees."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from xncost.conventions import OPS, PTFLOPS, TF
from xncost.conventions.fused import fused_work
from xncost.errors import XncostError
from xncost.profile.dispatch import OpCounter
from xncost.profile.paths import count_paths
from xncost.profile.summary import summary

T, B, F_IN, H = 5, 2, 6, 4


class Packed(nn.Module):
    """An LSTM fed a packed batch of two sequences, of lengths T and T - 2."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(F_IN, H)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(x, torch.tensor([T, T - 2]))
        return self.lstm(packed)[1][0]


CASES = {
    "lstm": lambda: nn.LSTM(F_IN, H, batch_first=True),
    "lstm-2-bidirectional": lambda: nn.LSTM(F_IN, H, 2, bidirectional=True, batch_first=True),
    "lstm-no-bias": lambda: nn.LSTM(F_IN, H, bias=False, batch_first=True),
    "lstm-proj": lambda: nn.LSTM(F_IN, H, proj_size=3, batch_first=True),
    "gru": lambda: nn.GRU(F_IN, H, 2, batch_first=True),
    "gru-bidirectional-no-bias": lambda: nn.GRU(F_IN, H, bidirectional=True, bias=False),
    "rnn-tanh": lambda: nn.RNN(F_IN, H, 2, batch_first=True),
    "rnn-relu": lambda: nn.RNN(F_IN, F_IN, nonlinearity="relu", batch_first=True),
    "lstm-cell": lambda: nn.LSTMCell(F_IN, H),
    "gru-cell": lambda: nn.GRUCell(F_IN, H),
    "rnn-cell": lambda: nn.RNNCell(F_IN, H),
}


def _input(case: str) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(B, F_IN) if case.endswith("cell") else torch.randn(B, T, F_IN)


def _build(case: str) -> nn.Module:
    torch.manual_seed(0)
    return CASES[case]().eval()


def _tokens(case: str) -> int:
    """Tokens each layer and direction runs (a cell: one step of the batch)."""
    return B if case.endswith("cell") else B * T


def _weight_macs(m: nn.Module) -> int:
    """MACs per token of every weight: input, hidden and (LSTM) projection weights."""
    return sum(p.numel() for n, p in m.named_parameters() if n.startswith("weight"))


@pytest.mark.parametrize("case", CASES)
def test_every_op_has_a_rule_and_macs_are_the_weights_per_token(case: str) -> None:
    model, x = _build(case), _input(case)
    with torch.no_grad(), OpCounter(model) as counter:
        model(x)
    assert counter.unknown_ops == []
    assert counter.float_macs == _tokens(case) * _weight_macs(model)


def test_a_packed_batch_counts_its_real_tokens() -> None:
    model = Packed().eval()
    s = summary(model, (T, 2, F_IN))
    assert s.unknown_ops == ()
    assert s.totals["float_macs"] == (2 * T - 2) * _weight_macs(model.lstm)


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("lstm")])
def test_onednn_lstm_costs_what_its_composite_path_costs(case: str) -> None:
    """nn.LSTM on CPU runs oneDNN (`mkldnn_rnn_layer`) where it can; with oneDNN off it runs
    torch's composite cell op by op: the same figures under every convention."""
    model, x = _build(case), _input(case)
    fused = summary(model, x)
    with torch.backends.mkldnn.flags(enabled=False):
        composite = summary(model, x)
    assert fused.flops_by_convention == composite.flops_by_convention
    assert fused.totals["float_macs"] == composite.totals["float_macs"]


def test_the_onednn_layer_is_what_nn_lstm_dispatches() -> None:
    """(So the fused rule above is exercised: with proj_size torch falls back to composite.)"""
    from torch.utils._python_dispatch import TorchDispatchMode

    seen: list[str] = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(func.overloadpacket._qualified_op_name)
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), Record():
        _build("lstm-2-bidirectional")(_input("lstm"))
    assert seen.count("aten::mkldnn_rnn_layer") == 4  # two layers, two directions


def _gates(model: nn.Module, tokens: int) -> dict[str, int]:
    """Per convention, the FLOPs of everything but the products of one LSTM layer of
    `tokens` tokens and hidden width H: ops prices the gate sum (4H), 3 sigmoids, 2 tanh, the
    cell state's two products and add, the hidden state's product; tf the same without the
    sigmoids and tanhs (the profiler has no entry for them)."""
    h = model.hidden_size
    return {"ops": tokens * (4 * h + 5 * h + 3 * h + h), "tf": tokens * (4 * h + 3 * h + h)}


def test_lstm_prices_by_hand() -> None:
    model, x = _build("lstm"), _input("lstm")
    s = summary(model, x).flops_by_convention
    n, macs = B * T, _weight_macs(model)
    bias = n * 2 * 4 * H
    assert s["ops"] == 2 * n * macs + bias + _gates(model, n)["ops"]
    assert s["tf"] == 2 * n * macs + bias + _gates(model, n)["tf"]
    assert s["bnn"] == s["macs"] == n * macs
    assert s["ptflops"] == n * (macs + 10 * H + 2 * 4 * H)  # ptflops' rnn hook


@pytest.mark.parametrize("case", CASES)
def test_ptflops_is_its_rnn_hook(case: str) -> None:
    """ptflops' `rnn_flops` per token, each layer and direction: both weights, both biases,
    and per hidden unit 1 (RNN), 7 (GRU) or 10 (LSTM); a projection weight is not read."""
    model, x = _build(case), _input(case)
    extra = {"lstm": 10, "gru": 7, "rnn": 1}[case.split("-")[0]] * H
    if case == "rnn-relu":
        extra = F_IN
    per_direction = 0
    params = dict(model.named_parameters())
    for name, w in params.items():
        if name.startswith("weight_ih"):
            per_direction += w.numel() + params[name.replace("_ih", "_hh")].numel() + extra
            if model.bias:
                per_direction += 2 * params[name.replace("weight", "bias")].numel()
    assert summary(model, x).flops_by_convention["ptflops"] == _tokens(case) * per_direction


@pytest.mark.parametrize("case", ["lstm-2-bidirectional", "gru", "lstm-cell", "rnn-relu"])
def test_every_counting_path_agrees(case: str) -> None:
    model, x = _build(case), _input(case)
    p = count_paths(model, x)
    assert p["dispatch"]["flops"] == p["summary"]["flops"] == p["flop_counter"]["flops"]
    assert p["summary"]["float_macs"] == p["dispatch"]["float_macs"] == p["thop"]["float_macs"]
    assert p["flop_counter"]["all_macs"] == p["summary"]["float_macs"] > 0


def test_the_composite_cells_data_movement_is_free() -> None:
    """A GRU splits its gates with `unsafe_split` and a batch-first RNN transposes its output
    back in place (`transpose_`): data movement, known and free."""
    model, x = _build("gru"), _input("gru")
    with torch.no_grad(), OpCounter(model) as counter:
        model(x)
    by_op = {op: f for step in counter.by_op.values() for op, f in step.items()}
    assert by_op["aten.unsafe_split"] == 0 and by_op["aten.transpose_"] == 0


def test_lstm_work_items_and_other_modes() -> None:
    model = _build("lstm")
    x = torch.randn(T, B, F_IN)
    args = (x, model.weight_ih_l0, model.weight_hh_l0, model.bias_ih_l0, model.bias_hh_l0)
    args += (None, None, False, [], 2, H, 1, True, False, False, False)
    work = fused_work("aten::mkldnn_rnn_layer", args, {}, None)
    assert [w.name for w in work][:2] == ["input projection", "hidden projection"]
    assert work[0].dots.lhs is x and work[0].dots.rhs is model.weight_ih_l0
    assert work[1].dots.lhs is None and not work[1].dots.binary_ok
    with pytest.raises(XncostError, match="mode 3"):
        fused_work("aten::mkldnn_rnn_layer", args[:9] + (3,) + args[10:], {}, None)


def test_recurrent_rules_are_registered_in_every_convention() -> None:
    from xncost.conventions import class_key

    assert "aten::mkldnn_rnn_layer" in OPS.rules and "aten::mkldnn_rnn_layer" in TF.rules
    for cls in (nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell):
        assert class_key(cls) in PTFLOPS.rules
