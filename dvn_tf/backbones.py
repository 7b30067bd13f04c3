"""Backbones built from sliced layers: CIFAR ResNet-n and pre-activation WRN-n-s.

A backbone is a list of stages (layers with `call(x, *, task, level,
training)` and `apply_plain(x, task, level)`) ending in a feature map whose
full width `feature_width` feeds the task heads.
"""

import re

import keras
from keras import ops

from dvn_tf.layers import SlicedConv2D, SwitchableBatchNorm, _PlanLayer


class _Stage(_PlanLayer):
    """A sliced sub-network with a plain twin for a given (task, level)."""

    def _conv(self, filters, kernel_size, strides, input_width):
        return SlicedConv2D(filters, kernel_size, self.plan, strides=strides,
                            input_width=input_width)

    def _norm(self, width):
        return SwitchableBatchNorm(width, self.plan, momentum=self.bn_momentum)


@keras.saving.register_keras_serializable(package="dvn")
class Stem(_Stage):
    """First conv (reads every input channel), optionally followed by BN and ReLU."""

    def __init__(self, width, plan, with_norm=True, bn_momentum=0.9, **kwargs):
        super().__init__(plan, **kwargs)
        self.width, self.with_norm, self.bn_momentum = width, with_norm, bn_momentum
        self.conv = self._conv(width, 3, 1, None)
        self.norm = self._norm(width) if with_norm else None

    def call(self, x, *, task, level, training=False):
        x = self.conv(x, task=task, level=level)
        if self.norm is None:
            return x
        return ops.relu(self.norm(x, task=task, level=level, training=training))

    def apply_plain(self, x, task, level):
        x = self.conv.apply_plain(x, task, level)
        if self.norm is None:
            return x
        return keras.layers.ReLU()(self.norm.apply_plain(x, task, level))

    def get_config(self):
        return {**super().get_config(), "width": self.width,
                "with_norm": self.with_norm, "bn_momentum": self.bn_momentum}


@keras.saving.register_keras_serializable(package="dvn")
class ResidualBlock(_Stage):
    """A residual block; `preactivation` selects WRN's BN-ReLU-conv order.

    Post-activation (CIFAR ResNet): conv-BN-ReLU-conv-BN, + shortcut, ReLU.
    Pre-activation (WRN): BN-ReLU-conv-BN-ReLU-dropout-conv, + shortcut.
    The shortcut is a 1x1 conv (with BN when post-activation) where the shape changes.
    """

    def __init__(self, input_width, width, plan, strides=1, preactivation=False,
                 dropout=0.0, bn_momentum=0.9, **kwargs):
        super().__init__(plan, **kwargs)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"ResidualBlock: dropout must be in [0, 1), got {dropout}")
        self.input_width, self.width, self.strides = input_width, width, strides
        self.preactivation, self.dropout, self.bn_momentum = preactivation, dropout, bn_momentum
        self.norm1 = self._norm(input_width if preactivation else width)
        self.conv1 = self._conv(width, 3, strides, input_width)
        self.norm2 = self._norm(width)
        self.conv2 = self._conv(width, 3, 1, width)
        self.drop = keras.layers.Dropout(dropout) if dropout else None
        self.projection = None
        if strides != 1 or input_width != width:
            self.projection = self._conv(width, 1, strides, input_width)
            self.projection_norm = None if preactivation else self._norm(width)

    def call(self, x, *, task, level, training=False):
        tl = {"task": task, "level": level}

        def norm(layer, y):
            return layer(y, training=training, **tl)

        if self.preactivation:
            x = ops.relu(norm(self.norm1, x))
            y = ops.relu(norm(self.norm2, self.conv1(x, **tl)))
            if self.drop is not None:
                y = self.drop(y, training=training)
            shortcut = x if self.projection is None else self.projection(x, **tl)
            return self.conv2(y, **tl) + shortcut
        y = ops.relu(norm(self.norm1, self.conv1(x, **tl)))
        y = norm(self.norm2, self.conv2(y, **tl))
        shortcut = x
        if self.projection is not None:
            shortcut = norm(self.projection_norm, self.projection(x, **tl))
        return ops.relu(y + shortcut)

    def apply_plain(self, x, task, level):
        relu = keras.layers.ReLU

        def step(layer, y):
            return layer.apply_plain(y, task, level)

        if self.preactivation:
            x = relu()(step(self.norm1, x))
            y = relu()(step(self.norm2, step(self.conv1, x)))
            shortcut = x if self.projection is None else step(self.projection, x)
            return keras.layers.Add()([step(self.conv2, y), shortcut])
        y = relu()(step(self.norm1, step(self.conv1, x)))
        y = step(self.norm2, step(self.conv2, y))
        shortcut = x
        if self.projection is not None:
            shortcut = step(self.projection_norm, step(self.projection, x))
        return relu()(keras.layers.Add()([y, shortcut]))

    def get_config(self):
        return {**super().get_config(), "input_width": self.input_width,
                "width": self.width, "strides": self.strides,
                "preactivation": self.preactivation, "dropout": self.dropout,
                "bn_momentum": self.bn_momentum}


