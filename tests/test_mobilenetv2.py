"""The MobileNetV2 backbone: Keras's layout, strides by input size, unit shares, pretrained init."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from dvn_tf.backbones import build_stages, channel_multiple, mobilenetv2
from dvn_tf.counting import count_flops
from dvn_tf.layers import SlicedDepthwiseConv2D, SwitchableBatchNorm
from dvn_tf.model import DVNModel
from dvn_tf.pretrained import dvn_layers, initialize_from_keras, pretrained_layers
from dvn_tf.units import UnitPlan
from test_export_helpers import REPO

ALPHA, SIDE = 0.35, 128  # 128 px keeps all five of ImageNet's halvings, as Keras does


def keras_mobilenetv2(alpha, side=SIDE, channels=3, seed=0):
    """keras.applications.MobileNetV2 without weights (no download), with random BN statistics."""
    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV2(input_shape=(side, side, channels), alpha=alpha,
                                           include_top=False, weights=None, pooling="avg")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, size), rng.normal(0, 0.2, size),
                               rng.normal(0, 0.2, size), rng.uniform(0.5, 1.5, size)])
    return model


def mobilenet_dvn(alpha=ALPHA, side=SIDE, channels=3, tasks=2, units=2, depth=1.0):
    keras.utils.set_random_seed(1)
    model = DVNModel([f"t{i}" for i in range(tasks)], [3 + i for i in range(tasks)],
                     UnitPlan.from_rule(tasks, units, "nearest", multiple=8),
                     (side, side, channels), backbone="mobilenetv2", width_multiplier=alpha,
                     depth_coefficient=depth)
    model.build()
    return model


@pytest.fixture(scope="module")
def saved_keras(tmp_path_factory):
    """(path, model) of a Keras MobileNetV2 at ALPHA saved as .keras, as a user saves ImageNet's."""
    model = keras_mobilenetv2(ALPHA)
    path = tmp_path_factory.mktemp("pretrained") / "mobilenet_v2.keras"
    model.save(path)
    return str(path), model


@pytest.mark.parametrize("alpha", [0.35, 1.0, 1.4])
def test_every_conv_and_norm_has_the_width_of_keras_mobilenetv2(alpha):
    stages, feature_width = build_stages("mobilenetv2", UnitPlan.from_rule(1, 1),
                                         width_multiplier=alpha, input_size=224)
    ours = [layer.filters if hasattr(layer, "filters") else layer.width
            for stage in stages for layer in stage._flatten_layers(include_self=False,
                                                                   recursive=False)
            if not isinstance(layer, SwitchableBatchNorm)]
    model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), alpha=alpha,
                                           include_top=False, weights=None)
    theirs = [layer.output.shape[-1] for layer in pretrained_layers(model)
              if not isinstance(layer, keras.layers.BatchNormalization)]
    assert ours == theirs and feature_width == model.output.shape[-1]
    assert len(stages) == 1 + 17 + 1


@pytest.mark.parametrize("side, halvings", [(8, 1), (28, 3), (32, 3), (64, 4), (96, 4),
                                            (128, 5), (224, 5)])
