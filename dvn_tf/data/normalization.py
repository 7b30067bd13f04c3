"""Per-channel mean and std of a tfds dataset's training images, in pixels scaled to [0, 1].

Datasets in `KNOWN` use those published numbers. Any other is measured once
over its whole `train` split and cached beside its prepared data, in
DATA_DIR/NAME/VERSION/dvn_normalization.json, so later runs read it back.
"""

import json
import os

import numpy as np
import tensorflow as tf

from dvn_tf.files import read_json, write_text_atomically

PIXEL_SCALE = 255.0
CACHE_NAME = "dvn_normalization.json"
KNOWN = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "stl10": ((0.4467, 0.4398, 0.4066), (0.2603, 0.2566, 0.2713)),
    "tiny_imagenet": ((0.4802, 0.4481, 0.3975), (0.2302, 0.2265, 0.2262)),
}


def normalization(builder):
    """`(mean, std, where from)` of the builder's training images, one number per channel.

    `where from` says whether the numbers come from the table, the cache, or
    were measured now.
    """
    if builder.name in KNOWN:
        mean, std = KNOWN[builder.name]
        return list(mean), list(std), "known values"
    path = os.path.join(os.fspath(builder.data_dir), CACHE_NAME)
    if os.path.exists(path):
        cached = read_json(path)
        return cached["mean"], cached["std"], f"cached in {path}"
    print(f"Measuring the mean and std of {builder.name}'s train split (once)")
    mean, std, count = measure(builder.as_dataset(split="train"))
    if not builder.is_prepared():  # no data on disk: tfds's mock data
        return mean, std, "measured"
    try:
        write_text_atomically(path, json.dumps(
            {"mean": mean, "std": std, "split": "train", "images": count}, indent=2))
    except OSError as error:
        print(f"Cannot cache them in {path} ({error.strerror}); they are measured again "
              "next run")
        return mean, std, "measured"
    return mean, std, f"measured, cached in {path}"


def normalizer(mean, std):
    """`(pixel image, label) -> ((image / 255 - mean) / std, label)`."""
    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)

    def normalize(image, label):
        return (tf.cast(image, tf.float32) / PIXEL_SCALE - mean) / std, label

    return normalize


def measure(examples):
    """`(mean, std, image count)` over the `image` of every example, per channel."""

    def sums(example):
        pixels = tf.cast(example["image"], tf.float64) / PIXEL_SCALE
        pixels = tf.reshape(pixels, [-1, tf.shape(pixels)[-1]])
        return (tf.reduce_sum(pixels, 0), tf.reduce_sum(pixels * pixels, 0),
                tf.cast(tf.shape(pixels)[0], tf.float64))

    def add(total, part):
        return tuple(a + b for a, b in zip(total, part))

    channels = examples.element_spec["image"].shape[-1]
    start = (tf.zeros([channels], tf.float64), tf.zeros([channels], tf.float64),
             tf.constant(0.0, tf.float64), tf.constant(0, tf.int64))
    total, squares, pixels, count = examples.map(
        lambda example: (*sums(example), tf.constant(1, tf.int64)),
        num_parallel_calls=tf.data.AUTOTUNE).reduce(start, add)
    mean = total.numpy() / pixels.numpy()
    std = np.sqrt(np.maximum(squares.numpy() / pixels.numpy() - mean ** 2, 0.0))
    return [float(m) for m in mean], [float(s) for s in std], int(count)
