"""DVNModel.to_plain: a plain model of exactly one (task, level)'s weights, computing the same logits."""

import keras
import numpy as np
import pytest

from dvn_tf.counting import count_flops, level_cost
from dvn_tf.layers import SlicedConv2D, SwitchableBatchNorm, TaskHead
from test_export_helpers import PLAIN_LAYERS, random_images, small_dvn

CASES = [("resnet-8", "cyclic"), ("wrn-10-2", "nearest"), ("wrn-10-2", "cyclic")]


def expected_params(dvn, task, level):
    """(task, level)'s weights counted from the unit plan alone, without to_plain."""
    plan, total = dvn.plan, 0
    for layer in dvn._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, SlicedConv2D):
            inputs = len(layer.input_channels(task, level))
            outputs = len(plan.channels(layer.filters, task, level))
            total += layer.kernel_size ** 2 * inputs * outputs
        elif isinstance(layer, SwitchableBatchNorm):
            total += 4 * len(plan.channels(layer.width, task, level))  # gamma, beta, mean, var
        elif isinstance(layer, TaskHead) and layer.task == task:
            rows = len(plan.channels(layer.input_width, task, level))
            total += rows * layer.num_classes + layer.num_classes
    return total


def expected_flops(dvn, task, level):
    """2 x MACs of every conv and of the head, from the plan and the image size."""
    plan, height = dvn.plan, dvn.input_shapes[task][0]
    flops = 0
    for stage in dvn.stages:
        height = -(-height // getattr(stage, "strides", 1))  # 'same' padding: ceil
        for layer in stage._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, SlicedConv2D):
                inputs = len(layer.input_channels(task, level))
                outputs = len(plan.channels(layer.filters, task, level))
                flops += 2 * height * height * layer.kernel_size ** 2 * inputs * outputs
    head = dvn.heads[task]
    return flops + 2 * len(plan.channels(head.input_width, task, level)) * head.num_classes


@pytest.mark.parametrize("backbone,rule", CASES)
def test_plain_model_computes_the_dvn_level(backbone, rule):
    dvn = small_dvn(backbone, rule)
    images = random_images(dvn.input_shapes[0])
    non_prefix = non_contiguous = 0
    for task in range(dvn.plan.num_tasks):
        for level in dvn.levels:
            channels = dvn.plan.channels(dvn.feature_width, task, level)
            non_prefix += channels[0] != 0
            non_contiguous += channels[-1] - channels[0] + 1 != len(channels)
            plain = dvn.to_plain(task, level)
            kinds = {type(layer).__name__ for layer in plain.layers}
            assert kinds <= PLAIN_LAYERS, kinds - PLAIN_LAYERS
            reference = np.asarray(dvn(images, task=task, level=level))
            logits = np.asarray(plain(images, training=False))
            assert logits.shape == (len(images), dvn.num_classes[task])
            scale = np.abs(reference).max()
            np.testing.assert_allclose(logits, reference, atol=1e-5 * scale, rtol=0)
            assert plain.count_params() == expected_params(dvn, task, level)
            assert level_cost(dvn, task, level) == (plain.count_params(), count_flops(plain))
    assert non_prefix, "the plan should give some level a channel set that is not a prefix"
    if rule == "cyclic":  # task 3's level 2 is units {3, 1}
        assert non_contiguous, "the plan should give some level a non-contiguous channel set"


def test_plain_model_holds_only_its_levels_weights():
    dvn = small_dvn("resnet-8", "cyclic")
    counts = [dvn.to_plain(0, level).count_params() for level in dvn.levels]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    # Every (task, level) together cannot hold more than the DVN; the top level holds less.
    assert counts[-1] < dvn.count_params()
    for task in range(dvn.plan.num_tasks):
        for level in dvn.levels:
            assert count_flops(dvn.to_plain(task, level)) == expected_flops(dvn, task, level)


def test_plain_model_has_no_gather_or_slice_in_its_graph():
    """Traced through TensorFlow, the plain model has no Gather / Slice / StridedSlice ops."""
    import tensorflow as tf

    dvn = small_dvn("wrn-10-2", "cyclic")
    plain = dvn.to_plain(2, 2)  # task 3 level 2: units {3, 1}, non-contiguous
    function = tf.function(lambda x: plain(x, training=False)).get_concrete_function(
        tf.TensorSpec((1, *dvn.input_shapes[2]), tf.float32))
    ops = {op.type for op in function.graph.get_operations()}
    assert not ops & {"GatherV2", "Gather", "ResourceGather", "Slice", "StridedSlice"}, ops
    sliced = tf.function(lambda x: dvn(x, task=2, level=2)).get_concrete_function(
        tf.TensorSpec((1, *dvn.input_shapes[2]), tf.float32))
    assert {op.type for op in sliced.graph.get_operations()} & {"GatherV2", "Slice"}
    keras.backend.clear_session()
