"""Published binary networks: xncost's `bnn` figures, recomputed from the models, against
closed-form counts of their layers and against reports/literature.md."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from xncost.errors import XncostError
from xncost.models import build_model
from xncost.models import literature as lit
from xncost.models.bnn_layers import SignConv2d
from xncost.nn.xnor import XnorConv2d

REPORT = Path(__file__).resolve().parents[1] / "reports" / "literature.md"


@pytest.fixture(scope="module")
def measured() -> dict[str, lit.Measured]:
    return {name: lit.measure(name) for name in lit.MODELS}


def _layer_macs(model: torch.nn.Module, side: int = 224) -> tuple[int, int]:
    """(real-valued, 1-bit) MACs from the conv/linear modules' shapes and output sides,
    found with forward hooks on the meta device (no counting machinery of xncost)."""
    sides: dict[int, int] = {}
    hooks = [
        m.register_forward_hook(lambda mod, i, o: sides.__setitem__(id(mod), o.shape[-1]))
        for m in model.modules()
        if isinstance(m, (torch.nn.Conv2d, SignConv2d, XnorConv2d))
    ]
    with torch.device("meta"):
        model(torch.empty(1, 3, side, side, device="meta"))
    for h in hooks:
        h.remove()
    real = one_bit = 0
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            real += m.in_features * m.out_features
        elif isinstance(m, (torch.nn.Conv2d, SignConv2d, XnorConv2d)):
            macs = m.weight[0].numel() * m.weight.shape[0] * sides[id(m)] ** 2
            if isinstance(m, torch.nn.Conv2d):
                real += macs
            else:
                one_bit += macs
    return real, one_bit


@pytest.mark.parametrize("name", lit.MODELS)
def test_bnn_figures_match_the_layer_shapes(name: str, measured) -> None:
    with torch.device("meta"):
        model = build_model(name)
    real, one_bit = _layer_macs(model)
    m = measured[name]
    assert (m.bnn.flops, m.bnn.bops) == (real, one_bit)
    assert m.bnn.ops == real + Fraction(one_bit, 64)


def test_bireal18_by_hand(measured) -> None:
    """ResNet-18's 16 3x3 convolutions binary; 7x7 stem, three 1x1 shortcuts and FC real."""
    m = measured["birealnet18"]
    stem = 3 * 64 * 49 * 112 * 112
    shortcuts = 3 * (64 * 128 * 28 * 28)  # 64->128 at 28, 128->256 at 14, 256->512 at 7
    fc = 512 * 1000
    assert m.float_parts == {
        "first convolution": stem,
        "downsampling shortcuts": shortcuts,
        "FC": fc,
        "other": 0,
    }
    stage = [(64, 64, 56)] * 4 + [(64, 128, 28)] + [(128, 128, 28)] * 3
    stage += [(128, 256, 14)] + [(256, 256, 14)] * 3 + [(256, 512, 7)] + [(512, 512, 7)] * 3
    assert m.bnn.bops == sum(ci * co * 9 * s * s for ci, co, s in stage)
    # every conv and FC of ResNet-18, the Bi-Real table's real-valued counterpart
    assert m.float_counterpart_macs == 1_814_073_344
    assert m.params_1bit == sum(ci * co * 9 for ci, co, _ in stage)
    assert m.scales == sum(co for _, co, _ in stage)  # one alpha per binary filter


def test_signconv_is_registered_binary() -> None:
    from xncost.profile.summary import summary

    layer = SignConv2d(8, 4, 3, 1, 1)
    s = summary(torch.nn.Sequential(layer), (1, 8, 5, 5))
    row = s.layers[0]
    assert (row.binary_macs, row.float_macs) == (4 * 8 * 9 * 25, 0)
    assert (row.params_1bit, row.scales) == (4 * 8 * 9, 4)


@pytest.mark.parametrize(
    ("printed", "x", "status", "shown"),
    [
        ("1.63e8", 163_985_408, "equal if truncated", "1.64 x 10^8"),
        ("1.68e9", 1_676_279_808, "equal", "1.68 x 10^9"),
        ("0.12e8", 11_862_016, "equal", "0.12 x 10^8"),
        ("1.41e8", 137_793_536, "differs", "1.38 x 10^8"),
        ("33.6", Fraction(33_637_632, 10**6), "equal", "33.6"),
        ("11.14", Fraction(11_1204, 10**4), "differs", "11.12"),
    ],
)
def test_printed_precision(printed: str, x, status: str, shown: str) -> None:
    p = lit.Printed(printed)
    assert p.status(Fraction(x)) == status
    assert p.format(Fraction(x)) == shown


def test_published_data_has_provenance() -> None:
    sources, rows, counterparts = lit.load_published()
    for src in sources.values():
        assert src["cite"] and src["table"] and src["verified"]
    assert {r.model for r in rows} == set(lit.MODELS)
    assert all(r.figures for r in rows + counterparts)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["figures"][0].update(bops="1.6x"),
        lambda d: d["figures"][0].update(source="nowhere"),
        lambda d: d.pop("sources"),
    ],
)
def test_malformed_data_file(tmp_path: Path, mutate) -> None:
    data = json.loads(lit.DATA_FILE.read_text())
    mutate(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(XncostError):
        lit.load_published(bad)


def test_report_is_current(measured) -> None:
    """reports/literature.md is what the models give today (regenerate: see its header)."""
    assert lit.literature_markdown(measured) == REPORT.read_text(encoding="utf-8")


def test_every_difference_is_explained(measured) -> None:
    text = lit.literature_markdown(measured)
    for line in text.splitlines():
        if "| differs |" in line:
            assert not line.rstrip().endswith("| differs |  |")


def test_cli_entry_bad_arguments(capsys) -> None:
    assert lit.main(["--bogus"]) == 2
    assert capsys.readouterr().err.startswith("xncost: error: usage")
