"""Reference models (xncost.models): shapes, feature-map sides, parameter counts."""

from __future__ import annotations

import json

import pytest
import torch
from support import invoke
from torch import nn

from xncost.core.layers import caps_layers
from xncost.errors import XncostError
from xncost.models import (
    MODELS,
    build_backbone,
    build_head,
    build_model,
    count_parameters,
    feature_map_side,
    list_models,
    model_name,
    parameter_count,
)
from xncost.models.registry import PUBLISHED_NETWORKS
from xncost.nn.capsule import DynamicRouting, XnBDR, XnIDR, XnODR

pytestmark = pytest.mark.heavy  # seconds per test (tests/conftest.py: not in -m fast)

PAPER_MODELS = [
    "resnet50",
    "resnet_xnodr",
    "resnet_xnidr",
    "resnet_dr",
    "mobilenetv2",
    "mobilenet_xnodr",
    "mobilenet_xnidr",
    "mobilenet_dr",
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small tensors run faster on one thread (and the machine is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _linear_params(dims: tuple[int, ...]) -> int:
    return sum(a * b + b for a, b in zip(dims[:-1], dims[1:], strict=True))


def _millions(n: int) -> float:
    return round(n / 1e6, 2)


def test_registry_names() -> None:
    names = list_models()
    per_backbone = [
        [backbone, *(f"{prefix}_{layer}" for layer in caps_layers())]
        for backbone, prefix in (("resnet50", "resnet"), ("mobilenetv2", "mobilenet"))
    ]
    paper = per_backbone[0] + per_backbone[1]
    assert names[: len(paper)] == paper  # every backbone with every head of the layer registry
    assert set(PAPER_MODELS) < set(paper) and {"resnet_xnbdr", "mobilenet_xnbdr"} < set(paper)
    heads = ("fc", *caps_layers())
    assert [model_name(b, h) for b in ("resnet50", "mobilenetv2") for h in heads] == paper
    assert set(names[len(paper) :]) == {
        "nin",
        "nin-bwn",
        "nin-xnor",
        "alexnet",
        "alexnet-bwn",
        "alexnet-xnor",
        *(row[0] for row in PUBLISHED_NETWORKS),
    }
    assert {"birealnet18", "birealnet34", "xnor-resnet18", "reactnet-a", "vit-b16"} <= set(names)
    assert all(MODELS[n].description for n in names)
    assert all(MODELS[n].has_noup for n in paper)
    assert MODELS["resnet_xnodr"].default_input_side(True) == 224
    assert MODELS["resnet_xnodr"].default_input_side(False) == 32


@pytest.mark.parametrize("name", list_models())
def test_every_model_output_shape_on_meta(name: str) -> None:
    """Shape propagation through the real modules at the default input sizes (no compute)."""
    spec = MODELS[name]
    for up in (True, False) if spec.has_noup else (True,):
        with torch.device("meta"):
            model = build_model(name, upsampling=up, num_classes=7)
            out = model(torch.empty(2, *model.input_shape))
        assert out.shape == (2, 7)


@pytest.mark.parametrize(
    ("name", "upsampling", "side"),
    [
        ("mobilenetv2", False, 32),
        ("mobilenet_xnodr", False, 32),
        ("mobilenet_xnidr", False, 32),
        ("mobilenet_dr", False, 36),
        ("mobilenet_xnbdr", False, 32),
        ("resnet50", False, 16),
        ("resnet_xnodr", False, 16),
        ("resnet_xnbdr", False, 16),
        ("nin", True, 32),
        ("nin-bwn", True, 32),
        ("nin-xnor", True, 32),
    ],
)
def test_real_forward_small_inputs(name: str, upsampling: bool, side: int) -> None:
    torch.manual_seed(0)
    model = build_model(name, upsampling=upsampling, input_side=side).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, side, side))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    if MODELS[name].kind in caps_layers():
        assert bool((out >= 0).all())  # capsule lengths


