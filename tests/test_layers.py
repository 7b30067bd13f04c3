"""Sliced layers against plain Keras layers, BN isolation, gradients, serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dvn_tf.layers import SlicedConv2D, SwitchableBatchNorm, TaskHead
from dvn_tf.units import UnitPlan

PLAN = UnitPlan.from_rule(3, 3, "nearest")  # task 2, level 2 uses units 3, 2: not a prefix


def random_images(channels, seed=0, size=6):
    return np.random.default_rng(seed).normal(size=(2, size, size, channels)).astype("float32")


@pytest.mark.parametrize("task, level", [(2, 1), (2, 2), (1, 2), (0, 3)])
@pytest.mark.parametrize("strides", [1, 2])
def test_sliced_conv_equals_plain_conv_with_gathered_kernel(task, level, strides):
    conv = SlicedConv2D(12, 3, PLAN, strides=strides, input_width=9)
    conv.build((None, 6, 6, 9))
    conv.kernel.assign(np.random.default_rng(1).normal(size=(3, 3, 9, 12)).astype("float32"))
    s_in, s_out = PLAN.channels(9, task, level), PLAN.channels(12, task, level)
    full = random_images(9)
    plain = keras.layers.Conv2D(len(s_out), 3, strides=strides, padding="same", use_bias=False)
    plain.build((None, 6, 6, len(s_in)))
    plain.set_weights([conv.kernel.numpy()[:, :, list(s_in)][:, :, :, list(s_out)]])
    expected = plain(full[..., list(s_in)]).numpy()
    got = conv(full[..., list(s_in)], task=task, level=level).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_stem_reads_every_input_channel():
    conv = SlicedConv2D(6, 3, PLAN)
    out = conv(random_images(3), task=2, level=1)
    assert out.shape == (2, 6, 6, 2)


def test_switchable_bn_training_one_level_leaves_others_statistics_unchanged():
    norm = SwitchableBatchNorm(9, PLAN, momentum=0.5)
    norm.build((None, 6, 6, 9))
    before = {(t, l): [w.copy() for w in norm.norm(t, l).get_weights()]
              for t in range(3) for l in (1, 2, 3)}
    x = random_images(6) * 3 + 2
    norm(x, task=2, level=2, training=True)
    for (t, l), weights in before.items():
        after = norm.norm(t, l).get_weights()
        changed = any(not np.array_equal(a, b) for a, b in zip(weights, after))
        assert changed == ((t, l) == (2, 2)), (t, l)


def test_gradients_reach_only_the_units_of_the_level():
    conv = SlicedConv2D(9, 3, PLAN, input_width=9)
    head = TaskHead(4, 9, PLAN, task=2)
    s = PLAN.channels(9, 2, 1)
    x = random_images(len(s))
    with tf.GradientTape() as tape:
        logits = head(tf.reduce_mean(conv(x, task=2, level=1), axis=(1, 2)), level=1)
        loss = tf.reduce_sum(logits ** 2)
    kernel_grad, head_grad = (tf.convert_to_tensor(g).numpy() for g in
                              tape.gradient(loss, [conv.kernel, head.kernels[0]]))
    inside = np.zeros((9, 9), bool)
    inside[np.ix_(s, s)] = True
    assert np.all(kernel_grad[:, :, ~inside] == 0)
    assert np.all(np.abs(kernel_grad[:, :, inside]).sum(axis=0).sum(axis=0) > 0)
    outside_rows = [r for r in range(9) if r not in s]
    assert np.all(head_grad[outside_rows] == 0) and np.all(np.abs(head_grad[list(s)]).sum(1) > 0)


@pytest.mark.parametrize("make", [
    lambda: SlicedConv2D(12, 3, PLAN, strides=2, input_width=9, name="c"),
    lambda: SwitchableBatchNorm(9, PLAN, momentum=0.8, epsilon=1e-3, name="b"),
    lambda: TaskHead(7, 9, PLAN, task=1, per_level=True, name="h"),
])
def test_get_config_round_trip(make):
    layer = make()
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("make, message", [
    (lambda: SlicedConv2D(2, 3, PLAN, input_width=9), "filters=2"),
    (lambda: SlicedConv2D(9, 0, PLAN), "kernel_size must be a positive int, got 0"),
    (lambda: SwitchableBatchNorm(9, PLAN, momentum=1.5), "momentum=1.5"),
    (lambda: TaskHead(5, 9, PLAN, task=4), "task must be an int in \\[0, 3\\), got 4"),
])
def test_constructor_arguments_are_validated(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_switchable_bn_weights_keep_the_path_of_keras_batch_normalization(tmp_path):
    """Runs saved when each (task, level) held a plain keras BatchNormalization still load:
    a .keras file names a layer in a list by its class name."""
    import h5py
    import zipfile

    inputs = keras.Input((4, 4, 8))
    norm = SwitchableBatchNorm(8, UnitPlan.from_rule(1, 2, "nearest"))
    model = keras.Model(inputs, norm(inputs, task=0, level=2))
    path = tmp_path / "norm.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as weights:
        names = []
        h5py.File(weights, "r").visit(names.append)
    norms = sorted(name for name in names if name.endswith("/vars") and "norms/" in name)
    assert norms == [f"layers/switchable_batch_norm/norms/batch_normalization{suffix}/vars"
                     for suffix in ("", "_1")], names
    assert keras.saving.load_model(path).count_params() == model.count_params()
