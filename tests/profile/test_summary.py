"""Whole-network summary (xncost.profile.summary): per-layer counts against hand counts,
totals against layer sums, thop and the plain dispatch counter, the registration API, the
NIN figures ptflops prints (docs/attributions.md), and the `xncost summary` command."""

from __future__ import annotations

import csv
import io
import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from support import invoke
from torch import nn

from xncost.core.formulas import eq9_speedup
from xncost.errors import XncostError
from xncost.models.nin import NIN_CFG
from xncost.nn.capsule import XnODR
from xncost.nn.xnor import XnorConv2d
from xncost.profile import count_ops, thop_count
from xncost.profile.summary import (
    SUM_KEYS,
    parse_input_shape,
    register_binary,
    summarize_model,
    summary,
    summary_csv,
    summary_json,
    summary_markdown,
)

N, M, D, E, R = 2, 3, 8, 4, 2


class Mixed(nn.Module):
    """float conv -> XNOR conv -> BWN conv -> pool -> XnODR capsule head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.xnor = XnorConv2d(8, 16, 3, padding=1, mode="xnor")
        self.bwn = XnorConv2d(16, 16, 1, mode="bwn")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.caps = XnODR(N, M, D, E, R)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(self.bwn(self.xnor(self.conv(x))))
        return self.caps(y.reshape(x.shape[0], N, D))


@pytest.fixture(scope="module")
def mixed():
    torch.manual_seed(0)
    model = Mixed()
    return model, summary(model, (1, 3, 8, 8))


def test_totals_are_the_sums_of_the_layers(mixed):
    _, s = mixed
    t = s.totals
    for key in SUM_KEYS:
        assert t[key] == sum(getattr(r, key) for r in s.layers), key
    assert t["xnor_flops"] == Fraction(t["bops"], 64)
    assert t["ops"] == t["float_flops"] + Fraction(t["bops"], 64)
    assert all(isinstance(t[k], int) for k in SUM_KEYS)


def test_parameters_and_one_bit_weights(mixed):
    model, s = mixed
    t = s.totals
    assert t["params"] == sum(p.numel() for p in model.parameters())
    binary = model.xnor.weight.numel() + model.bwn.weight.numel() + N * M * D * E
    assert t["params_1bit"] == binary
    assert t["scales"] == 16 + 16 + N * M * E  # one alpha per filter; W_Cap over D
    assert t["float_memory_bytes"] == 4 * t["params"]
    xnor = s.layer("xnor")
    assert xnor.memory_bytes == math.ceil((32 * (16 + 16) + 16 * 8 * 9) / 8)
    assert s.layer("conv").params_1bit == 0


def test_binary_products_priced_by_hand(mixed):
    _, s = mixed
    xnor, bwn = s.layer("xnor"), s.layer("bwn")
    outputs, k = 16 * 8 * 8, 8 * 9
    assert xnor.binary_macs == outputs * k
    assert xnor.bops == 3 * math.ceil(k / 64) * outputs
    assert xnor.float_macs == 0
    assert (xnor.eq9.c, xnor.eq9.n_w, xnor.eq9.n_i) == (8, 9, 64)
    assert xnor.eq9.speedup == eq9_speedup(8, 9, 64)
    assert bwn.bops == 0 and bwn.eq9 is None
    assert bwn.float_macs == 16 * 16 * 8 * 8
    caps = s.layer("caps")
    assert caps.binary_macs == N * M * E * D and caps.bops == 3 * N * M * E


def test_dispatch_counter_agrees_with_the_totals(mixed):
    model, s = mixed
    c = count_ops(model, torch.randn(1, 3, 8, 8))
    # the input scale's 3x3 box filter (Appendix B) is priced by the shared pooling rule
    assert c.unknown_ops == []
    assert c.float_flops == s.totals["float_flops"]
    assert c.bops == s.totals["bops"]


def test_thop_agrees_with_the_float_layers_and_the_capsule_head(mixed):
    import thop

    model, s = mixed
    macs, _ = thop.profile(model.conv, inputs=(torch.randn(1, 3, 8, 8),), verbose=False)
    assert int(macs) == s.layer("conv").float_macs
    caps = thop_count(model.caps, torch.randn(1, N, D), convention="ops").recorder
    assert caps.float_flops == s.layer("caps").float_flops
    assert caps.bops == s.layer("caps").bops


def test_conventions_price_batch_norm_differently():
    model = nn.Sequential(nn.Conv2d(2, 4, 1), nn.BatchNorm2d(4), nn.ReLU())
    by = {c: summary(model, (1, 2, 5, 5), convention=c) for c in ("ops", "tf", "ptflops")}
    elems = 4 * 5 * 5
    assert by["ops"].layer("1").float_flops == 4 * elems + 2 * 4
    assert by["tf"].layer("1").float_flops == 0 and by["tf"].layer("2").float_flops == 0
    assert by["ptflops"].layer("1").float_flops == 2 * elems
    assert by["ptflops"].layer("0").float_flops == 2 * elems + elems  # MACs + bias
    with pytest.raises(XncostError):
        summary(model, (1, 2, 5, 5), convention="paper")


class UserXnorLinear(nn.Module):
    """A user's binary layer: sign(x) . sign(W)^T, as a leaf."""

    def __init__(self, fan_in: int, fan_out: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(fan_out, fan_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(torch.sign(x), torch.sign(self.w))


def test_a_user_layer_is_found_binary_and_registration_sets_its_scales():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 100), UserXnorLinear(100, 7))
    found = summary(model, (2, 5)).layer("1")  # no registration: sign(x) . sign(W)^T is 1-bit
    assert found.float_macs == 0 and found.binary_macs == 2 * 100 * 7
    assert found.bops == 3 * 2 * 2 * 7  # two 64-bit words per dot product of 100
    assert (found.params_1bit, found.scales) == (700, 1)  # +-1: one magnitude, one scale
    assert summary(model, (2, 5), detect=False).layer("1").binary_macs == 0
    register_binary(UserXnorLinear, weights=("w",))
    declared = summary(model, (2, 5)).layer("1")
    assert declared.binary_macs == found.binary_macs and declared.bops == found.bops
    assert (declared.params_1bit, declared.scales) == (700, 7)  # one per output channel
    assert summary(model, (2, 5), detect=False).layer("1").binary_macs == 2 * 100 * 7
    register_binary(UserXnorLinear, weights=("w",), scales=lambda m, name, p: 1, override=True)
    after = summary(model, (2, 5)).layer("1")
    assert (after.params_1bit, after.scales) == (700, 1)
    assert after.memory_bytes == math.ceil((700 + 32) / 8)