@pytest.mark.parametrize(
    ("backbone", "upsampling", "side", "expected"),
    [
        ("resnet50", True, 224, 7),
        ("resnet50", True, 108, 4),
        ("resnet50", False, 32, 4),
        ("resnet50", False, 36, 5),
        ("mobilenetv2", True, 224, 7),
        ("mobilenetv2", True, 108, 4),
        ("mobilenetv2", False, 32, 2),
        ("mobilenetv2", False, 36, 3),
    ],
)
def test_feature_map_side_examples(backbone: str, upsampling: bool, side: int, expected: int):
    assert feature_map_side(backbone, upsampling, side) == expected


SWEEP_SIDES = [1, 2, 7, 16, 17, 33, 36, 108, 224]


@pytest.mark.parametrize("backbone", ["resnet50", "mobilenetv2"])
@pytest.mark.parametrize("upsampling", [True, False])
def test_feature_map_side_agrees_with_backbone_on_meta(backbone: str, upsampling: bool) -> None:
    """Odd and even sides through the real modules (shape propagation on the meta device);
    the backbone of a capsule model, without its last stage, ends at the same side."""
    with torch.device("meta"):
        full = build_backbone(backbone, upsampling=upsampling).eval()
        cut = build_backbone(backbone, upsampling=upsampling, head="xnodr").eval()
        for side in SWEEP_SIDES:
            s = feature_map_side(backbone, upsampling, side)
            out = full(torch.empty(1, 3, side, side))
            assert out.shape == (1, full.out_channels, s, s), side
        for side in (36,):
            s = feature_map_side(backbone, upsampling, side)
            assert cut(torch.empty(1, 3, side, side)).shape == (1, cut.out_channels, s, s)


@pytest.mark.parametrize(
    ("backbone", "upsampling", "side"),
    [("mobilenetv2", True, 108), ("mobilenetv2", False, 36), ("resnet50", False, 20)],
)
def test_feature_map_side_agrees_with_real_run(backbone: str, upsampling: bool, side: int):
    net = build_backbone(backbone, upsampling=upsampling).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, side, side))
    s = feature_map_side(backbone, upsampling, side)
    assert out.shape == (1, net.out_channels, s, s)


def test_mobilenet_fc_head_params_and_flops() -> None:
    head = build_head("mobilenetv2", "fc", feature_channels=1280, feature_map_side=7)
    dims = (1280, 512, 256, 128, 10)
    assert head.dims == dims
    assert count_parameters(head) == _linear_params(dims) == 821_386
    macs = sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=True))
    assert 2 * macs == 1_640_960  # Table 9 "1.64M" (docs/conventions.md)


@pytest.mark.parametrize(("s", "flops"), [(4, 68_167_680), (3, 38_807_552), (2, 17_836_032)])
def test_resnet_flattened_fc_head_params_and_flops(s: int, flops: int) -> None:
    head = build_head("resnet50", "fc", feature_channels=2048, feature_map_side=s)
    dims = (2048 * s * s, 1024, 512, 10)
    assert head.dims == dims
    assert count_parameters(head) == _linear_params(dims)
    weights = count_parameters(head) - (1024 + 512 + 10)
    assert 2 * weights == flops  # Table 5/9 FC figures are of a flattened map (docs/paper.md)
    out = head(torch.randn(2, 2048, s, s))
    assert out.shape == (2, 10)


def test_resnet_gap_fc_head() -> None:
    head = build_head("resnet50", "fc", feature_channels=2048, feature_map_side=7, pool="gap")
    assert head.dims == (2048, 1024, 512, 10)
    assert count_parameters(head) == _linear_params(head.dims)
    code = build_head("resnet50", "fc", feature_channels=2048, feature_map_side=7, variant="code")
    assert code.dims == head.dims


def test_backbone_params_match_keras_applications() -> None:
    """Keras ResNet50 / MobileNetV2 without top: 23,534,592 and 2,223,872 trainable params
    (the paper's framework; totals 25,583,592 and 3,504,872 minus the 1000-way classifier)."""
    with torch.device("meta"):
        resnet = build_backbone("resnet50", upsampling=True)
        mobilenet = build_backbone("mobilenetv2", upsampling=True)
    assert count_parameters(resnet) == 25_583_592 - (2048 * 1000 + 1000)
    assert count_parameters(mobilenet) == 3_504_872 - (1280 * 1000 + 1000)


