"""Shape arithmetic of the analytic side against the real backbones."""

import sys

import pytest

from xncost.core.shapes import SETTINGS, resnet50_map_side
from xncost.errors import XncostError
from xncost.models import feature_map_side


@pytest.mark.parametrize("upsampling", [True, False])
@pytest.mark.parametrize("side", [32, 36, 108, 224, 17, 64])
def test_resnet50_map_side_matches_the_torch_backbone(upsampling, side):
    assert resnet50_map_side(side, upsampling) == feature_map_side("resnet50", upsampling, side)


def test_settings_real_map_sides():
    assert [s.real_map_side for s in SETTINGS.values()] == [7, 4, 4, 5]
    assert [s.paper_map_side for s in SETTINGS.values()] == [4, 2, 2, 3]


# ----------------------------------------------------------------------------- digit bound


@pytest.fixture
def default_int_digits():
    """Python's default int <-> str limit, whatever an earlier CLI test set."""
    saved = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(4300)
    yield
    sys.set_int_max_str_digits(saved)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="no int <-> str limit before 3.11")
def test_library_writes_counts_beyond_pythons_digit_limit(default_int_digits, tmp_path):
    from xncost.api import cost
    from xncost.core import render, sweep

    big = 10**2000
    b = cost("xnidr", caps_in=big, caps_out=big, dim_out=big)
    flops = b.totals["flops"]
    assert flops > 10**6000
    for text in (render.breakdown_json(b), render.breakdown_csv(b), render.breakdown_markdown(b)):
        assert 6000 < text.count("0") and sys.get_int_max_str_digits() == 4300
    grid = sweep.Grid.from_ranges(caps_in=str(big), caps_out=str(big), dim_out=str(big))
    sweep.run_sweep("xnidr", grid, tmp_path, parquet=False)
    row = (tmp_path / "sweep_xnidr.csv").read_text().splitlines()[1]
    sys.set_int_max_str_digits(0)
    assert str(flops) in row.split(",")


def test_shape_values_are_bounded_in_digits():
    from xncost.core.shapes import CapsShape, FCShape, parse_dims
    from xncost.exact import MAX_INPUT_DIGITS, parse_int

    most = 10**MAX_INPUT_DIGITS - 1
    assert CapsShape(most, 1, 1, 1).caps_in == most
    with pytest.raises(XncostError, match="more than 4300 digits"):
        CapsShape(1, most + 1, 1, 1)
    with pytest.raises(XncostError, match="dims.1. has more than 4300 digits"):
        FCShape((1, most + 1))
    with pytest.raises(XncostError, match="more than 4300 digits"):
        parse_dims("1," + "7" * 4301)
    assert parse_int("0" * 5000 + "12", "x") == 12  # leading zeros are not digits of size
    with pytest.raises(XncostError, match="x is not an integer: '1x'"):
        parse_int("1x", "x")
