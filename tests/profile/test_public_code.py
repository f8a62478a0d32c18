"""Public BNN code run unchanged (docs/conventions.md, "Your own model, unchanged"): the
loader's accommodations (packages and relative imports, sibling directories, module-level
argparse, missing modules stood in for, CUDA on the CPU, legacy autograd Functions, factory
arguments, DataParallel) and the binarization idioms of tests/fixtures/public_style/idioms.py,
each re-created here in the style of public repositories; expected counts from the layer
shapes."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from support import PUBLIC_STYLE, REPO, invoke

from xncost.models.transformers import EncoderClassifier
from xncost.profile import compat
from xncost.profile.paths import count_paths
from xncost.profile.summary import fixed_seed, summarize_reference, summary

FIXTURES = PUBLIC_STYLE
sys.path.insert(0, str(FIXTURES))
import binop_kernel  # noqa: E402
import idioms  # noqa: E402
import legacy  # noqa: E402
import step1  # noqa: E402
import xnornet  # noqa: E402


def conv_macs(c_out: int, side: int, c_in: int, k: int) -> int:
    """MACs of a convolution with `side` x `side` outputs."""
    return c_out * side * side * c_in * k * k


CONV = conv_macs(16, 6, 8, 3)  # the idioms' 8 -> 16 3x3 convolution at 6x6


@pytest.mark.parametrize(
    "build,shape,binary,float_macs",
    [
        (idioms.MaskedWrites, (1, 8, 6, 6), CONV, 0),
        (idioms.ScaledActivation, (1, 8, 6, 6), CONV, 0),
        (idioms.DataAssign, (1, 8, 6, 6), CONV, 0),
        (idioms.BufferWeights, (1, 8, 6, 6), CONV, 0),
        (idioms.HardtanhSte, (1, 8, 6, 6), CONV, 0),
        (idioms.TupleOutput, (1, 8, 6, 6), CONV, 16 * 4),
        (
            idioms.BinarizedInput,
            (1, 3, 8, 8),
            conv_macs(8, 8, 3, 3) + conv_macs(16, 4, 8, 3) + conv_macs(16, 4, 8, 1),
            0,
        ),
    ],
)
def test_each_idiom_is_one_bit_without_registration(build, shape, binary, float_macs):
    s = summary(build, shape, convention="bnn")
    t = s.totals
    assert (t["binary_macs"], t["float_macs"]) == (binary, float_macs)
    assert not [w for w in s.warnings if w.startswith("warning")]
    assert not s.unknown_ops  # masked writes and paddings have rules


def test_scales_of_the_idioms():
    xnor = summary(idioms.ScaledActivation, (1, 8, 6, 6), convention="bnn").totals
    assert (xnor["params_1bit"], xnor["scales"]) == (16 * 8 * 9, 16)  # alpha per filter
    masked = summary(idioms.MaskedWrites, (1, 8, 6, 6), convention="bnn").totals
    assert (masked["params_1bit"], masked["scales"]) == (16 * 8 * 9, 1)  # plain +-1


def test_masks_against_zero_are_sign_a_threshold_is_ternary():
    s = summary(idioms.ZerosThenMasks, (1, 8, 6, 6), convention="bnn")
    t = s.totals
    assert t["binary_macs"] == CONV  # zeros, then x > 0 -> 1, x < 0 -> -1: sign(x)
    assert t["ternary_macs"] == t["float_macs"] == conv_macs(16, 6, 16, 3)  # w > t, w < -t
    assert [r.kind for r in s.layers if r.kind] == ["1-bit+ternary"]


def test_a_per_position_scale_needs_a_binarization():
    class Float(torch.nn.Module):  # per-position magnitudes, but never binarized
        def forward(self, x):
            k = x.abs().mean(dim=1, keepdim=True)
            xb = torch.ones_like(x) * k
            return torch.nn.functional.conv2d(xb, torch.sign(torch.ones(4, 8, 3, 3)))

    assert summary(Float, (1, 8, 6, 6), convention="bnn").totals["binary_macs"] == 0


@pytest.mark.parametrize("build", [idioms.MaskedWrites, idioms.ScaledActivation])
def test_the_counting_paths_agree_on_the_idioms(build):
    """thop sees modules, not these functional convolutions (docs/conventions.md)."""
    with fixed_seed():
        model, x = build(), torch.randn(1, 8, 6, 6)
    p = count_paths(model, x)
    for key in ("float_macs", "binary_macs", "flops", "bops", "bnn_ops"):
        assert p["dispatch"][key] == p["summary"][key], key
    assert p["summary"]["binary_macs"] == p["flop_counter"]["all_macs"] == CONV


def test_legacy_autograd_functions_run_as_plain_calls():
    s = summary(legacy.LeNet, (1, 1, 28, 28), convention="bnn")
    kinds = {r.name: r.kind for r in s.layers if r.kind}
    assert kinds == {
        "conv1": "float",
        "bin_conv2.conv": "binary-activation",  # BinActive()(x), weights trained to +-1
        "bin_ip1": "1-bit",  # Binarize.apply (legacy) and SignSTE()(w) (static, on an instance)
        "ip2": "float",
    }
    t = s.totals
    assert t["binary_macs"] == 32 * 16 * 4 * 4
    assert t["binary_activation_macs"] == conv_macs(16, 8, 8, 5)  # 12x12 in, 5x5
    assert any("BinActive, SignSTE" in n and "plain call" in n for n in s.notes)
    with pytest.raises(RuntimeError, match="Legacy autograd function"):
        legacy.BinActive()(torch.ones(2))  # torch's own behaviour is back after the summary


def _gpu_expected() -> tuple[int, int]:
    binary = conv_macs(16, 16, 16, 3) + conv_macs(32, 8, 16, 3)
    return binary, conv_macs(16, 16, 3, 3) + 32 * 10


def test_cuda_requests_run_on_the_cpu_and_say_so():
    s = summarize_reference(f"{FIXTURES / 'gpu.py'}:net", [(1, 3, 16, 16)], convention="bnn")
    assert (s.totals["binary_macs"], s.totals["float_macs"]) == _gpu_expected()
    (note,) = [n for n in s.notes if "CUDA" in n]
    for call in ("Tensor.cuda", "Tensor.to(cuda)", "device= in zeros", "torch.cuda.set_device"):
        assert call in note
    assert "ran on the CPU" in note
    with pytest.raises((AssertionError, RuntimeError)):
        torch.zeros(1).cuda()  # nothing leaks out of the summary
    with pytest.raises((AssertionError, AttributeError, RuntimeError)):
        torch.cuda.set_device(0)


def test_cuda_asked_for_in_forward_only_runs_on_the_cpu():
    s = summarize_reference(
        f"{FIXTURES / 'cuda_in_forward.py'}:Net", [(1, 3, 16, 16)], convention="bnn"
    )
    t = s.totals
    assert (t["binary_macs"], t["float_macs"]) == (
        conv_macs(16, 16, 16, 3),
        conv_macs(16, 16, 3, 3),
    )
    assert any("CUDA (Tensor.cuda x1)" in n for n in s.notes)


def test_a_model_that_never_asks_for_cuda_runs_as_it_would_without_xncost():
    """No torch function mode in its forward pass: nn.TransformerEncoderLayer keeps its fused
    kernel (under a mode torch takes the math path, priced differently)."""
    target = f"{REPO / 'xncost' / 'models' / 'transformers.py'}:EncoderClassifier"
    loaded = summarize_reference(target, [(1, 64, 32)])
    direct = summary(EncoderClassifier, (1, 64, 32))
    assert loaded.flops_by_convention == direct.flops_by_convention and not loaded.notes
    with compat.session() as acc, compat.on_the_cpu(acc):
        moded = summary(EncoderClassifier, (1, 64, 32))
    assert moded.flops_by_convention["ops"] != direct.flops_by_convention["ops"]


def test_a_dataparallel_wrapper_is_counted_unwrapped():
    s = summarize_reference(f"{FIXTURES / 'gpu.py'}:net_dp", [(1, 3, 16, 16)], convention="bnn")
    assert (s.totals["binary_macs"], s.totals["float_macs"]) == _gpu_expected()
    assert s.layer("conv2").kind == "1-bit" and s.model == "net_dp"
    assert any("wrapped in DataParallel" in n for n in s.notes)


def _cli(cwd: Path, monkeypatch, target: str, *args: str):
    monkeypatch.chdir(cwd)
    return invoke(["summary", target, "--convention", "bnn", *args])


def _json(cwd: Path, monkeypatch, target: str, shape: str = "1x3x16x16") -> dict:
    """`xncost summary TARGET --input SHAPE --convention bnn -f json` run from `cwd`,
    succeeding: its JSON."""
    r = _cli(cwd, monkeypatch, target, "--input", shape, "-f", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


RESNET_BIN = "pkg_binarynet/models/resnet_bin.py:resnet_bin(dataset='cifar10')"


def test_a_package_file_with_relative_imports_and_torchvision_missing(monkeypatch):
    d = _json(FIXTURES, monkeypatch, RESNET_BIN)
    t = d["totals"]
    blocks = 2 * conv_macs(16, 16, 16, 3) + conv_macs(32, 8, 16, 3) + conv_macs(32, 8, 32, 3)
    assert t["binary_macs"] == blocks + conv_macs(32, 8, 16, 1) + 32 * 10  # 1-bit shortcut, fc
    assert t["float_macs"] == t["binary_weight_macs"] == conv_macs(16, 16, 3, 3)  # the image
    assert d["model"] == "resnet_bin(dataset='cifar10')"
    (note,) = [w for w in d["warnings"] if "torchvision" in w]
    assert "not installed" in note and "never used it" in note
    assert "models" not in sys.modules and "torchvision" not in sys.modules


def test_a_missing_module_used_only_at_build_is_said_so(monkeypatch):
    target = "pkg_binarynet/models/vgg_bin.py:vgg_bin"
    (note,) = [
        w for w in _json(FIXTURES, monkeypatch, target, "1x3x8x8")["warnings"] if "torchvision" in w
    ]
    assert "torchvision.transforms.Normalize" in note and "never in its forward pass" in note


def test_a_missing_module_the_model_needs_is_named(monkeypatch):
    r = _cli(FIXTURES, monkeypatch, "needs_torchvision.py:BinaryHead", "--input", "1x3x16x16")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert r.stderr.startswith("xncost: error: ")
    assert "torchvision.models.resnet18" in r.stderr and "install torchvision" in r.stderr


def test_a_package_whose_init_fails_loads_the_file_alone(monkeypatch):
    r = _cli(FIXTURES, monkeypatch, "pkg_partial/models/net.py:Net", "--input", "1x3x16x16")
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    assert "a_sibling_this_copy_lacks" in text and "loaded net.py without running it" in text
    assert "1-bit MACs " + f"{conv_macs(8, 16, 8, 3):,}" in text


def test_two_packages_named_models_in_one_process():
    """Each load sees its own `models` package and siblings, whatever loaded before."""
    targets = [
        (f"{FIXTURES}/{RESNET_BIN}", (1, 3, 16, 16)),
        (f"{FIXTURES}/pkg_partial/models/net.py:Net", (1, 3, 16, 16)),
        (f"{FIXTURES}/{RESNET_BIN}", (1, 3, 16, 16)),
    ]
    totals = [
        summarize_reference(t, [s], convention="bnn").totals["binary_macs"] for t, s in targets
    ]
    assert totals[0] == totals[2] and totals[1] == conv_macs(8, 16, 8, 3)
    assert "models" not in sys.modules and "models.binarized" not in sys.modules


@pytest.mark.parametrize(
    "target,message",
    [
        (  # returns None bare; the keys it reads with map(kwargs.get, [...])
            "pkg_binarynet/models/resnet_bin.py:resnet_bin",
            "returned a NoneType, not an nn.Module; pass its arguments as "
            "pkg_binarynet/models/resnet_bin.py:resnet_bin(num_classes=..., depth=..., "
            "dataset=...)",
        ),
        (  # raises bare; kwargs.get, 'k' in kwargs, kwargs['k']
            "pkg_binarynet/models/resnet_bin.py:resnet_bin_wide",
            "resnet_bin_wide() failed: KeyError: 'depth'; pass its arguments as "
            "pkg_binarynet/models/resnet_bin.py:resnet_bin_wide(width=..., num_classes=..., "
            "depth=...)",
        ),
        ("birealnet.py:BiRealNet", "BiRealNet(block=..., layers=...)"),
        ("pkg_binarynet/models/resnet_bin.py:resnet_bin(dataset=cifar)", "Python literals"),
        ("pkg_binarynet/models/resnet_bin.py:resnet_bin(dataset=", "cannot read the arguments"),
        ("birealnet.py:birealnet18(depth=18, depth=34)", "cannot read the arguments"),
    ],
)
def test_factory_arguments_refused_in_one_line(target, message, monkeypatch):
    r = _cli(FIXTURES, monkeypatch, target, "--input", "1x3x16x16")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert message in r.stderr and "Traceback" not in r.stderr


def test_factory_arguments_reach_the_factory(monkeypatch):
    d = _json(FIXTURES, monkeypatch, "birealnet.py:birealnet18(num_classes=10)", "1x3x32x32")
    fc = [row for row in d["layers"] if row["name"] == "fc"][0]
    assert fc["float_macs"] == 512 * 10 and d["model"] == "birealnet18(num_classes=10)"


IRNET = "repo_irnet/models/resnet.py:resnet_tiny"


def _irnet_expected() -> tuple[int, int]:
    binary = 2 * conv_macs(16, 16, 16, 3) + conv_macs(32, 8, 16, 3) + conv_macs(32, 8, 32, 3)
    return binary, conv_macs(16, 16, 3, 3) + conv_macs(32, 8, 16, 1) + 32 * 10


@pytest.mark.parametrize("where", ["fixtures", "elsewhere"])
def test_sibling_directories_relative_to_the_repository(where, tmp_path, monkeypatch):
    cwd, target = (FIXTURES, IRNET) if where == "fixtures" else (tmp_path, f"{FIXTURES}/{IRNET}")
    d = _json(cwd, monkeypatch, target)
    assert (d["totals"]["binary_macs"], d["totals"]["float_macs"]) == _irnet_expected()
    notes = " ".join(d["warnings"])
    assert "ir_conv" in notes and "binary_fn" in notes and "'./modules'" in notes
    assert "ir_conv" not in sys.modules and "binary_fn" not in sys.modules


def _rbnn_expected() -> tuple[int, int]:
    return conv_macs(16, 16, 16, 3) + conv_macs(32, 8, 16, 3), conv_macs(16, 16, 3, 3) + 320


def test_repository_root_modules_and_argparse_at_import(monkeypatch):
    argv = list(sys.argv)
    d = _json(FIXTURES / "repo_rbnn", monkeypatch, "models_bnn/resnet.py:resnet_1w1a")
    assert (d["totals"]["binary_macs"], d["totals"]["float_macs"]) == _rbnn_expected()
    assert not d["unknown_ops"]  # the option-A shortcut's F.pad
    assert not [w for w in d["warnings"] if "found it" in w]  # run from its root: no search
    assert sys.argv == argv


def test_repository_root_modules_found_from_elsewhere(tmp_path, monkeypatch):
    target = f"{FIXTURES}/repo_rbnn/models_bnn/resnet.py:resnet_1w1a"
    d = _json(tmp_path, monkeypatch, target)
    assert (d["totals"]["binary_macs"], d["totals"]["float_macs"]) == _rbnn_expected()
    assert any("modules" in w and "an ancestor" in w for w in d["warnings"])


def _cli_json(target: str, cwd: Path) -> str:
    cmd = [
        sys.executable,
        "-m",
        "xncost",
        "summary",
        target,
        "--input",
        "1x3x16x16",
        "--convention",
        "bnn",
        "--format",
        "json",
    ]
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    return subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=cwd, env=env).stdout


@pytest.mark.heavy  # fresh interpreters importing torch (3: the default run's budget)
def test_same_json_in_fresh_processes_with_every_accommodation():
    with ThreadPoolExecutor(3) as pool:
        out = list(pool.map(lambda _: _cli_json(IRNET, FIXTURES), range(3)))
    assert len(set(out)) == 1
    d = json.loads(out[0])
    assert d["totals"]["binary_macs"] == _irnet_expected()[0]
    assert any("CUDA" in w for w in d["warnings"])


def test_a_module_of_the_same_name_loaded_before_is_put_back():
    import types

    held = types.ModuleType("models")
    held.__path__ = ["/nonexistent"]
    sys.modules["models"] = held
    try:
        s = summarize_reference(f"{FIXTURES}/{RESNET_BIN}", [(1, 3, 16, 16)], convention="bnn")
        assert s.layer("layer1.0.conv1").kind == "1-bit"
        assert sys.modules["models"] is held
        assert [k for k in sys.modules if k.startswith("models.")] == []
    finally:
        sys.modules.pop("models", None)


def _weights(model, cls, *names):
    """The weights of the submodules `names` (or the weight itself) of every `cls` module."""
    return [
        getattr(m, n).weight if n else m.weight
        for m in model.modules()
        if isinstance(m, cls)
        for n in names or ("",)
    ]


@pytest.mark.parametrize(
    "build,side,suggested,weights",
    [
        # the wrapper: its own nn.Conv2d is the class of the float first and last layers too
        (xnornet.Net, 32, ("BinConv2d",), lambda m: _weights(m, xnornet.BinConv2d, "conv")),
        # the kernel class itself, nearest to the product
        (
            binop_kernel.Net,
            16,
            ("BinaryConv2dKernel",),
            lambda m: _weights(m, binop_kernel.BinaryConv2dKernel),
        ),
        # the blocks hold learnable shifts (1, C, 1, 1): attribute names, not the block class
        (
            step1.reactnet,
            16,
            ("*.binary_3x3", "*.binary_pw"),
            lambda m: _weights(m, step1.BasicBlock, "binary_3x3", "binary_pw"),
        ),
    ],
    ids=["wrapper", "kernel", "attribute"],
)
def test_the_warning_names_what_to_declare_and_that_gives_one_bit(build, side, suggested, weights):
    shape = (1, 3, side, side)
    fresh = summary(build, shape, convention="bnn")
    t = fresh.totals
    assert t["binary_macs"] == 0 and t["binary_activation_macs"] > 0
    assert fresh.detection.suggested == suggested
    (warning,) = [w for w in fresh.warnings if w.startswith("warning")]
    options = " ".join(f"--binary '{p}'" if "*" in p else f"--binary {p}" for p in suggested)
    assert f"pass {options} (API: binary={list(suggested)!r})" in warning
    declared = summary(build, shape, convention="bnn", binary=list(suggested))
    d = declared.totals
    assert d["binary_macs"] == t["binary_activation_macs"]
    assert d["float_macs"] == t["float_macs"] - t["binary_activation_macs"]
    assert d["binary_activation_macs"] == d["binary_weight_macs"] == 0
    with fixed_seed():
        model = build()
    assert d["params_1bit"] == sum(w.numel() for w in weights(model))  # no shift, no bias
    assert not [w for w in declared.warnings if w.startswith("warning")]
    assert declared.detection.suggested == ()


def test_kernel_style_counts_from_the_shapes_and_as_trained():
    fresh = summary(binop_kernel.Net, (1, 3, 16, 16), convention="bnn")
    binary = conv_macs(16, 16, 16, 3) + conv_macs(32, 8, 16, 3) + conv_macs(32, 8, 32, 3)
    first, shortcut, fc = conv_macs(16, 16, 3, 3), conv_macs(32, 8, 16, 1), 32 * 10
    assert fresh.totals["binary_activation_macs"] == binary
    assert fresh.totals["float_macs"] == binary + first + shortcut + fc
    trained = summary(binop_kernel.trained, (1, 3, 16, 16), convention="bnn")  # BinOp ran
    assert (trained.totals["binary_macs"], trained.totals["float_macs"]) == (
        binary,
        first + shortcut + fc,
    )
    assert [r.name for r in trained.layers if r.kind == "1-bit"] == [
        "conv2.conv",
        "conv3b.conv",
        "conv4.conv",
    ]


OPTIONS = FIXTURES / "repo_options"


def test_options_parsed_at_import_hold_their_defaults(monkeypatch):
    t = _json(OPTIONS, monkeypatch, "net.py:Net", "1x3x8x8")["totals"]
    assert t["binary_macs"] == conv_macs(16, 8, 8, 3)  # --a32 off by default: sign(input)
    assert t["float_macs"] == conv_macs(8, 8, 3, 3) + 16 * 10


def test_an_option_the_parser_lacks_is_one_line_saying_what_to_do(monkeypatch):
    r = _cli(OPTIONS, monkeypatch, "net.py:Net(rotate=True)", "--input", "1x3x8x8")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert r.stderr.startswith("xncost: error: forward pass failed")
    assert "the option 'use_gpu'" in r.stderr and "options.py:11" in r.stderr
    assert "define the option there with a default" in r.stderr
    assert "(opt.use_gpu = ...)" in r.stderr and "Traceback" not in r.stderr  # its own name


def test_options_that_need_arguments_are_one_line(monkeypatch):
    r = _cli(OPTIONS, monkeypatch, "needs_data.py:build", "--input", "1x3x8x8")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert "required_options.py:9" in r.stderr and "--data" in r.stderr
    assert "each option needs a default there" in r.stderr and "usage:" not in r.output
    with pytest.raises(SystemExit):  # argparse is itself again afterwards
        argparse.ArgumentParser().parse_args(["--nope"])
