"""Tasks from tensorflow-datasets: CIFAR-10, CIFAR-100, STL-10, Tiny-ImageNet.

`load_tfds_task(spec)` turns one task spec into a `TaskData`. Nothing here
downloads: a dataset missing from the data dir raises `DataNotPreparedError`
that says how to prepare it (Tiny-ImageNet is prepared here from its zip).
"""

import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from dvn_tf.data import augment
from dvn_tf.data import tiny_imagenet  # registers the `tiny_imagenet` builder
from dvn_tf.data.base import DataNotPreparedError, TaskData

PIXEL_SCALE = 255.0

# Per-channel mean and std of the training images, pixels scaled to [0, 1].
NORMALIZATION = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "stl10": ((0.4467, 0.4398, 0.4066), (0.2603, 0.2566, 0.2713)),
    "tiny_imagenet": ((0.4802, 0.4481, 0.3975), (0.2302, 0.2265, 0.2262)),
}
TEST_SPLIT = {
    "cifar10": "test",
    "cifar100": "test",
    "stl10": "test",
    "tiny_imagenet": "validation",
}


def load_tfds_task(spec, data_dir=None, seed=0):
    """Builds the `TaskData` of one task spec (a ConfigDict or a dict).

    Spec fields: `name`, `dataset` (cifar10, cifar100, stl10, tiny_imagenet),
    `label_key` ("label"), `classes` (None or original class ids, remapped to
    0..n-1 in that order), `augment` ("standard", "randaugment", "none"),
    `mix` ("none", "mixup", "cutmix"), `image_size` (None: native size).
    `data_dir` is the tfds data dir (None: tfds's default).
    """
    dataset = spec["dataset"]
    if dataset not in NORMALIZATION:
        raise ValueError(
            f"task {spec['name']!r}: dataset={dataset!r}; expected one of "
            f"{sorted(NORMALIZATION)}")
    label_key = spec.get("label_key") or "label"
    builder = _prepared_builder(dataset, data_dir)
    label_feature = builder.info.features[label_key]
    class_ids = _class_ids(spec, label_feature.num_classes)
    words = (builder.info.metadata or {}).get("words", {})
    labels = [words.get(label_feature.names[i], label_feature.names[i])
              for i in class_ids]
    native_size = builder.info.features["image"].shape[0]
    image_size = spec.get("image_size") or native_size

    def split_of(split):
        return _pixel_split(builder, split, label_key, class_ids, image_size)

    train, train_size = split_of("train")
    test, test_size = split_of(TEST_SPLIT[dataset])
    mean, std = NORMALIZATION[dataset]
    normalize = _normalizer(mean, std)
    train = augment.augment_examples(
        train, spec.get("augment") or "standard", seed)
    return TaskData(
        name=spec["name"],
        num_classes=len(class_ids),
        labels=labels,
        input_shape=(image_size, image_size, 3),
        mean=list(mean),
        std=list(std),
        pixel_scale=PIXEL_SCALE,
        train=train.map(normalize, num_parallel_calls=tf.data.AUTOTUNE),
        test=test.map(normalize, num_parallel_calls=tf.data.AUTOTUNE),
        train_size=train_size,
        test_size=test_size,
        augment=augment.batch_mixer(
            spec.get("mix") or "none", len(class_ids), seed),
    )


def _prepared_builder(dataset, data_dir):
    """The tfds builder of `dataset`, prepared, with no download attempted.

    Tiny-ImageNet is prepared here when its zip sits in the manual dir.
    Raises `DataNotPreparedError` when the data is not there.
    """
    builder = tfds.builder(dataset, data_dir=data_dir or None)
    manual_zip = (builder.data_dir_root / "downloads" / "manual"
                  / tiny_imagenet.ZIP_NAME)
    if (dataset == "tiny_imagenet" and not builder.is_prepared()
            and manual_zip.exists()):
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(
                try_download_gcs=False))
    try:  # tfds (and tfds.testing.mock_data) checks for the data here
        builder.as_dataset(split=TEST_SPLIT[dataset])
    except AssertionError as error:  # "could not find data in ..."
        raise _not_prepared(builder) from error
    return builder


def _not_prepared(builder):
    """The one-line `DataNotPreparedError` for a builder with no data."""
    root = os.fspath(builder.data_dir_root)
    if builder.name == "tiny_imagenet":
        how = (f"put the official {tiny_imagenet.ZIP_NAME} "
               "(http://cs231n.stanford.edu/tiny-imagenet-200.zip) into "
               f"{root}/downloads/manual/ and it is prepared locally on the "
               "next run")
    else:
        how = ("on a machine with internet run `python -c \"import "
               "tensorflow_datasets as tfds; tfds.builder("
               f"'{builder.name}', data_dir='DATA_DIR')"
               ".download_and_prepare()\"` and copy DATA_DIR/"
               f"{builder.name} into {root}")
    return DataNotPreparedError(
        f"{builder.name} is not prepared in {root}: {how}, or pass "
        "--config.data_dir")


def _class_ids(spec, num_original):
    """The kept original class ids, in the new logit order."""
    classes = spec.get("classes")
    if classes is None:
        return list(range(num_original))
    classes = [int(c) for c in classes]
    if (not classes or len(set(classes)) != len(classes)
            or not all(0 <= c < num_original for c in classes)):
        raise ValueError(
            f"task {spec['name']!r}: classes={classes}; expected distinct ids "
            f"in [0, {num_original})")
    return classes


def _pixel_split(builder, split, label_key, class_ids, image_size):
    """`(dataset of (uint8 image, int32 label), size)` for one split.

    Filters and remaps labels before decoding the images, resizes, then
    caches the decoded images, so random ops downstream run on the cache.
    """
    raw = builder.as_dataset(
        split=split, decoders={"image": tfds.decode.SkipDecoding()})
    raw = raw.map(lambda example: (example["image"], example[label_key]))
    num_original = builder.info.features[label_key].num_classes
    if class_ids != list(range(num_original)):
        new_id = np.full(num_original, -1, np.int64)
        new_id[class_ids] = np.arange(len(class_ids))
        raw = raw.map(lambda image, label: (image, tf.gather(new_id, label)))
        raw = raw.filter(lambda image, label: label >= 0)
    size = int(raw.cardinality())
    if size < 0:
        size = int(raw.reduce(0, lambda count, _: count + 1))
    decode_image = builder.info.features["image"].decode_example

    def decode(image, label):
        image = decode_image(image)
        if image.shape[0] != image_size:
            image = tf.image.resize(image, [image_size, image_size],
                                    antialias=True)
            image = tf.cast(tf.round(tf.clip_by_value(image, 0, 255)),
                            tf.uint8)
        return image, tf.cast(label, tf.int32)

    return raw.map(decode, num_parallel_calls=tf.data.AUTOTUNE).cache(), size


def _normalizer(mean, std):
    """`(pixel image, label) -> ((image / 255 - mean) / std, label)`."""
    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)

    def normalize(image, label):
        return (tf.cast(image, tf.float32) / PIXEL_SCALE - mean) / std, label

    return normalize