@pytest.mark.parametrize(
    ("name", "kwargs", "paper_millions"),
    [
        ("mobilenetv2", {"upsampling": True}, 3.05),
        ("mobilenetv2", {"upsampling": False}, 3.05),
        ("resnet50", {"upsampling": True, "variant": "code"}, 26.16),
        ("resnet50", {"upsampling": False, "input_side": 16}, 32.45),  # 2x2 map
        ("resnet50", {"upsampling": False, "input_side": 20}, 42.93),  # 3x3 map
        ("resnet_xnodr", {"upsampling": True}, 23.86),
        ("resnet_xnidr", {"upsampling": True}, 23.86),
        ("resnet_dr", {"upsampling": True}, 23.86),
        ("resnet_xnodr", {"upsampling": False}, 23.85),
        ("resnet_xnidr", {"upsampling": False}, 23.85),
        ("resnet_dr", {"upsampling": False}, 23.85),
        ("resnet_xnbdr", {"upsampling": False}, 23.85),
        ("mobilenet_xnodr", {"upsampling": False}, 2.43),
        ("mobilenet_xnidr", {"upsampling": False}, 2.43),
        ("mobilenet_dr", {"upsampling": False}, 2.43),
    ],
)
def test_params_round_to_table_4(name: str, kwargs: dict, paper_millions: float) -> None:
    assert _millions(parameter_count(name, **kwargs)) == paper_millions


def test_capsule_models_differ_only_in_the_capsule_layer() -> None:
    counts = {n: parameter_count(n, upsampling=False) for n in ("resnet_dr", "resnet_xnodr")}
    assert counts["resnet_dr"] == counts["resnet_xnodr"]
    # Replacing the last identity block by an identical PrimaryCaps block leaves the backbone
    # count unchanged; the capsule weights N*M*D*E and two BatchNorms (E=16) are added.
    with torch.device("meta"):
        backbone = build_backbone("resnet50", upsampling=False)
    assert counts["resnet_dr"] == count_parameters(backbone) + 256 * 10 * 8 * 16 + 2 * 16


@pytest.mark.parametrize(
    ("name", "variant", "cls", "caps_in"),
    [
        ("mobilenet_xnodr", "paper", XnODR, 160),
        ("mobilenet_xnidr", "code", XnIDR, 128),
        ("mobilenet_dr", "paper", DynamicRouting, 160),
        ("resnet_xnodr", "paper", XnODR, 256),
        ("resnet_xnidr", "code", XnIDR, 256),
        ("resnet_dr", "paper", DynamicRouting, 256),
        ("mobilenet_xnbdr", "code", XnBDR, 128),
        ("resnet_xnbdr", "paper", XnBDR, 256),
    ],
)
def test_capsule_heads_expose_caps(name: str, variant: str, cls: type, caps_in: int) -> None:
    with torch.device("meta"):
        model = build_model(name, variant=variant, num_classes=5)
    caps = model.head.caps
    assert isinstance(caps, cls)
    assert (caps.caps_in, caps.caps_out, caps.dim_in, caps.dim_out) == (caps_in, 5, 8, 16)
    assert caps.iterations == 3


def test_mobilenet_primary_caps_replaces_last_conv() -> None:
    with torch.device("meta"):
        paper = build_backbone("mobilenetv2", upsampling=True, head="xnodr")
        code = build_backbone("mobilenetv2", upsampling=True, head="xnodr", variant="code")
        resnet = build_backbone("resnet50", upsampling=True, head="dr")
    assert paper.out_channels == 320 and paper.last_conv is None
    assert code.out_channels == 1280
    assert len(resnet.layer4) == 2


def _nin_hand_count() -> int:
    """Convolutions (k^2 c_in c_out + c_out) and one affine BN (2 per channel) per output
    width: the NIN of github.com/jiecaoyu/XNOR-Net-PyTorch."""
    layers = [(3, 192, 5), (192, 160, 1), (160, 96, 1), (96, 192, 5), (192, 192, 1)]
    layers += [(192, 192, 1), (192, 192, 3), (192, 192, 1), (192, 10, 1)]
    return sum(k * k * a * b + b + 2 * b for a, b, k in layers)


@pytest.mark.parametrize("name", ["nin", "nin-bwn", "nin-xnor"])
def test_nin_params_match_seed(name: str) -> None:
    n = parameter_count(name)
    assert n == _nin_hand_count()
    assert round(n / 1e3, 2) == 969.82  # ptflops' "969.82 k" (docs/attributions.md)


