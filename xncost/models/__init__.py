"""Reference PyTorch models: MobileNetV2 / ResNet-50 with FC or capsule heads, NIN, AlexNet.

Use `build_model(name, upsampling=...)`; `MODELS` lists the names (`xncost models`).
"""

from xncost.models.heads import CapsuleHead, FCHead, build_head
from xncost.models.registry import (
    MODELS,
    BackboneHeadModel,
    ModelSpec,
    build_backbone,
    build_model,
    count_parameters,
    feature_map_side,
    get_spec,
    list_models,
    parameter_count,
)

__all__ = [
    "MODELS",
    "BackboneHeadModel",
    "CapsuleHead",
    "FCHead",
    "ModelSpec",
    "build_backbone",
    "build_head",
    "build_model",
    "count_parameters",
    "feature_map_side",
    "get_spec",
    "list_models",
    "parameter_count",
]
