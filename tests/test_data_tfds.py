"""load_tfds_task on tfds's mock data (random examples of the real features)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from dvn_tf.data.normalization import KNOWN
from dvn_tf.data.tfds_tasks import load_tfds_task

NUM_EXAMPLES = 12


def _spec(dataset, **fields):
    return {"name": f"{dataset}_task", "dataset": dataset,
            "augment": "none", "mix": "none", **fields}


def _raw_examples(dataset, label_key, split="train"):
    """The mocked tfds examples as `[(uint8 image, label)]`, in order."""
    raw = tfds.builder(dataset).as_dataset(split=split)
    return [(ex["image"].numpy(), int(ex[label_key])) for ex in raw]


def _pixels(task, image):
    """Undoes the task's normalization: pixel values in [0, 255]."""
    return (np.asarray(image) * task.std + task.mean) * task.pixel_scale


@pytest.mark.parametrize("dataset, label_key, num_classes, size", [
    ("cifar10", "label", 10, 32),
    ("cifar100", "label", 100, 32),
    ("cifar100", "coarse_label", 20, 32),
    ("stl10", "label", 10, 96),
])
def test_examples_are_the_dataset_normalized(
        dataset, label_key, num_classes, size):
    with tfds.testing.mock_data(num_examples=NUM_EXAMPLES):
        task = load_tfds_task(_spec(dataset, label_key=label_key))
        raw = _raw_examples(dataset, label_key)
        raw_test = _raw_examples(dataset, label_key, "test")
        train, test = list(task.train), list(task.test)
    assert task.num_classes == num_classes == len(task.labels)
    assert task.input_shape == (size, size, 3)
    assert [task.mean, task.std] == [list(v) for v in KNOWN[dataset]]
    assert task.pixel_scale == 255
    assert task.train_size == len(train) == NUM_EXAMPLES
    assert task.test_size == len(test) == NUM_EXAMPLES
    assert task.augment is None
    for (image, label), (raw_image, raw_label) in zip(
            train + test, raw + raw_test):
        assert image.shape == (size, size, 3) and image.dtype == tf.float32
        assert label.shape == () and label.dtype == tf.int32
        assert int(label) == raw_label
        np.testing.assert_allclose(_pixels(task, image), raw_image, atol=1e-3)
    # Normalized, not raw pixels: values center near 0 at unit scale.
    assert abs(float(np.mean([image for image, _ in train]))) < 1.5


@pytest.mark.parametrize("dataset, label_key, classes", [
    ("cifar10", "label", [7, 2, 5]),
    ("cifar100", "coarse_label", [19, 0, 4, 11]),
])
def test_class_subset_is_filtered_and_remapped(dataset, label_key, classes):
    with tfds.testing.mock_data(num_examples=40):
        task = load_tfds_task(
            _spec(dataset, label_key=label_key, classes=classes))
        names = tfds.builder(dataset).info.features[label_key].names
        kept = [(image, label) for image, label in
                _raw_examples(dataset, label_key) if label in classes]
        train = list(task.train)
    assert task.num_classes == len(classes)
    assert task.labels == [names[c] for c in classes]
    assert 0 < task.train_size == len(train) == len(kept) < 40
    for (image, label), (raw_image, raw_label) in zip(train, kept):
        assert 0 <= int(label) < len(classes)
        assert classes[int(label)] == raw_label
        np.testing.assert_allclose(_pixels(task, image), raw_image, atol=1e-3)


@pytest.mark.parametrize("dataset", ["cifar10", "stl10"])
def test_standard_augment_pads_crops_and_flips(dataset):
    with tfds.testing.mock_data(num_examples=6):
        task = load_tfds_task(_spec(dataset, augment="standard"))
        raw = _raw_examples(dataset, "label")
        train = list(task.train)
    size = task.input_shape[0]
    pad = size // 8  # 4 at 32 px, 12 at 96 px
    changed = 0
    for (image, label), (raw_image, raw_label) in zip(train, raw):
        assert image.shape == (size, size, 3) and int(label) == raw_label
        padded = np.pad(raw_image.astype(np.float32),
                        [(pad, pad), (pad, pad), (0, 0)])
        pixels = _pixels(task, image)
        crops = [window[:, ::flip] for y in range(2 * pad + 1)
                 for x in range(2 * pad + 1) for flip in (1, -1)
                 for window in [padded[y:y + size, x:x + size]]]
        assert min(np.abs(pixels - crop).max() for crop in crops) < 1e-2
        changed += not np.allclose(pixels, raw_image, atol=1e-2)
    assert changed > 0


def test_augment_is_seeded_and_new_on_every_pass():
    spec = _spec("cifar10", augment="standard")
    with tfds.testing.mock_data(num_examples=8):
        task = load_tfds_task(spec, seed=3)
        first = [x.numpy() for x, _ in task.train]
        second_pass = [x.numpy() for x, _ in task.train]
        again = [x.numpy() for x, _ in load_tfds_task(spec, seed=3).train]
        other = [x.numpy() for x, _ in load_tfds_task(spec, seed=4).train]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, second_pass)


def test_randaugment_keeps_shape_and_changes_pixels():
    with tfds.testing.mock_data(num_examples=6):
        task = load_tfds_task(_spec("cifar10", augment="randaugment"))
        plain = load_tfds_task(_spec("cifar10"))
        pairs = list(zip(task.train, plain.train))
    for (image, label), (plain_image, plain_label) in pairs:
        assert image.shape == (32, 32, 3) and image.dtype == tf.float32
        assert int(label) == int(plain_label)
        assert np.isfinite(image).all()
    assert any(not np.allclose(image, plain_image, atol=1e-3)
               for (image, _), (plain_image, _) in pairs)


@pytest.mark.parametrize("mix", ["mixup", "cutmix"])
def test_mix_gives_soft_labels_that_sum_to_one(mix):
    with tfds.testing.mock_data(num_examples=16):
        task = load_tfds_task(_spec("cifar100", mix=mix))
        images, labels = next(iter(task.train.batch(16)))
        mixed_images, soft = task.augment(images, labels)
        # The trainer may also run it inside tf.data.
        _, soft_in_pipeline = next(iter(task.train.batch(16).map(task.augment)))
    assert mixed_images.shape == images.shape
    assert not np.allclose(mixed_images, images)
    for targets in (soft, soft_in_pipeline):
        assert targets.shape == (16, 100) and targets.dtype == tf.float32
        np.testing.assert_allclose(np.sum(targets, axis=1), 1.0, atol=1e-5)
        assert np.all(np.asarray(targets) >= 0)
    in_batch = np.zeros(100, bool)
    in_batch[labels.numpy()] = True
    assert np.all(np.asarray(soft)[:, ~in_batch] == 0)
    assert not np.allclose(soft, tf.one_hot(labels, 100))


@pytest.mark.parametrize("fields", [
    {"dataset": "imagenet2012"},
    {"classes": [3, 3]},
    {"classes": [10]},
    {"augment": "autoaugment"},
    {"mix": "mixcut"},
])
def test_bad_spec_raises_value_error(fields):
    with tfds.testing.mock_data(num_examples=2):
        with pytest.raises(ValueError):
            load_tfds_task({**_spec("cifar10"), **fields})