def test_binary_models_use_xnor_layers_except_first_and_last() -> None:
    from xncost.nn.xnor import XnorConv2d

    for name, mode, n_binary in (("nin-xnor", "xnor", 7), ("nin-bwn", "bwn", 7)):
        model = build_model(name)
        binary = [m for m in model.modules() if isinstance(m, XnorConv2d)]
        assert len(binary) == n_binary and all(m.mode == mode for m in binary)
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == 2  # first and last stay float
    with torch.device("meta"):
        for name, mode in (("alexnet-xnor", "xnor"), ("alexnet-bwn", "bwn")):
            model = build_model(name)
            binary = [m for m in model.modules() if isinstance(m, XnorConv2d)]
            assert len(binary) == 6 and all(m.mode == mode for m in binary)
            assert [m.dot_length for m in binary][-2:] == [256 * 6 * 6, 4096]


def test_alexnet_params_hand_count() -> None:
    convs = [(3, 96, 11), (96, 256, 5), (256, 384, 3), (384, 384, 3), (384, 256, 3)]
    convs += [(256, 4096, 6), (4096, 4096, 1)]
    weights = sum(k * k * a * b + b for a, b, k in convs) + 4096 * 10 + 10
    bn = 2 * sum(b for _, b, _ in convs)
    assert parameter_count("alexnet") == weights + bn
    assert parameter_count("alexnet-bwn") == weights + bn
    assert parameter_count("alexnet-xnor") == weights  # its BatchNorms have no affine


@pytest.mark.parametrize(
    "call",
    [
        lambda: build_model("resnet-51"),
        lambda: build_model("mobilenet_xnodr", num_classes=0),
        lambda: build_model("mobilenet_xnodr", in_channels=True),
        lambda: build_model("mobilenet_xnodr", variant="keras"),
        lambda: build_model("nin", upsampling=False),
        lambda: build_model("alexnet", input_side=32),
        lambda: build_model("resnet50", input_side=-3),
        lambda: build_backbone("vgg16", upsampling=True),
        lambda: build_head("resnet50", "capsnet", feature_channels=2048, feature_map_side=4),
        lambda: build_head("resnet50", "xnodr", feature_channels=1024, feature_map_side=4),
        lambda: model_name("vgg16", "xnodr"),
        lambda: model_name("resnet50", "capsnet"),
        lambda: feature_map_side("resnet50", True, 0),
    ],
)
def test_bad_input_raises_xncost_error(call) -> None:
    with pytest.raises(XncostError):
        call()


def test_models_command_json() -> None:
    typer = pytest.importorskip("typer")

    from xncost.cli.commands.models import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps `models` a named subcommand
        pass

    result = invoke(["models", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    by_key = {(r["name"], r["upsampling"]): r for r in rows}
    assert by_key[("nin", None)]["params"] == _nin_hand_count()
    assert by_key[("mobilenetv2", True)]["input"] == [3, 224, 224]
    assert by_key[("mobilenet_xnodr", False)]["input"] == [3, 32, 32]
    assert {r["name"] for r in rows} == set(list_models())


@pytest.mark.parametrize(
    ("name", "side", "message"),
    [
        ("nin-xnor", 64, "takes 32x32 inputs only"),
        ("alexnet", 256, "takes 224x224 inputs only"),
        ("birealnet18", 240, "multiple of 32, got 240"),
        ("vit-b16", 232, "multiple of 16, got 232"),
    ],
)
def test_networks_refuse_sides_they_cannot_take(name: str, side: int, message: str) -> None:
    with pytest.raises(XncostError, match=message):
        build_model(name, input_side=side)


@pytest.mark.parametrize(("name", "side"), [("birealnet18", 96), ("vit-b16", 48)])
def test_networks_take_sides_of_their_step(name: str, side: int) -> None:
    net = build_model(name, input_side=side).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 3, side, side)).shape == (1, 1000)


def test_vit_b16_has_torchvision_parameters() -> None:
    # torchvision 0.2x, ViT_B_16_Weights.IMAGENET1K_V1.meta["num_params"] (docs.pytorch.org)
    assert parameter_count("vit-b16") == 86_567_656