def test_registration_errors():
    with pytest.raises(XncostError):
        register_binary(int)

    @register_binary(weights=("missing",))
    class Broken(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(XncostError, match="missing"):
        summary(Broken(), (1, 2))


def test_parse_input_shape():
    assert parse_input_shape("1x3x32x32") == (1, 3, 32, 32)
    for bad in ("1x3xAx32", "0x3x32x32", "", "1x-3"):
        with pytest.raises(XncostError):
            parse_input_shape(bad)


def test_bad_model_and_inputs_raise():
    with pytest.raises(XncostError):
        summarize_model("no-such-model")
    with pytest.raises(XncostError):
        summarize_model("nin", input_shape=(1, 3, 64, 64))
    with pytest.raises(XncostError):
        summary(nn.Linear(4, 2), (1, 5))  # forward fails: one clear error
    with pytest.raises(XncostError):
        summary(nn.Linear(4, 2), (1, 0))


@pytest.fixture(scope="module")
def nin_pair():
    return summarize_model("nin"), summarize_model("nin-xnor")


@pytest.mark.heavy
def test_nin_against_the_printed_ptflops_figures(nin_pair):
    nin, xnor = nin_pair
    assert f"{nin.totals['params'] / 1000:.2f}" == "969.82"  # docs/attributions.md: 969.82 k
    assert round(nin.flops_by_convention["ptflops"] / 1e9, 2) == 0.23  # 0.23 GMac
    assert round(xnor.flops_by_convention["ptflops"] / 1e9, 2) == 0.02  # 0.02 GMac
    # the binary convolutions' MACs are exactly what the float network has in excess
    assert xnor.totals["binary_macs"] == nin.totals["float_macs"] - xnor.totals["float_macs"]
    assert xnor.totals["params"] == nin.totals["params"]
    assert nin.totals["memory_bytes"] / xnor.totals["memory_bytes"] > 10


@pytest.mark.heavy
def test_nin_xnor_eq9_per_layer(nin_pair):
    _, xnor = nin_pair
    rows = [r for r in xnor.layers if r.eq9 is not None]
    assert len(rows) == len(NIN_CFG) - 1  # every cfg conv but the first
    for r in rows:
        k = r.eq9.c * r.eq9.n_w
        assert r.eq9.speedup == Fraction(64 * k, k + 64)  # Eq. 9: N_I cancels
    sp = xnor.speedup
    assert 1 < sp["eq9_network"] < sp["eq9_binary_layers"] < 64


@pytest.mark.heavy
def test_cli_summary_json_csv_and_out(tmp_path):
    out = tmp_path / "summary_nin-xnor.json"
    r = invoke(["summary", "nin-xnor", "--format", "json", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert r.stdout == out.read_text()  # --out DIR: the printed result, under a fixed name
    d = json.loads(out.read_text())
    assert d["model"] == "nin-xnor" and d["input"] == [1, 3, 32, 32]
    assert set(d["totals"]) >= {
        "params",
        "params_1bit",
        "float_macs",
        "float_flops",
        "bops",
        "xnor_flops",
        "ops",
        "memory_bytes",
    }
    for key in ("params", "float_macs", "bops", "memory_bytes"):
        assert d["totals"][key] == sum(layer[key] for layer in d["layers"])
    assert list(tmp_path.iterdir()) == [out]
    r = invoke(["summary", "nin", "--format", "md"])
    assert r.exit_code == 0 and "0.23 GMac" in r.output


def test_summary_csv_total_row(mixed):
    _, s = mixed
    rows = list(csv.DictReader(io.StringIO(summary_csv(s))))
    assert rows[-1]["name"] == "total"
    assert int(rows[-1]["bops"]) == sum(int(r["bops"]) for r in rows[:-1])


@pytest.mark.parametrize(
    "args", [["nope"], ["nin", "--input", "1x3xAx32"], ["nin", "--input", "1x3x64x64"]]
)
def test_cli_summary_bad_input(args):
    r = invoke(["summary", *args])
    assert r.exit_code == 2
    assert r.output.count("\n") == 1 and "error" in r.output


USER_FILE = """
import torch
from torch import nn

from xncost.nn.xnor import XnorConv2d

net = nn.Sequential(nn.Conv2d(3, 4, 3), XnorConv2d(4, 8, 3, mode="xnor"), nn.Flatten())


def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), XnorConv2d(4, 8, 3, mode="xnor"))


def broken():
    return nn.Linear(10, 3)


not_a_model = 42
"""


@pytest.fixture()
def user_file(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(USER_FILE)
    (tmp_path / "raises.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("fmt", ["json", "csv", "md", "table"])
def test_cli_summary_of_a_file_model(user_file, fmt):
    out = user_file / "out" / f"summary_my_models_build.{'md' if fmt == 'table' else fmt}"
    args = ["summary", "my_models.py:build", "--input", "1x3x8x8", "--format", fmt]
    r = invoke([*args, "--out", "out"])
    assert r.exit_code == 0, r.output
    assert [p.name for p in out.parent.iterdir()] == [out.name]
    if fmt != "table":
        assert r.stdout == out.read_text()
    if fmt == "json":
        d = json.loads(out.read_text())
        assert d["model"] == "build" and d["input"] == [1, 3, 8, 8]
        assert d["totals"]["binary_macs"] == 8 * 4 * 4 * 4 * 9  # 8 filters, 4x4 out, 4x3x3
        assert d["totals"]["float_macs"] == 4 * 6 * 6 * 27


def test_cli_summary_of_a_module_attribute_and_an_instance(user_file):
    r = invoke(["summary", "my_models.py:net", "--input", "1x3x8x8", "-f", "json"])
    assert r.exit_code == 0, r.output
    r2 = invoke(["summary", "torch.nn:Identity", "--input", "1x3x4x4", "--format", "json"])
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.stdout)["totals"]["float_flops"] == 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["nofile.py:build", "--input", "1x3x8x8"], "no such file"),
        (["my_models.py:nothere", "--input", "1x3x8x8"], "no attribute 'nothere'"),
        (["my_models.py:not_a_model", "--input", "1x3x8x8"], "not an nn.Module"),
        (["raises.py:x", "--input", "1x3x8x8"], "boom at import"),
        (["my_models.py:broken", "--input", "1x3x8x8"], "forward pass failed"),
        (["no_such_pkg.mod:build", "--input", "1x3x8x8"], "no module named"),
        (["my_models.py:build"], "needs --input"),
        (["my_models.py:build", "--input", "1x3x8x8", "--variant", "code"], "registry models"),
        (["nin", "--input", "1000000x3x32x32"], "limit"),
        (["mobilenetv2", "--input", "1x3x8192x8192"], "limit"),
        (["mobilenetv2", "--input", "1x3x4096x4096"], "widest layer"),
    ],
)
def test_cli_summary_bad_model_lines(user_file, args, message):
    r = invoke(["summary", *args])
    assert r.exit_code == 2
    assert r.output.count("\n") == 1 and message in r.output
    assert sorted(p.name for p in user_file.iterdir()) == ["my_models.py", "raises.py"]


@pytest.mark.heavy
@pytest.mark.parametrize("width", [80, 100])
def test_cli_summary_fits_the_width(width, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    out = invoke(["summary", "nin-xnor"]).stdout
    assert max(len(line.rstrip()) for line in out.splitlines()) <= width
    for value in ("207,618,048", "460,800", "48.00 (c=192, N_W=1)"):  # nothing cut to "…"
        assert value in out
    assert "…" not in out


def test_bnn_convention_and_described_ops(mixed):
    model, s = mixed
    b = summary(model, (1, 3, 8, 8), convention="bnn")
    t = b.totals
    assert t["float_flops"] == t["float_macs"] == s.totals["float_macs"]
    assert t["bops"] == t["binary_macs"]
    assert t["ops"] == t["float_macs"] + Fraction(t["binary_macs"], 64)
    assert "BNN literature" in summary_markdown(b)
    assert "not the BNN literature's OPs" in summary_markdown(s)


def test_to_frame(mixed):
    _, s = mixed
    df = s.to_frame()
    assert list(df.index) == [r.name for r in s.layers]
    assert df["bops"].sum() == s.totals["bops"]
    assert df.loc["xnor", "binary_macs"] == s.layer("xnor").binary_macs


def test_bnn_convention_refuses_another_word() -> None:
    from torch import nn

    from xncost.errors import XncostError
    from xncost.profile.summary import summary

    with pytest.raises(XncostError, match="fixes the word at 64"):
        summary(nn.Linear(4, 2), (1, 4), convention="bnn", word=32)
    assert summary(nn.Linear(4, 2), (1, 4), convention="bnn", word=64).totals["float_macs"] == 8


PUBLIC = Path(__file__).parents[1] / "fixtures" / "public_style"


def test_cli_binary_option_declares_weights_binarized_outside_forward():
    target = f"{PUBLIC / 'xnornet.py'}:Net"
    plain = invoke(["summary", target, "--input", "1x3x32x32", "-f", "json"])
    declared = invoke(
        ["summary", target, "--input", "1x3x32x32", "-f", "json", "--binary", "BinConv2d"],
    )
    assert plain.exit_code == declared.exit_code == 0, (plain.output, declared.output)
    p, d = json.loads(plain.stdout), json.loads(declared.stdout)
    assert p["totals"]["binary_macs"] == 0 and d["totals"]["binary_macs"] > 0
    assert d["totals"]["binary_macs"] == p["totals"]["binary_activation_macs"]
    assert d["detection"]["binary_patterns"] == ["BinConv2d"]
    assert any("pass --binary BinConv2d" in w for w in p["warnings"]) and not d["warnings"][:-1]
    assert (p["detection"]["suggested_binary"], d["detection"]["suggested_binary"]) == (
        ["BinConv2d"],
        [],
    )
    bad = invoke(["summary", target, "--input", "1x3x32x32", "--binary", "Nope"])
    assert bad.exit_code == 2 and "matches no module" in bad.output
    registry = invoke(["summary", "nin", "--binary", "Conv2d"])
    assert registry.exit_code == 2 and "your own models" in registry.output


def test_cli_several_inputs():
    args = ["summary", f"{PUBLIC / 'patterns.py'}:TwoInputs", "--input", "2x3x8x8,2x10"]
    r = invoke([*args, "-f", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["input"] == [[2, 3, 8, 8], [2, 10]]
    assert d["totals"]["float_macs"] == 2 * 4 * 6 * 6 * 27 + 2 * 4 * 10
    md = invoke([*args, "-f", "md"]).stdout
    assert "input 2x3x8x8, 2x10" in md
    for bad in ("2x3x8x8,", "2x3x8x8,0x1"):
        r = invoke(["summary", f"{PUBLIC / 'patterns.py'}:TwoInputs", "--input", bad])
        assert r.exit_code == 2 and r.output.count("\n") == 1


@pytest.mark.heavy
def test_depth_folds_the_table_not_the_totals():
    s = summarize_model("birealnet18", input_shape=(1, 3, 32, 32))
    folded = s.folded(1)
    assert [r.name for r in folded.layers] == ["conv1", "bn1", "maxpool", "blocks", "avgpool", "fc"]
    assert folded.totals == s.totals
    blocks = folded.layer("blocks")
    assert blocks.kind == "1-bit+float" and blocks.type == "Sequential"
    assert blocks.binary_macs == sum(r.binary_macs for r in s.layers if r.name.startswith("blocks"))
    r = invoke(["summary", "birealnet18", "--input", "1x3x32x32", "--depth", "1"])
    assert r.exit_code == 0 and "blocks.0" not in r.stdout and "| blocks |" not in r.stdout
    csv_rows = invoke(["summary", "nin", "--depth", "1", "-f", "csv"]).stdout
    assert [row.split(",")[0] for row in csv_rows.splitlines()[1:]] == ["features", "total"]


def test_repr_frame_and_top_level_export(mixed):
    import xncost

    _, s = mixed
    text = repr(s)
    assert text.startswith("Summary(Mixed: input 1x3x8x8, convention ops, ")
    assert f"1-bit MACs {s.totals['binary_macs']:,}" in text and len(text) < 300
    df = s.to_frame()
    for col in ("params", "float_macs", "binary_macs", "bops", "memory_bytes"):
        assert str(df[col].dtype) == "int64", col
    assert str(df["xnor_flops"].dtype) == "float64" and df.loc["xnor", "kind"] == "1-bit"
    assert df["bops"].sum() == s.totals["bops"]
    assert xncost.summary is summary
    from torch import nn

    whole = summary(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()), (1, 3, 8, 8)).to_frame()
    assert str(whole["xnor_flops"].dtype) == str(whole["ops"].dtype) == "int64"  # no fraction


def test_kind_column_and_decisions_in_every_format(mixed):
    _, s = mixed
    md = summary_markdown(s)
    assert "| kind |" in md and "| xnor | XnorConv2d | 1-bit |" in md
    assert "1-bit products (both operands binary up to scale):" in md
    rows = list(csv.DictReader(io.StringIO(summary_csv(s))))
    assert rows[0]["kind"] == "float" and rows[-1]["notes"].startswith("1-bit products")
    d = json.loads(summary_json(s))
    assert d["layers"][1]["kind"] == "1-bit" and d["detection"]["one_bit_products"]


def test_memory_line_of_a_float_network_claims_no_saving():
    from torch import nn

    from xncost.profile.summary import summary
    from xncost.profile.summary_render import summary_markdown

    text = summary_markdown(summary(nn.Sequential(nn.Conv2d(3, 4, 3)), (1, 3, 8, 8)))
    assert "all at 32 bits, no 1-bit weights" in text and "smaller" not in text


@pytest.mark.parametrize(
    "example", [(1.5, 3, 8, 8), (1, 3, 8, 8.0), [(1, 3, 8, 8), "x"], ((1, 3.0, 8, 8),), (None,)]
)
def test_an_input_shape_that_is_not_integers_is_one_clear_error(example):
    with pytest.raises(XncostError, match="input shape must be positive integers"):
        summary(nn.Conv2d(3, 4, 3), example)


class _MakesItsOwn(nn.Module):
    def forward(self, x):
        try:
            return torch.zeros(10**6, 10**6)
        except BaseException:  # the refusal is caught: the next op refuses again
            return x * 2


@pytest.mark.parametrize(
    ("model", "shape", "op"),
    [
        (nn.Sequential(nn.Upsample(scale_factor=64)), (1, 3, 512, 512), "upsample_nearest2d"),
        (nn.Sequential(nn.Linear(16, 1 << 16)), (1, 20000, 16), "addmm"),
        (nn.Sequential(nn.Conv1d(4, 1 << 15, 1)), (1, 4, 40000), "convolution"),
        (_MakesItsOwn(), (1, 4), "zeros"),
    ],
)
def test_an_activation_past_the_bound_is_refused_before_it_is_allocated(model, shape, op):
    with pytest.raises(XncostError, match=f"{op} would take the activations alive at once"):
        summary(model, shape)


def test_activations_alive_at_once_are_bounded_and_the_bound_excludes_its_limit():
    from xncost.profile.inputs import MAX_ACTIVATION_BYTES
    from xncost.profile.memory_bound import ActivationBound

    x = torch.randn(1, 3, 8, 8)
    up = nn.Sequential(nn.Upsample(scale_factor=4), nn.ReLU())
    out_bytes = 4 * 3 * 32 * 32
    with torch.no_grad(), ActivationBound("t", limit=2 * out_bytes + 1) as bound:
        up(x)
    assert bound.peak == 2 * out_bytes  # the upsampled tensor and its ReLU, alive at once
    with pytest.raises(XncostError, match="relu would take"), torch.no_grad():
        with ActivationBound("t", limit=2 * out_bytes):
            up(x)
    with pytest.raises(XncostError, match="4,294,967,296 bytes"):
        summary(nn.Conv2d(3, 64, 1), (1, 3, 4096, 4096))  # exactly the limit: refused
    assert 4 * 64 * 4096 * 4096 == MAX_ACTIVATION_BYTES
