"""The layer registry (xncost.core.layers): entries resolve, every list of layers, heads, models,
training choices and bench rows derives from it (also for a layer registered at run time),
duplicates refused, and every capsule layer trains on every backbone."""

import inspect
import subprocess
import sys

import pytest
import torch
from support import invoke
from torch import nn

from xncost.cli.app import Layer
from xncost.core import layers
from xncost.core.accounting import PROJECTORS, breakdown
from xncost.core.layers import LAYERS, LayerSpec, caps_layers, get_layer, head_names, layer_names
from xncost.core.shapes import CAPS_PRESETS, FCShape
from xncost.errors import XncostError
from xncost.nn.capsule import XnIDR

SYMBOLS = {"N", "M", "D", "E", "r", "B", "word"}


@pytest.mark.parametrize("name", layer_names())
def test_entry_resolves(name):
    spec = get_layer(name)
    shape = CAPS_PRESETS["mobilenet"] if spec.is_caps else FCShape((7, 5, 3), 2)
    steps = spec.step_function()(shape, breakdown(name, shape).convention)
    assert steps and all(s.name for s in steps)
    if spec.is_caps:
        assert issubclass(spec.module_class(), nn.Module)
    formula = spec.speedup_formula()
    assert (formula is None) == (breakdown(name, shape).speedup is None)
    if formula is not None:
        assert set(inspect.signature(formula).parameters) <= SYMBOLS
        assert spec.speedup_label


def test_lists_derive_from_the_registry():
    from xncost.cli.commands.analysis import CAPS_LAYERS as SWEEP_LAYERS
    from xncost.cli.commands.train import HEADS
    from xncost.core.evaluate import CAPS_LAYERS
    from xncost.core.plots import LABELS
    from xncost.kernels import cases as kc
    from xncost.profile.measure import LAYERS as MEASURED

    names = layer_names()
    assert [m.value for m in Layer] == list(names) == list(MEASURED)
    assert HEADS.choices == head_names() == ("fc", *caps_layers())
    assert CAPS_LAYERS == SWEEP_LAYERS == caps_layers()
    assert set(LABELS) == set(names)
    assert "fc" in names and "fc" not in caps_layers()
    assert kc.bench_layers() == (*(n for n in caps_layers() if get_layer(n).xnorizes), "gemm")
    assert kc.excluded_layers() == {"dr": "it xnorizes no product"}


@pytest.mark.parametrize("name", layer_names())
def test_xnorizes_names_the_projectors_of_the_steps(name):
    """`LayerSpec.xnorizes` (what the bench times) is what the step function computes."""
    spec = get_layer(name)
    shape = CAPS_PRESETS["mobilenet"] if spec.is_caps else FCShape((7, 5, 3), 2)
    steps = {s.name for s in spec.step_function()(shape, breakdown(name, shape).convention)}
    assert spec.xnorizes == tuple(p.xnor_step for p in PROJECTORS if p.xnor_step in steps)


def test_help_lists_every_layer():
    r = invoke(["cost", "--help"])
    assert r.exit_code == 0
    assert all(name in r.output for name in layer_names())


def test_duplicate_refused_and_override_allowed():
    spec = get_layer("dr")
    with pytest.raises(XncostError, match="already registered"):
        layers.register(spec)
    assert layers.register(spec, override=True) is spec
    assert list(LAYERS) == list(layer_names())
    with pytest.raises(XncostError, match="shape kind"):
        layers.register(LayerSpec("x", "X", "", "conv", "xncost.core.accounting:dr_steps"))
    with pytest.raises(XncostError, match="needs a reference module"):
        layers.register(LayerSpec("x", "X", "", "caps", "xncost.core.accounting:dr_steps"))
    assert "x" not in LAYERS
    with pytest.raises(XncostError, match="unknown layer 'x'"):
        layers.unregister("x")


def test_unknown_layer_is_one_clear_error():
    with pytest.raises(XncostError, match="unknown layer 'capsnet'"):
        get_layer("capsnet")
    with pytest.raises(XncostError, match="unknown layer"):
        breakdown("capsnet", CAPS_PRESETS["mobilenet"])
    with pytest.raises(XncostError, match="has no reference module"):
        get_layer("fc").module_class()


