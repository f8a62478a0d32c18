"""Model files in the style of public BNN repositories (tests/fixtures/public_style), counted
with no registration: the figures of xncost's own models, every counting path agreeing, the
same output in fresh processes."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from xncost.profile.paths import count_paths
from xncost.profile.summary import fixed_seed, summarize_model, summary

FIXTURES = Path(__file__).parents[1] / "fixtures" / "public_style"
sys.path.insert(0, str(FIXTURES))
import binarynet  # noqa: E402
import birealnet  # noqa: E402
import irnet  # noqa: E402
import reactnet  # noqa: E402
import xnornet  # noqa: E402

pytestmark = pytest.mark.heavy  # seconds per test (tests/conftest.py: not in -m fast)

SAME = ("params", "params_1bit", "scales", "float_macs", "binary_macs", "bops", "memory_bytes")


@pytest.mark.parametrize(
    "build,registry", [(birealnet.birealnet18, "birealnet18"), (reactnet.reactnet, "reactnet-a")]
)
def test_public_style_counts_as_xncost_own_model(build, registry):
    shape = (1, 3, 32, 32)
    public = summary(build, shape, convention="bnn")
    own = summarize_model(registry, input_shape=shape, convention="bnn")
    for key in SAME:
        assert public.totals[key] == own.totals[key], key
    assert public.totals["ops"] == own.totals["ops"]
    assert public.totals["binary_macs"] > 10 * public.totals["float_macs"]
    assert not public.warnings


def test_irnet_binaryquantize_function_and_power_of_two_scales():
    s = summary(irnet.resnet20_1w1a, (1, 3, 32, 32), convention="bnn")
    convs = [m for m in irnet.resnet20_1w1a().modules() if isinstance(m, irnet.IRConv2d)]
    assert s.totals["params_1bit"] == sum(c.weight.numel() for c in convs)
    assert s.totals["binary_macs"] == sum(r.binary_macs for r in s.layers if "conv" in r.name)
    assert s.layer("conv1").kind == s.layer("linear").kind == "float"  # first and last layers
    assert {s.layer(f"layer{i}.0.conv1").kind for i in (1, 2, 3)} == {"1-bit"}


def test_binarynet_data_assignment_and_real_first_input():
    s = summary(binarynet.Net, (1, 784), convention="bnn")
    assert s.layer("fc1").kind == "binary-weight"  # the image is not binarized
    assert s.layer("fc2").kind == s.layer("fc3").kind == "1-bit"
    assert s.layer("fc4").kind == "float"
    assert s.totals["binary_macs"] == 2 * 6144 * 6144
    assert s.totals["params_1bit"] == 784 * 6144 + 2 * 6144 * 6144  # weight.data = sign(org)


MODELS = {
    "birealnet": (birealnet.birealnet18, (1, 3, 32, 32), None),
    "irnet": (irnet.resnet20_1w1a, (1, 3, 32, 32), None),
    "binarynet": (binarynet.SmallCNN, (2, 3, 16, 16), None),
    "xnornet": (xnornet.Net, (1, 3, 32, 32), ["BinConv2d"]),
}


@pytest.mark.parametrize("name", MODELS)
def test_every_path_agrees_on_public_style_code(name):
    build, shape, binary = MODELS[name]
    with fixed_seed():
        model, x = build(), torch.randn(shape)
    p = count_paths(model, x, binary=binary)
    for key in ("float_macs", "binary_macs", "bops", "bnn_ops"):
        assert p["thop"][key] == p["dispatch"][key] == p["summary"][key], key
    assert p["summary"]["binary_macs"] > 0
    assert p["flop_counter"]["all_macs"] == p["summary"]["float_macs"] + p["summary"]["binary_macs"]
    assert p["dispatch"]["flops"] == p["summary"]["flops"]


def _cli_json(target: str, *args: str) -> str:
    cmd = [sys.executable, "-m", "xncost", "summary", target, *args, "--format", "json"]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def _five_processes(target: str, *args: str) -> list[str]:
    with ThreadPoolExecutor(5) as pool:
        return list(pool.map(lambda _: _cli_json(target, *args), range(5)))


def test_same_json_in_five_fresh_processes():
    out = _five_processes(f"{FIXTURES / 'irnet.py'}:resnet20_1w1a", "--input", "1x3x32x32")
    assert len(set(out)) == 1
    assert json.loads(out[0])["detection"]["sign_zeros"] > 0  # values matter, and repeat


def test_the_caller_rng_is_restored():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = summary(irnet.resnet20_1w1a, (1, 3, 32, 32))
    after = torch.rand(3)
    b = summary(irnet.resnet20_1w1a, (1, 3, 32, 32))
    assert torch.equal(before, after)
    assert a.to_dict() == b.to_dict()


@pytest.mark.slow
@pytest.mark.parametrize(
    "target,registry,figures",
    [
        ("birealnet.py:birealnet18", "birealnet18", (1_676_279_808, 137_793_536)),
        ("reactnet.py:reactnet", "reactnet-a", (4_816_896_000, 11_862_016)),
    ],
)
def test_published_networks_in_public_style_five_processes(target, registry, figures):
    out = _five_processes(str(FIXTURES / target), "--input", "1x3x224x224", "--convention", "bnn")
    assert len(set(out)) == 1
    t = json.loads(out[0])["totals"]
    assert (t["binary_macs"], t["float_macs"]) == figures
    own = json.loads(_cli_json(registry, "--convention", "bnn"))["totals"]
    assert {k: t[k] for k in SAME} == {k: own[k] for k in SAME}


def test_registering_a_flat_weight_layer_counts_one_scale_per_output_channel():
    from xncost.profile.binary import BINARY_LAYERS, register_binary

    register_binary(birealnet.HardBinaryConv, weights=("weights",))
    try:
        s = summary(birealnet.birealnet18, (1, 3, 32, 32), convention="bnn")
    finally:
        BINARY_LAYERS.pop(birealnet.HardBinaryConv)
    binary = birealnet.HardBinaryConv
    convs = [m for m in birealnet.birealnet18().modules() if isinstance(m, binary)]
    assert s.totals["scales"] == sum(c.shape[0] for c in convs) == 3840  # not the (n, 1) rows
    assert s.totals["params_1bit"] == sum(c.weights.numel() for c in convs)
