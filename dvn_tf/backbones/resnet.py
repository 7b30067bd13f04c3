"""CIFAR ResNet-n (He et al., 2016) of sliced layers; its residual block also serves WRN."""

import keras
from keras import ops

from dvn_tf.backbones.stage import Stage, strided, with_width


@keras.saving.register_keras_serializable(package="dvn")
class Stem(Stage):
    """First conv (reads every input channel), optionally followed by BN and ReLU."""

    def __init__(self, width, plan, with_norm=True, bn_momentum=0.9, **kwargs):
        super().__init__(plan, **kwargs)
        self.width, self.with_norm, self.bn_momentum = width, with_norm, bn_momentum
        self.conv = self._conv(width, 3, 1, None)
        self.norm = self._norm(width) if with_norm else None

    def build(self, input_shape):
        self.conv.build(input_shape)
        if self.norm is not None:
            self.norm.build(with_width(input_shape, self.width))

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
class ResidualBlock(Stage):
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

    def build(self, input_shape):
        inside = with_width(strided(input_shape, self.strides), self.width)
        self.norm1.build(input_shape if self.preactivation else inside)
        self.conv1.build(input_shape)
        self.norm2.build(inside)
        self.conv2.build(inside)
        if self.projection is not None:
            self.projection.build(input_shape)
            if self.projection_norm is not None:
                self.projection_norm.build(inside)

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


def build_resnet(depth, plan, base_width=16, bn_momentum=0.9):
    """CIFAR ResNet-`depth` (6m + 2): a stem of base_width, then three stages of m blocks.

    Stage widths are base_width * (1, 2, 4); returns (stages, feature width).
    """
    return residual_stages(depth, plan, base_width, 1, preactivation=False,
                           bn_momentum=bn_momentum)


def residual_stages(depth, plan, base_width, widen, preactivation, dropout=0.0, bn_momentum=0.9):
    """The stem and residual blocks of a ResNet or (pre-activation) WRN; (stages, width)."""
    blocks_per_stage = (depth - 4) // 6 if preactivation else (depth - 2) // 6
    stages = [Stem(base_width, plan, with_norm=not preactivation, bn_momentum=bn_momentum)]
    width = base_width
    for stage, multiplier in enumerate((1, 2, 4)):
        for block in range(blocks_per_stage):
            out_width = base_width * widen * multiplier
            strides = 2 if stage > 0 and block == 0 else 1
            stages.append(ResidualBlock(
                width, out_width, plan, strides=strides, preactivation=preactivation,
                dropout=dropout, bn_momentum=bn_momentum))
            width = out_width
    return stages, width