def test_registry_imports_nothing_heavy():
    code = (
        "import sys, xncost.core.layers; "
        "print(sorted(m for m in ('torch', 'sympy', 'numpy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class ToyCaps(XnIDR):
    """A throw-away capsule layer for the plug-in test: XnIDR's steps under another name."""


TOY = LayerSpec(
    "toy",
    "Toy",
    "a throw-away layer registered by a test",
    "caps",
    "xncost.core.accounting:xnidr_steps",
    f"{__name__}:ToyCaps",
    "xncost.core.formulas:eq15_speedup",
    "Eq. 15",
    xnorizes=("xnor_agreement",),
)


@pytest.fixture
def toy_layer():
    """TOY registered for one test, unregistered after it (also when it fails)."""
    layers.register(TOY)
    try:
        yield TOY
    finally:
        layers.unregister(TOY.name)
    assert TOY.name not in LAYERS


@pytest.mark.heavy
def test_a_layer_registered_at_run_time_reaches_every_command(toy_layer):
    """One register() call: heads, models, `xncost models`, training choices and the bench
    rows all see the new layer; unregistering removes it everywhere."""
    import json

    from xncost.cli.commands.train import BACKBONES, HEADS
    from xncost.kernels import bench as kb
    from xncost.kernels import cases as kc
    from xncost.models import MODELS, build_head, build_model, list_models, model_name
    from xncost.models.tiny import build_tiny_model
    from xncost.train import loop

    assert head_names()[-1] == caps_layers()[-1] == "toy"
    assert "toy" in HEADS.choices and BACKBONES.choices == loop.BACKBONES
    help_text = invoke(["train", "--help"], env={"COLUMNS": "200"}).output
    assert f"|{head_names()[-2]}|toy]" in help_text
    assert loop.TrainConfig(head="toy", backbone="resnet50").loss == "margin"

    toy_models = {"resnet_toy", "mobilenet_toy"}
    assert toy_models <= set(list_models()) and toy_models <= set(MODELS)
    assert model_name("mobilenetv2", "toy") == "mobilenet_toy"
    assert MODELS["resnet_toy"].kind == "toy"
    assert "Toy capsule head" in MODELS["resnet_toy"].description
    with torch.device("meta"):
        model = build_model("mobilenet_toy", upsampling=False)
        head = build_head("resnet50", "toy", feature_channels=2048, feature_map_side=2)
    assert type(model.head.caps) is ToyCaps and type(head.caps) is ToyCaps
    tiny = build_tiny_model("toy", in_channels=1, image_side=8, num_classes=10)
    assert type(tiny.caps) is ToyCaps

    r = invoke(["models", "--format", "json"])
    assert r.exit_code == 0, r.output
    params = {(row["name"], row["upsampling"]): row["params"] for row in json.loads(r.stdout)}
    # ToyCaps has XnIDR's weights, so its models have the xnidr models' parameters
    for up in (True, False):
        assert params[("mobilenet_toy", up)] == params[("mobilenet_xnidr", up)] > 0

    assert "toy" in kc.bench_layers() and "toy" in kc.infer_layers("caps_in=4")
    assert ("toy", kc.PAPER_SHAPES[0]) in kb.default_items()
    case = kc.make_case("toy", kc.CapsBenchShape(caps_in=3, caps_out=2, batch=2))
    kc.check_case(case)
    assert kc.theory("toy", kc.PAPER_SHAPES[0]) == kc.theory("xnidr", kc.PAPER_SHAPES[0])

    layers.unregister("toy")
    try:
        assert "toy" not in HEADS.choices and "resnet_toy" not in MODELS
        assert "toy" not in kc.bench_layers()
        with pytest.raises(XncostError, match="unknown head 'toy'"):
            loop.TrainConfig(head="toy")
    finally:
        layers.register(TOY)


def test_xnbdr_bench_row_times_both_products():
    """The bench row of a layer with two xnorized products runs both kernels per call and
    checks, sizes and prices both (xnbdr: XnODR's LP_out, then XnIDR's agreement)."""
    from fractions import Fraction

    import numpy as np

    from xncost.core import formulas
    from xncost.kernels import cases as kc

    s = kc.CapsBenchShape(caps_in=3, caps_out=2, batch=2)
    case = kc.make_case("xnbdr", s)
    kc.check_case(case)
    affine, agreement = case.binary_fn()
    assert affine.shape == (2, 3, 2, 16) and agreement.shape == (2, 3, 2)
    # one generator draws the operands in order: the first product is xnodr's row's
    assert np.array_equal(affine, kc.make_case("xnodr", s).binary_fn())
    right = case.binary_fn
    case.binary_fn = lambda: [right()[0], right()[1] + 1]
    with pytest.raises(AssertionError):
        kc.check_case(case)

    n, m, d, e = 160, 10, 8, 16
    t = kc.theory("xnbdr", kc.PAPER_SHAPES[0])
    assert t["printed"] == formulas.xnbdr_speedup(n, m, d, e)
    assert t["equation"] == get_layer("xnbdr").speedup_label
    bits = d * n * m * e + e * n * m  # n·m·e dot products of length d, n·m of length e
    assert t["corrected"] == Fraction(64 * bits, bits + 64 * (n * m * e + n * m))
    assert t["word_bound"] == Fraction(bits, n * m * e + n * m)  # both fit one word
    assert kc.dot_length("xnbdr", s) == "8+16"

    # the memory bound counts both products: XnODR's part outgrows it, XnIDR's does not
    n_big = next(
        2**k
        for k in range(8, 40)
        if kc.peak_bytes("xnbdr", kc.CapsBenchShape(caps_in=2**k)) > kc.MAX_CASE_BYTES
    )
    kc.parse_shape("xnidr", f"caps_in={n_big}")
    with pytest.raises(XncostError, match="bytes"):
        kc.parse_shape("xnbdr", f"caps_in={n_big}")


def _synthetic_digits(n: int = 8):
    """An 8x8 one-channel data set whose class is drawn into the image."""
    import numpy as np

    from xncost.train.data import DataBundle, Split

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=n)
    images = rng.integers(0, 4, size=(n, 1, 8, 8)).astype(np.uint8)
    images[np.arange(n), 0, labels % 8, labels // 8 * 4] = 16
    split = Split(images, labels.astype(np.int64))
    return DataBundle("synthetic", split, split, 10, 16, False)


def _backbones():
    from xncost.train.loop import BACKBONES

    return BACKBONES


@pytest.mark.heavy
@pytest.mark.parametrize("backbone", _backbones())
@pytest.mark.parametrize("name", caps_layers())
def test_every_caps_layer_trains_on_every_backbone(name, backbone):
    """The training loop's model for (backbone, head): one forward pass gives class scores
    (capsule lengths), one optimizer step changes the capsule layer's weights."""
    from xncost.train import loop
    from xncost.train.losses import get_loss
    from xncost.train.schedule import make_optimizer

    config = loop.TrainConfig(head=name, backbone=backbone)
    data = _synthetic_digits()
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = loop.build_model(config, data)
        caps = model.caps if backbone == "tiny" else model.head.caps
        assert type(caps) is get_layer(name).module_class()
        batches = loop.Batches(data, loop.input_side(config, data), torch.device("cpu"))
        x, y = batches.get(data.train, torch.arange(4))
        with torch.no_grad():
            out = model.eval()(x)
        assert out.shape == (4, 10) and torch.isfinite(out).all() and (out >= 0).all()
        before = [p.detach().clone() for p in caps.parameters()]
        opt = make_optimizer(model.parameters())
        loss, _ = loop.train_step(model, x, y, get_loss(config.loss), opt)
    finally:
        torch.set_num_threads(threads)
    assert before and loss == loss and loss > 0  # finite (not NaN), positive margin loss
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in caps.parameters())
    assert any(not torch.equal(b, p) for b, p in zip(before, caps.parameters(), strict=True))


@pytest.mark.heavy
def test_speedup_plot_for_every_layer_with_an_equation(tmp_path):
    pytest.importorskip("matplotlib")
    from xncost.core.plots import speedup_plot

    fixed = {"caps_in": 160, "caps_out": 10, "dim_in": 8, "dim_out": 16, "iterations": 3}
    fixed["batch"] = 1
    with_eq = [n for n in caps_layers() if get_layer(n).speedup is not None]
    assert "xnodr" in with_eq and "dr" not in with_eq
    for name in with_eq:
        path = speedup_plot(name, (16, 64), (8, 16), fixed, tmp_path / f"{name}.png")
        assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(XncostError, match="speed-up plots are for"):
        speedup_plot("dr", (16,), (8,), fixed, tmp_path / "dr.png")
    assert not (tmp_path / "dr.png").exists()
