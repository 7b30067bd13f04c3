"""MobileNetV2 (Sandler et al., 2018) of sliced layers, laid out as keras.applications.MobileNetV2.

Stem conv 3x3 - BN - ReLU6, 17 inverted residual blocks (1x1 expand - BN -
ReLU6, 3x3 depthwise - BN - ReLU6, 1x1 linear projection - BN, plus the input
where the shapes match), and a last 1x1 conv - BN - ReLU6 before pooling.
Widths, their rounding and the batch norm epsilon are Keras's, layer for
layer, so a saved `keras.applications.MobileNetV2` of the same width
multiplier loads into the DVN's full-width layers (dvn_tf/pretrained.py).
"""

import math

import keras
from keras import ops

from dvn_tf.backbones.stage import Stage, strided, with_width

# (expansion t, output channels c, blocks n, stride s of the first block): the paper's Table 2.
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1))
STEM_WIDTH, LAST_WIDTH = 32, 1280
CHANNEL_MULTIPLE = 8  # widths are multiples of 8, and so is every unit's share where it can be
BN_EPSILON = 1e-3  # Keras's (and the pretrained weights')
MIN_FEATURE_SIZE = 4


def make_divisible(value, divisor=CHANNEL_MULTIPLE):
    """`value` rounded to a multiple of `divisor` (at least `divisor`, at most 10% down): Keras's rule."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def block_counts(depth_coefficient):
    """Blocks per row of BLOCKS: ceil(n x depth_coefficient), at least 1 (EfficientNet's rule).

    1.0 gives Keras's 17 blocks; 0.33 gives 8 (one per row, two 64-channel blocks).
    """
    if not 0 < depth_coefficient <= 1:
        raise ValueError(f"depth_coefficient must be in (0, 1], got {depth_coefficient!r}")
    return [max(1, math.ceil(round(count * depth_coefficient, 6))) for _, _, count, _ in BLOCKS]


def stride_plan(input_size, counts):
    """Strides of the stem and of every block for square inputs of `input_size` pixels.

    **[choice]** ImageNet's MobileNetV2 halves the resolution 5 times (224 px
    -> 7x7). A small input keeps the largest number of those halvings that
    leaves a final map of at least 4x4, dropping the earliest ones first: the
    CIFAR MobileNetV2 of kuangliu/pytorch-cifar (models/mobilenetv2.py) sets
    the stem's and the first 24-channel block's strides to 1 for 32 px, which
    is this rule at 32 px (3 halvings, 4x4). 28 and 32 px keep 3, 64 px 4,
    128 px and more all 5 (as Keras). Returns (stem stride, [block strides]).
    """
    strides = [2] + [stride if i == 0 else 1
                     for (_, _, _, stride), count in zip(BLOCKS, counts) for i in range(count)]
    halvings = 0
    while halvings < 5 and -(-input_size // 2 ** (halvings + 1)) >= MIN_FEATURE_SIZE:
        halvings += 1
    for _ in range(5 - halvings):
        strides[strides.index(2)] = 1
    return strides[0], strides[1:]


@keras.saving.register_keras_serializable(package="dvn")
class ConvNormReLU6(Stage):
    """A conv - BN - ReLU6 stage: MobileNetV2's stem (input_width None) and its last 1x1 conv."""

    bn_epsilon = BN_EPSILON

    def __init__(self, width, kernel_size, plan, strides=1, input_width=None, bn_momentum=0.9,
                 **kwargs):
        super().__init__(plan, **kwargs)
        self.width, self.kernel_size, self.strides = width, kernel_size, strides
        self.input_width, self.bn_momentum = input_width, bn_momentum
        self.conv = self._conv(width, kernel_size, strides, input_width)
        self.norm = self._norm(width)

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.norm.build(with_width(strided(input_shape, self.strides), self.width))

    def call(self, x, *, task, level, training=False):
        x = self.conv(x, task=task, level=level)
        return ops.relu6(self.norm(x, task=task, level=level, training=training))

    def apply_plain(self, x, task, level):
        x = self.norm.apply_plain(self.conv.apply_plain(x, task, level), task, level)
        return keras.layers.ReLU(6.0)(x)

    def get_config(self):
        return {**super().get_config(), "width": self.width, "kernel_size": self.kernel_size,
                "strides": self.strides, "input_width": self.input_width,
                "bn_momentum": self.bn_momentum}


