"""Larq's model summary and TensorFlow's profiler on Keras twins of xncost's networks.

Runs in the cross-check environment (benchmarks/crosscheck/README.md), not in xncost's:

    TF_USE_LEGACY_KERAS=1 python benchmarks/crosscheck/collect_larq.py \
        [--out tests/fixtures/crosscheck/larq_tf.json]

Each twin has the same convolutions, FC layers, strides and output sides as the PyTorch
network of the same name in `xncost.models` (channels last; the first and last layers and,
in Bi-Real Net, the shortcuts real-valued; binary layers are `larq.layers.QuantConv2D` with
`ste_sign` on the input and the kernel). Larq's figures come from `larq.models.ModelProfile`,
the object `larq.models.summary` prints. TensorFlow's figure is the profiler's
`total_float_ops` of the frozen inference graph (`ProfileOptionBuilder.float_operation()`),
the counter behind xncost's `tf` convention.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import larq as lq  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)
from tensorflow.python.profiler.model_analyzer import profile  # noqa: E402
from tensorflow.python.profiler.option_builder import ProfileOptionBuilder  # noqa: E402

L = tf.keras.layers
BINARY = {
    "input_quantizer": "ste_sign",
    "kernel_quantizer": "ste_sign",
    "kernel_constraint": "weight_clip",
}
NIN_CONVS = ((192, 5), (160, 1), (96, 1), (192, 5), (192, 1), (192, 1), (192, 3), (192, 1))
ALEXNET = ((96, 11, 4, 2, True), (256, 5, 1, 2, True), (384, 3, 1, 1, False))
ALEXNET += ((384, 3, 1, 1, False), (256, 3, 1, 1, True), (4096, 6, 1, 0, False))
ALEXNET += ((4096, 1, 1, 0, False),)


def nin(binary: bool, classes: int = 10) -> tf.keras.Model:
    """xncost.models.nin.NIN: float blocks conv-BN-ReLU; binary blocks BN-XNOR conv-ReLU."""
    inp = tf.keras.Input((32, 32, 3))
    x = inp
    for i, (c, k) in enumerate(NIN_CONVS):
        if i == 0 or not binary:
            x = L.ReLU()(L.BatchNormalization()(L.Conv2D(c, k, padding="same")(x)))
        else:
            x = L.BatchNormalization()(x)
            x = L.ReLU()(lq.layers.QuantConv2D(c, k, padding="same", **BINARY)(x))
        if i == 2:
            x = L.MaxPool2D(3, 2, padding="same")(x)
        elif i == 5:
            x = L.AveragePooling2D(3, 2, padding="same")(x)
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(classes, 1)(x)))
    x = L.Flatten()(L.AveragePooling2D(8, 1)(x))
    return tf.keras.Model(inp, x, name="nin-xnor" if binary else "nin")


def alexnet(binary: bool, classes: int = 10) -> tf.keras.Model:
    """xncost.models.alexnet.AlexNet in float and XNOR form (seed 004's Torch layouts)."""
    inp = tf.keras.Input((224, 224, 3))
    x = inp
    for i, (c, k, s, p, pool) in enumerate(ALEXNET):
        pad = "same" if p else "valid"  # stride 1, p = k // 2; the first layer is padded
        if i == 0:
            x = L.Conv2D(c, k, s)(L.ZeroPadding2D(p)(x))
            x = L.BatchNormalization(epsilon=1e-3, center=not binary, scale=not binary)(x)
            x = L.ReLU()(x)
        elif binary:
            x = L.BatchNormalization(epsilon=1e-4, center=False, scale=False)(x)
            x = lq.layers.QuantConv2D(c, k, s, padding=pad, **BINARY)(x)
        else:
            x = L.ReLU()(L.BatchNormalization(epsilon=1e-3)(L.Conv2D(c, k, s, padding=pad)(x)))
        if pool:
            x = L.MaxPool2D(3, 2)(x)
    if binary:
        x = L.ReLU()(L.BatchNormalization(epsilon=1e-3, center=False, scale=False)(x))
    x = L.Flatten()(L.Conv2D(classes, 1)(x))
    return tf.keras.Model(inp, x, name="alexnet-xnor" if binary else "alexnet")


def birealnet18(classes: int = 1000) -> tf.keras.Model:
    """xncost.models.bireal.BiRealNet(18): 1-layer-per-block, real-valued shortcuts."""
    inp = tf.keras.Input((224, 224, 3))
    x = L.Conv2D(64, 7, 2, use_bias=False)(L.ZeroPadding2D(3)(inp))
    x = L.MaxPool2D(3, 2)(L.ZeroPadding2D(1)(L.BatchNormalization()(x)))
    c = 64
    for stage, width in enumerate((64, 128, 256, 512)):
        for i in range(4):
            s = 2 if stage > 0 and i == 0 else 1
            shortcut = x
            if s != 1 or c != width:
                shortcut = L.AveragePooling2D(2, s)(x)
                shortcut = L.Conv2D(width, 1, use_bias=False)(shortcut)
                shortcut = L.BatchNormalization()(shortcut)
            y = lq.layers.QuantConv2D(width, 3, s, padding="same", use_bias=False, **BINARY)(x)
            x = L.Add()([L.BatchNormalization()(y), shortcut])
            c = width
    x = L.Dense(classes)(L.GlobalAveragePooling2D()(x))
    return tf.keras.Model(inp, x, name="birealnet18")


TWINS = {
    "nin": lambda: nin(False),
    "nin-xnor": lambda: nin(True),
    "alexnet": lambda: alexnet(False),
    "alexnet-xnor": lambda: alexnet(True),
    "birealnet18": birealnet18,
}
TF_PROFILED = ("nin", "alexnet", "nin-xnor")


def larq_figures(model: tf.keras.Model) -> dict[str, int]:
    p = lq.models.ModelProfile(model)
    return {
        "params": p.weight_count(),
        "trainable_params": p.weight_count(trainable=True),
        "params_1bit": p.weight_count(bitwidth=1),
        "params_32bit": p.weight_count(bitwidth=32),
        "memory_bits": p.memory,
        "macs_1bit": p.op_count("mac", 1),
        "macs_32bit": p.op_count("mac", 32),
    }


def tf_float_ops(model: tf.keras.Model) -> int:
    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    graph = convert_variables_to_constants_v2(fn).graph
    opts = ProfileOptionBuilder(ProfileOptionBuilder.float_operation()).with_empty_output()
    return int(profile(graph, options=opts.build()).total_float_ops)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/fixtures/crosscheck/larq_tf.json")
    args = ap.parse_args()
    command = "TF_USE_LEGACY_KERAS=1 python benchmarks/crosscheck/collect_larq.py"
    larq_models, tf_models = {}, {}
    for name, build in TWINS.items():
        model = build()
        larq_models[name] = larq_figures(model)
        if name in TF_PROFILED:
            tf_models[name] = {"float_ops": tf_float_ops(model)}
        print(name, larq_models[name], tf_models.get(name, ""), file=sys.stderr)
    env = {p: version(p) for p in ("larq", "tensorflow-cpu", "tf-keras", "numpy", "protobuf")}
    out = {
        "larq": {
            "tool": "larq.models.ModelProfile (what larq.models.summary prints)",
            "versions": env,
            "command": command,
            "models": larq_models,
        },
        "tf_profiler": {
            "tool": "tf.compat.v1 profiler, ProfileOptionBuilder.float_operation(), frozen "
            "inference graph, batch 1",
            "versions": env,
            "command": command,
            "models": tf_models,
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
