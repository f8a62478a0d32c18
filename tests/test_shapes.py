"""Shape arithmetic of the analytic side against the real backbones."""

import pytest

from xncost.models import feature_map_side
from xncost.shapes import SETTINGS, resnet50_map_side


@pytest.mark.parametrize("upsampling", [True, False])
@pytest.mark.parametrize("side", [32, 36, 108, 224, 17, 64])
def test_resnet50_map_side_matches_the_torch_backbone(upsampling, side):
    assert resnet50_map_side(side, upsampling) == feature_map_side("resnet50", upsampling, side)


def test_settings_real_map_sides():
    assert [s.real_map_side for s in SETTINGS.values()] == [7, 4, 4, 5]
    assert [s.paper_map_side for s in SETTINGS.values()] == [4, 2, 2, 3]