@keras.saving.register_keras_serializable(package="dvn")
class InvertedResidual(Stage):
    """1x1 expand - BN - ReLU6, 3x3 depthwise - BN - ReLU6, 1x1 linear projection - BN.

    `expansion` 1 has no expand conv (Keras's first block). The input is added
    where the shapes match (stride 1, input_width == width).
    """

    bn_epsilon = BN_EPSILON

    def __init__(self, input_width, width, expansion, plan, strides=1, bn_momentum=0.9,
                 **kwargs):
        super().__init__(plan, **kwargs)
        if not isinstance(expansion, int) or expansion < 1:
            raise ValueError(f"InvertedResidual: expansion must be a positive int, "
                             f"got {expansion!r}")
        self.input_width, self.width, self.expansion = input_width, width, expansion
        self.strides, self.bn_momentum = strides, bn_momentum
        hidden = expansion * input_width
        self.expand = self.expand_norm = None
        if expansion != 1:
            self.expand = self._conv(hidden, 1, 1, input_width)
            self.expand_norm = self._norm(hidden)
        self.depthwise = self._depthwise(hidden, 3, strides)
        self.depthwise_norm = self._norm(hidden)
        self.project = self._conv(width, 1, 1, hidden)
        self.project_norm = self._norm(width)
        self.residual = strides == 1 and input_width == width

    def build(self, input_shape):
        hidden = with_width(input_shape, self.expansion * self.input_width)
        if self.expand is not None:
            self.expand.build(input_shape)
            self.expand_norm.build(hidden)
        self.depthwise.build(hidden)
        hidden = strided(hidden, self.strides)
        self.depthwise_norm.build(hidden)
        self.project.build(hidden)
        self.project_norm.build(with_width(hidden, self.width))

    def call(self, x, *, task, level, training=False):
        tl = {"task": task, "level": level}
        y = x
        if self.expand is not None:
            y = ops.relu6(self.expand_norm(self.expand(y, **tl), training=training, **tl))
        y = ops.relu6(self.depthwise_norm(self.depthwise(y, **tl), training=training, **tl))
        y = self.project_norm(self.project(y, **tl), training=training, **tl)
        return x + y if self.residual else y

    def apply_plain(self, x, task, level):
        def step(layer, y):
            return layer.apply_plain(y, task, level)

        y = x
        if self.expand is not None:
            y = keras.layers.ReLU(6.0)(step(self.expand_norm, step(self.expand, y)))
        y = keras.layers.ReLU(6.0)(step(self.depthwise_norm, step(self.depthwise, y)))
        y = step(self.project_norm, step(self.project, y))
        return keras.layers.Add()([x, y]) if self.residual else y

    def get_config(self):
        return {**super().get_config(), "input_width": self.input_width, "width": self.width,
                "expansion": self.expansion, "strides": self.strides,
                "bn_momentum": self.bn_momentum}


def widths(width_multiplier, counts):
    """(stem width, [(input width, width, expansion) per block], last width) at a multiplier."""
    if not width_multiplier > 0:
        raise ValueError(f"width_multiplier must be > 0, got {width_multiplier!r}")
    stem = make_divisible(STEM_WIDTH * width_multiplier)
    blocks, width = [], stem
    for (expansion, channels, _, _), count in zip(BLOCKS, counts):
        out = make_divisible(int(channels * width_multiplier))
        for _ in range(count):
            blocks.append((width, out, expansion))
            width = out
    last = make_divisible(LAST_WIDTH * width_multiplier) if width_multiplier > 1 else LAST_WIDTH
    return stem, blocks, last


def build_mobilenetv2(plan, width_multiplier=1.0, depth_coefficient=1.0, input_size=224,
                      bn_momentum=0.9):
    """MobileNetV2 stages at a width multiplier (Keras's alpha) for `input_size` px inputs.

    The last conv keeps 1280 channels below a multiplier of 1, as in Keras and
    the paper. `depth_coefficient` < 1 keeps fewer blocks per row (see
    `block_counts`): not Keras's layout, so no pretrained weights fit it.
    Returns (stages, feature width).
    """
    counts = block_counts(depth_coefficient)
    stem, blocks, last = widths(width_multiplier, counts)
    stem_stride, block_strides = stride_plan(input_size, counts)
    stages = [ConvNormReLU6(stem, 3, plan, strides=stem_stride, bn_momentum=bn_momentum)]
    for (input_width, width, expansion), strides in zip(blocks, block_strides):
        stages.append(InvertedResidual(input_width, width, expansion, plan, strides=strides,
                                       bn_momentum=bn_momentum))
    stages.append(ConvNormReLU6(last, 1, plan, input_width=blocks[-1][1],
                                bn_momentum=bn_momentum))
    return stages, last