def test_strides_keep_a_final_map_of_at_least_four_pixels(side, halvings):
    stem, blocks = mobilenetv2.stride_plan(side, mobilenetv2.block_counts(1.0))
    strides = [stem] + blocks
    assert strides.count(2) == halvings and set(strides) <= {1, 2}
    final = side
    for stride in strides:
        final = -(-final // stride)
    assert final >= 4 and (halvings == 5 or -(-final // 2) < 4)
    if side == 32:  # kuangliu/pytorch-cifar's CIFAR MobileNetV2: stem and block 1 at stride 1
        assert strides[:5] == [1, 1, 1, 1, 2]  # stem, blocks 0-3 (block 3 opens the 32s)


def test_depth_coefficient_keeps_at_least_one_block_per_row():
    assert mobilenetv2.block_counts(1.0) == [1, 2, 3, 4, 3, 3, 1]
    assert mobilenetv2.block_counts(0.33) == [1, 1, 1, 2, 1, 1, 1]
    with pytest.raises(ValueError, match="depth_coefficient must be in \\(0, 1\\], got 0"):
        mobilenetv2.block_counts(0)


def test_every_units_share_is_a_multiple_of_eight_where_the_width_allows():
    plan = UnitPlan.from_rule(4, 4, "nearest", multiple=channel_multiple("mobilenetv2"))
    stem, blocks, last = mobilenetv2.widths(1.0, mobilenetv2.block_counts(1.0))
    widths = {stem, last} | {w for block in blocks for w in (block[1], block[0] * block[2])}
    for width in sorted(widths):
        shares = [len(c) for c in plan.unit_channels(width).values()]
        assert sum(shares) == width
        if width >= 32:  # 8 channels for each of the 4 units
            assert all(share % 8 == 0 for share in shares), (width, shares)
        else:  # 16 and 24 channels: an equal split by channels
            assert max(shares) - min(shares) <= 1, (width, shares)
    assert plan.unit_channels(144)[1] == tuple(range(40))  # 18 blocks of 8: 5, 5, 4, 4
    assert channel_multiple("resnet-20") == channel_multiple("wrn-16-4") == 1


@pytest.mark.slow
def test_pretrained_init_gives_the_keras_models_pooled_features(saved_keras):
    path, source = saved_keras
    dvn = mobilenet_dvn()
    heads = [w.copy() for w in dvn.heads[1].get_weights()]
    initialize_from_keras(dvn, path)
    images = np.random.default_rng(0).uniform(-1, 1, (2, SIDE, SIDE, 3)).astype("float32")
    for task in range(2):
        np.testing.assert_allclose(dvn.features(images, task=task), source(images, training=False),
                                   atol=1e-5, rtol=0)
    # Every (task, level)'s batch norm holds the pretrained parameters of its own channels.
    for (_, ours), theirs in zip(dvn_layers(dvn), pretrained_layers(source)):
        if isinstance(ours, SwitchableBatchNorm):
            for task in range(2):
                for level in (1, 2):
                    channels = list(dvn.plan.channels(ours.width, task, level))
                    for got, full in zip(ours.norm(task, level).get_weights(),
                                         theirs.get_weights()):
                        np.testing.assert_array_equal(got, full[channels])
    assert all(np.array_equal(a, b) for a, b in zip(dvn.heads[1].get_weights(), heads))


@pytest.mark.slow
def test_a_model_of_another_width_is_refused_naming_the_first_layer_that_does_not_fit(
        saved_keras):
    dvn = mobilenet_dvn(alpha=0.5, side=32)
    before = [w.copy() for w in dvn.get_weights()]
    with pytest.raises(ValueError, match="pretrained layer 'block_1_project' \\(Conv2D with "
                                         "kernel 1x1x48x8\\) does not fit the DVN's stage 2 "
                                         "\\(InvertedResidual\\) \\(SlicedConv2D with kernel "
                                         "1x1x48x16\\)"):
        initialize_from_keras(dvn, saved_keras[0])
    assert all(np.array_equal(a, b) for a, b in zip(dvn.get_weights(), before))


def test_a_shallower_dvn_or_a_missing_file_is_refused(saved_keras, tmp_path):
    with pytest.raises(ValueError, match="pretrained layer 'block_2_project' .* does not fit"):
        initialize_from_keras(mobilenet_dvn(side=32, depth=0.33, tasks=1), saved_keras[0])
    with pytest.raises(ValueError, match="init_from: cannot load .*nothing.keras"):
        initialize_from_keras(mobilenet_dvn(side=32, depth=0.33, tasks=1),
                              str(tmp_path / "nothing.keras"))


def test_depthwise_kernels_are_shared_exactly_between_levels():
    """A level's depthwise kernel is its units' kernels side by side: no cross-unit part."""
    dvn = mobilenet_dvn(side=32, tasks=2, units=2, depth=0.33)
    depthwise = [layer for _, layer in dvn_layers(dvn) if isinstance(layer, SlicedDepthwiseConv2D)]
    for layer in depthwise:
        full = layer.kernel.numpy()
        units = {u: full[:, :, list(c)] for u, c in dvn.plan.unit_channels(layer.width).items()}
        assert sum(k.size for k in units.values()) == full.size
        for task in range(2):
            for level in (1, 2):
                blocks = np.concatenate([units[u] for u in sorted(dvn.plan.level_units(task, level))],
                                        axis=2)
                np.testing.assert_array_equal(layer.sliced_kernel(task, level), blocks)


def test_depthwise_flops_are_counted():
    inputs = keras.Input((9, 9, 24))
    outputs = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)(inputs)
    assert count_flops(keras.Model(inputs, outputs)) == 2 * 5 * 5 * 3 * 3 * 24


def test_save_and_load_round_trip(tmp_path):
    dvn = mobilenet_dvn(alpha=0.25, side=8, channels=1, depth=0.25)
    images = np.random.default_rng(4).normal(size=(2, 8, 8, 1)).astype("float32")
    dvn.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert [type(stage).__name__ for stage in loaded.stages] == [
        type(stage).__name__ for stage in dvn.stages]
    for level in (1, 2):
        np.testing.assert_allclose(loaded(images, task=1, level=level),
                                   dvn(images, task=1, level=level), rtol=1e-6, atol=1e-6)


@pytest.mark.slow  # a CLI process: 46 s at load 5 on the 2 shared cores
def test_the_train_cli_refuses_a_mismatched_model_in_one_line(saved_keras, tmp_path):
    """RGB ImageNet-style weights into the 1-channel digits network: the stem does not fit."""
    run = subprocess.run(
        [sys.executable, "-m", "dvn_tf.train", f"--workdir={tmp_path}",
         "--config.backbone=mobilenetv2", f"--config.width_multiplier={ALPHA}",
         "--config.depth_coefficient=0.25", f"--config.init_from={saved_keras[0]}"],
        cwd=REPO, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr[-2000:]
    assert lines[0].startswith("dvn_tf.train: error: init_from ")
    assert ("pretrained layer 'Conv1' (Conv2D with kernel 3x3x3x16) does not fit the DVN's "
            "stage 0 (ConvNormReLU6) (SlicedConv2D with kernel 3x3x1x16)") in lines[0]


def test_gray_folder_images_start_from_imagenet_weights_as_rgb(saved_keras, tmp_path):
    """The README's path for few images: a folder task on MobileNetV2 from a saved Keras model."""
    from configs import images
    from dvn_tf.data import load_tasks
    from dvn_tf.data.folder_cache import image_flag_tasks
    from dvn_tf.experiment import make_model
    from test_folder_data import write_classes

    write_classes(tmp_path / "parts", ["bolt", "nut"], per_class=8, mode="L", color=90)
    config = images.get_config()
    config.update({"backbone": "mobilenetv2", "width_multiplier": ALPHA, "image_size": 32,
                   "init_from": saved_keras[0]})
    config.tasks = tuple(image_flag_tasks([str(tmp_path / "parts")]))
    (task,) = load_tasks(config, str(tmp_path / "run"))
    assert task.input_shape == (32, 32, 3)
    image, _ = next(iter(task.test))
    assert np.array_equal(image[..., 0], image[..., 2])  # gray, repeated into RGB
    model = make_model(config, [task])  # raises if the pretrained stem does not fit
    stem = dvn_layers(model)[0][1]
    np.testing.assert_array_equal(stem.kernel.numpy(), saved_keras[1].get_layer("Conv1").kernel)
