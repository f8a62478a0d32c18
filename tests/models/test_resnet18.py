"""ResNet-18, the float counterpart of the published BNNs, against torchvision's figures."""

from __future__ import annotations

import pytest

from xncost.models import parameter_count
from xncost.profile.summary import summarize_model


def test_resnet18_parameters_as_torchvision():
    # torchvision 0.2x, ResNet18_Weights.IMAGENET1K_V1.meta["num_params"] (docs.pytorch.org)
    assert parameter_count("resnet18") == 11_689_512


@pytest.mark.heavy
def test_resnet18_macs_as_torchvision():
    # torchvision 0.2x, ResNet18_Weights.IMAGENET1K_V1.meta["_ops"] = 1.814 GFLOPS (GMACs)
    s = summarize_model("resnet18", convention="bnn")
    assert s.totals["binary_macs"] == 0
    assert round(s.totals["float_macs"] / 10**6) == 1814