@keras.saving.register_keras_serializable(package="dvn")
class FinalActivation(_Stage):
    """WRN's closing BN-ReLU after the last pre-activation block."""

    def __init__(self, width, plan, bn_momentum=0.9, **kwargs):
        super().__init__(plan, **kwargs)
        self.width, self.bn_momentum = width, bn_momentum
        self.norm = self._norm(width)

    def call(self, x, *, task, level, training=False):
        return ops.relu(self.norm(x, task=task, level=level, training=training))

    def apply_plain(self, x, task, level):
        return keras.layers.ReLU()(self.norm.apply_plain(x, task, level))

    def get_config(self):
        return {**super().get_config(), "width": self.width, "bn_momentum": self.bn_momentum}


def parse_backbone(name):
    """('resnet', depth, 1) for 'resnet-20'; ('wrn', depth, widen) for 'wrn-16-4'."""
    match = re.fullmatch(r"(resnet)-(\d+)|(wrn)-(\d+)-(\d+)", name.lower())
    if match and match.group(1) and (int(match.group(2)) - 2) % 6 == 0 and int(match.group(2)) > 2:
        return "resnet", int(match.group(2)), 1
    if match and match.group(3) and (int(match.group(4)) - 4) % 6 == 0 and int(match.group(4)) > 4:
        return "wrn", int(match.group(4)), int(match.group(5))
    raise ValueError(
        f"backbone must be 'resnet-N' with N = 6m+2 (8, 20, 32, 56, 110) or "
        f"'wrn-N-S' with N = 6m+4 (10, 16, 28, 40), got {name!r}")


def build_stages(backbone, plan, base_width=16, dropout=0.0, bn_momentum=0.9):
    """The stage layers of a backbone and the width of its last feature map.

    Stage widths are base_width * widen * (1, 2, 4); the stem has base_width.
    """
    family, depth, widen = parse_backbone(backbone)
    preactivation = family == "wrn"
    blocks_per_stage = (depth - 4) // 6 if preactivation else (depth - 2) // 6
    stages = [Stem(base_width, plan, with_norm=not preactivation, bn_momentum=bn_momentum)]
    width = base_width
    for stage, multiplier in enumerate((1, 2, 4)):
        for block in range(blocks_per_stage):
            out_width = base_width * widen * multiplier
            strides = 2 if stage > 0 and block == 0 else 1
            stages.append(ResidualBlock(
                width, out_width, plan, strides=strides, preactivation=preactivation,
                dropout=dropout if preactivation else 0.0, bn_momentum=bn_momentum))
            width = out_width
    if preactivation:
        stages.append(FinalActivation(width, plan, bn_momentum=bn_momentum))
    return stages, width
