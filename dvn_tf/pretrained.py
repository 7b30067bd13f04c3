"""Start a DVN from a saved Keras MobileNetV2 (`--config.init_from=PATH`).

For example `keras.applications.MobileNetV2(weights="imagenet")`, saved with
`.save("mobilenet_v2.keras")` on a machine with internet. The pretrained
model's convolutions and batch norms are matched, in the order they compute,
with the DVN's:

- every sliced convolution (stem, expand, depthwise, projection, last 1x1
  conv) takes the pretrained kernel whole: its full-width layer;
- every (task, level)'s private batch norm takes the pretrained statistics and
  affine parameters of the channels that (task, level) uses;
- the task heads start fresh (a pretrained classifier is ignored).

Everything is checked before anything is assigned: a width or input-channel
mismatch is one ValueError that names the first pretrained layer that does
not fit. Strides may differ (small inputs drop early stride-2 steps): a
kernel does not depend on its stride.
"""

import keras
import numpy as np

from dvn_tf.backbones import parse_backbone
from dvn_tf.layers import SlicedConv2D, SlicedDepthwiseConv2D, SwitchableBatchNorm

# (DVN layer type, the pretrained layer type it takes its weights from)
COUNTERPARTS = ((SlicedConv2D, keras.layers.Conv2D),
                (SlicedDepthwiseConv2D, keras.layers.DepthwiseConv2D),
                (SwitchableBatchNorm, keras.layers.BatchNormalization))
HINT = ("build the DVN at the pretrained model's width (--config.width_multiplier=its alpha) "
        "on images with its number of channels (3 for ImageNet weights)")


def dvn_layers(dvn):
    """[(where, layer)] of the DVN's convolutions and batch norms, in the order they compute."""
    sliced = tuple(ours for ours, _ in COUNTERPARTS)
    return [(f"stage {index} ({type(stage).__name__})", layer)
            for index, stage in enumerate(dvn.stages)
            for layer in stage._flatten_layers(include_self=False, recursive=False)
            if isinstance(layer, sliced)]


def pretrained_layers(model):
    """The Keras model's convolutions and batch norms, in the order they compute."""
    kinds = tuple(theirs for _, theirs in COUNTERPARTS)
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, kinds)]


def weight_shapes(layer):
    """The shapes a pretrained layer must have to fit `layer` (a sliced DVN layer)."""
    if isinstance(layer, SwitchableBatchNorm):
        return [(layer.width,)] * 4  # gamma, beta, moving mean, moving variance
    return [tuple(layer.kernel.shape)]


def describe(layer, shapes):
    kind = type(layer).__name__
    if isinstance(layer, (keras.layers.BatchNormalization, SwitchableBatchNorm)):
        return f"{kind} of {shapes[0][0]} channels"
    return f"{kind} with kernel {'x'.join(map(str, shapes[0]))}"


def check_fit(path, where, ours, theirs):
    """Raise a ValueError naming `theirs` unless it has the kind and shapes of `ours`."""
    expected = weight_shapes(ours)
    found = [tuple(w.shape) for w in theirs.weights]
    kind = next(pretrained for sliced, pretrained in COUNTERPARTS if isinstance(ours, sliced))
    if not isinstance(theirs, kind) or found != expected:
        raise ValueError(
            f"init_from {path}: pretrained layer {theirs.name!r} "
            f"({describe(theirs, found or [(0,)])}) does not fit the DVN's {where} "
            f"({describe(ours, expected)}); {HINT}")


def load_keras_model(path):
    """The saved Keras model at `path`, or a one-line ValueError."""
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # load_model raises many types on a missing or bad file
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"init_from: cannot load {path} as a saved Keras model ({reason}); "
                         f"save one with model.save('NAME.keras')") from None


def initialize_from_keras(dvn, path):
    """Load the saved Keras MobileNetV2 at `path` into the DVN's full-width layers (see module)."""
    if parse_backbone(dvn.backbone)[0] != "mobilenetv2":
        raise ValueError(f"init_from loads a Keras MobileNetV2; backbone {dvn.backbone!r} has no "
                         f"pretrained counterpart: use --config.backbone=mobilenetv2")
    source = pretrained_layers(load_keras_model(path))
    ours = dvn_layers(dvn)
    for index, (where, layer) in enumerate(ours):
        if index == len(source):
            raise ValueError(f"init_from {path}: the pretrained model has no layer for the DVN's "
                             f"{where} ({describe(layer, weight_shapes(layer))}); {HINT}")
        check_fit(path, where, layer, source[index])
    if len(source) > len(ours):
        extra = source[len(ours)]
        raise ValueError(f"init_from {path}: pretrained layer {extra.name!r} has no counterpart "
                         f"in the DVN, which ends at its last 1x1 conv; {HINT}")
    for (_, layer), theirs in zip(ours, source):
        weights = [np.asarray(keras.ops.convert_to_numpy(w)) for w in theirs.weights]
        if isinstance(layer, SwitchableBatchNorm):
            for task in range(dvn.plan.num_tasks):
                for level in dvn.levels:
                    channels = list(dvn.plan.channels(layer.width, task, level))
                    layer.norm(task, level).set_weights([w[channels] for w in weights])
        else:
            layer.kernel.assign(weights[0])
