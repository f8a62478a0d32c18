"""Reference PyTorch models: MobileNetV2 / ResNet-50 with the FC head or any capsule layer of
the layer registry as head, NIN, AlexNet, published binary networks.

Use `build_model(name, upsampling=...)`; `MODELS` lists the names (`xncost models`);
`model_name(backbone, head)` names the paper's model with that backbone and head.
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
    model_name,
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
    "model_name",
    "parameter_count",
]
