"""The layer registry (xncost.layers): entries resolve, lists derive from it, duplicates refused."""

import inspect
import subprocess
import sys

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from xncost import layers
from xncost.accounting import breakdown
from xncost.cli import Layer, app
from xncost.errors import XncostError
from xncost.layers import LAYERS, LayerSpec, caps_layers, get_layer, layer_names
from xncost.shapes import CAPS_PRESETS, FCShape

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
    from xncost.commands.analysis import CAPS_LAYERS as SWEEP_LAYERS
    from xncost.commands.train import Head
    from xncost.evaluate import CAPS_LAYERS
    from xncost.models import heads, tiny
    from xncost.plots import LABELS
    from xncost.profile.measure import LAYERS as MEASURED
    from xncost.train.loop import HEADS

    names = layer_names()
    assert [m.value for m in Layer] == [m.value for m in Head] == list(names)
    assert HEADS == heads.HEADS == tiny.HEADS == MEASURED == names
    assert CAPS_LAYERS == SWEEP_LAYERS == caps_layers() == tuple(heads.CAPS_LAYERS)
    assert set(LABELS) == set(names)
    assert "fc" in names and "fc" not in caps_layers()


def test_help_lists_every_layer():
    r = CliRunner().invoke(app, ["cost", "--help"])
    assert r.exit_code == 0
    assert all(name in r.output for name in layer_names())


def test_duplicate_refused_and_override_allowed():
    spec = get_layer("dr")
    with pytest.raises(XncostError, match="already registered"):
        layers.register(spec)
    assert layers.register(spec, override=True) is spec
    assert list(LAYERS) == list(layer_names())
    with pytest.raises(XncostError, match="shape kind"):
        layers.register(LayerSpec("x", "X", "", "conv", "xncost.accounting:dr_steps"))
    assert "x" not in LAYERS


def test_unknown_layer_is_one_clear_error():
    with pytest.raises(XncostError, match="unknown layer 'capsnet'"):
        get_layer("capsnet")
    with pytest.raises(XncostError, match="unknown layer"):
        breakdown("capsnet", CAPS_PRESETS["mobilenet"])
    with pytest.raises(XncostError, match="has no reference module"):
        get_layer("fc").module_class()


def test_registry_imports_nothing_heavy():
    code = (
        "import sys, xncost.layers; "
        "print(sorted(m for m in ('torch', 'sympy', 'numpy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", caps_layers())
def test_every_caps_layer_is_a_trainable_head(name):
    from xncost.models.tiny import build_tiny_model
    from xncost.train.loop import TrainConfig

    assert TrainConfig(head=name).head == name
    torch.manual_seed(0)
    model = build_tiny_model(name, in_channels=1, image_side=8, num_classes=10)
    out = model(torch.randn(2, 1, 8, 8))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.sum().backward()
    grads = [p.grad for p in model.caps.parameters()]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def test_speedup_plot_for_every_layer_with_an_equation(tmp_path):
    pytest.importorskip("matplotlib")
    from xncost.plots import speedup_plot

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
