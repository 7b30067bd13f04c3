"""Keras's own layer harness on every sliced layer and stage, and the sliced depthwise conv.

`keras.src.testing.TestCase.run_layer_test` builds each layer with `build()`
alone and checks that it then holds as many weights as after a call, runs
it symbolically and eagerly, and round-trips its config. Its training and
mixed-precision checks call the layer without `task` and `level`, so they are
off (mixed precision is covered by the training tests).
"""

import keras
import numpy as np
import pytest
from keras.src.testing import TestCase

from dvn_tf.backbones import (ConvNormReLU6, FinalActivation, InvertedResidual, ResidualBlock,
                              Stem)
from dvn_tf.layers import SlicedConv2D, SlicedDepthwiseConv2D, SwitchableBatchNorm, TaskHead
from dvn_tf.units import UnitPlan

PLAN = UnitPlan.from_rule(3, 3, "nearest", multiple=8)
TASK, LEVEL = 2, 2  # units 3 and 2: not a prefix


def level_width(width):
    return len(PLAN.channels(width, TASK, LEVEL))


# (layer class, constructor arguments, input channels (None: the level's share of `width_in`),
#  width_in, output channels at the level, output side for an input side of 6)
CASES = [
    (SlicedConv2D, {"filters": 24, "kernel_size": 3, "strides": 2, "input_width": 12},
     None, 12, level_width(24), 3),
    (SlicedConv2D, {"filters": 12, "kernel_size": 3}, 3, None, level_width(12), 6),
    (SlicedDepthwiseConv2D, {"width": 48, "kernel_size": 3, "strides": 2}, None, 48,
     level_width(48), 3),
    (SwitchableBatchNorm, {"width": 48, "momentum": 0.8}, None, 48, level_width(48), 6),
    (Stem, {"width": 12}, 3, None, level_width(12), 6),
    (ResidualBlock, {"input_width": 12, "width": 24, "strides": 2}, None, 12, level_width(24), 3),
    (ResidualBlock, {"input_width": 12, "width": 24, "preactivation": True, "dropout": 0.1},
     None, 12, level_width(24), 6),
    (FinalActivation, {"width": 24}, None, 24, level_width(24), 6),
    (ConvNormReLU6, {"width": 24, "kernel_size": 3, "strides": 2}, 3, None, level_width(24), 3),
    (ConvNormReLU6, {"width": 48, "kernel_size": 1, "input_width": 24}, None, 24,
     level_width(48), 6),
    (InvertedResidual, {"input_width": 24, "width": 24, "expansion": 6}, None, 24,
     level_width(24), 6),
    (InvertedResidual, {"input_width": 24, "width": 32, "expansion": 1, "strides": 2}, None, 24,
     level_width(32), 3),
]


@pytest.mark.parametrize("layer_class, arguments, channels, width_in, channels_out, side", CASES,
                         ids=lambda value: getattr(value, "__name__", None))
def test_keras_layer_harness(layer_class, arguments, channels, width_in, channels_out, side):
    channels = channels or level_width(width_in)
    TestCase().run_layer_test(
        layer_class, {**arguments, "plan": PLAN.get_config()}, input_shape=(2, 6, 6, channels),
        call_kwargs={"task": TASK, "level": LEVEL},
        expected_output_shape=(2, side, side, channels_out),
        run_training_check=False, run_mixed_precision_check=False)


def test_keras_layer_harness_on_the_task_head():
    TestCase().run_layer_test(
        TaskHead, {"num_classes": 5, "input_width": 48, "plan": PLAN.get_config(), "task": TASK,
                   "per_level": True},
        input_shape=(2, level_width(48)), call_kwargs={"level": LEVEL},
        expected_output_shape=(2, 5), run_training_check=False, run_mixed_precision_check=False)


@pytest.mark.parametrize("task, level", [(2, 1), (2, 2), (0, 3)])
def test_sliced_depthwise_conv_equals_plain_depthwise_conv_with_its_channels(task, level):
    conv = SlicedDepthwiseConv2D(48, 3, PLAN, strides=2)
    conv.build((None, 6, 6, 48))
    conv.kernel.assign(np.random.default_rng(1).normal(size=(3, 3, 48, 1)).astype("float32"))
    channels = list(PLAN.channels(48, task, level))
    images = np.random.default_rng(2).normal(size=(2, 7, 7, len(channels))).astype("float32")
    plain = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)
    plain.build(images.shape)
    plain.set_weights([conv.kernel.numpy()[:, :, channels]])
    np.testing.assert_allclose(conv(images, task=task, level=level), plain(images),
                               rtol=1e-5, atol=1e-5)
    inputs = keras.Input(images.shape[1:])
    exported = keras.Model(inputs, conv.apply_plain(inputs, task, level))
    assert [type(layer).__name__ for layer in exported.layers] == ["InputLayer",
                                                                  "DepthwiseConv2D"]
    np.testing.assert_array_equal(exported(images), conv(images, task=task, level=level))


def test_depthwise_kernels_start_with_he_variance_over_their_own_fan_in():
    conv = SlicedDepthwiseConv2D(512, 3, PLAN)
    conv.build((None, 6, 6, 512))
    assert np.std(conv.kernel.numpy()) == pytest.approx(np.sqrt(2 / 9), rel=0.1)


@pytest.mark.parametrize("make, message", [
    (lambda: SlicedDepthwiseConv2D(2, 3, PLAN), "width must be >= units=3, got width=2"),
    (lambda: SlicedDepthwiseConv2D(12, 3, PLAN, strides=0), "strides must be a positive int, "
                                                          "got 0"),
    (lambda: InvertedResidual(8, 8, 0, PLAN), "expansion must be a positive int, got 0"),
])
def test_constructor_arguments_are_validated(make, message):
    with pytest.raises(ValueError, match=message):
        make()
