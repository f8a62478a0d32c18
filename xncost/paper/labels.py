"""The names the paper prints for its models and metrics (the row and column headings of
Tables 4-9)."""

MODEL_LABELS = {
    "resnet50": "ResNet-50",
    "resnet_xnodr": "ResNet_XnODR",
    "resnet_xnidr": "ResNet_XnIDR",
    "resnet_dr": "ResNet_DR",
    "mobilenetv2": "MobileNet V2",
    "mobilenet_xnodr": "MobileNet_XnODR",
    "mobilenet_xnidr": "MobileNet_XnIDR",
    "mobilenet_dr": "MobileNet_DR",
}

METRIC_LABELS = {
    "total_flops": "Total",
    "binarization_flops": "Binarization",
    "xnor_bops": "XNOR BOPs",
    "xnor_flops": "XNOR FLOPs",
    "ratio_to_fc": "Ratio to original FC",
    "speedup": "Speed Up",
    "accuracy": "Accuracy",
    "params": "PARA",
}


def model_label(model: str) -> str:
    """The paper's name of `model` (the key itself when the paper has none)."""
    return MODEL_LABELS.get(model, model)


def model_layer(model: str) -> tuple[str, str]:
    """A capsule model's (capsule layer, preset): 'resnet_xnidr' -> ('xnidr', 'resnet')."""
    backbone, _, layer = model.partition("_")
    preset = "resnet" if backbone == "resnet" else "mobilenet"
    return layer, preset
