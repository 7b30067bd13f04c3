"""The embedded default data: scikit-learn's bundled 8x8 handwritten digits (no download)."""

import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from dvn_tf.data.base import TaskData

PIXEL_SCALE = 16.0  # the digits' pixel values run from 0 to 16


def split_digits(seed, test_fraction):
    """A stratified, seeded (train, test) split of all 1,797 digits as ((x, y), (x, y))."""
    digits = load_digits()
    images = digits.images.astype("float32")[..., None] / PIXEL_SCALE
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=test_fraction, stratify=digits.target,
        random_state=seed)
    return (x_train, y_train), (x_test, y_test)


def load_digits_task(spec, seed=0, test_fraction=0.25, train_examples=None):
    """A task over the digit classes `spec['classes']`, labels remapped in that order.

    `train_examples` keeps the first that many training examples of the split,
    which is shuffled with `seed` (None: all).
    """
    classes = list(spec.get("classes") or range(10))
    (x_train, y_train), (x_test, y_test) = split_digits(seed, test_fraction)
    mean = float(x_train.mean())
    std = float(x_train.std())

    def subset(images, labels):
        keep = np.isin(labels, classes)
        remapped = np.array([classes.index(c) for c in labels[keep]])
        normalized = (images[keep] - mean) / std
        return normalized, remapped.astype("int32")

    train, test = subset(x_train, y_train), subset(x_test, y_test)
    train = tuple(array[:train_examples] for array in train)
    return TaskData(
        name=spec["name"], num_classes=len(classes), labels=[str(c) for c in classes],
        input_shape=(8, 8, 1), mean=[mean], std=[std], pixel_scale=PIXEL_SCALE,
        train=tf.data.Dataset.from_tensor_slices(train),
        test=tf.data.Dataset.from_tensor_slices(test),
        train_size=len(train[1]), test_size=len(test[1]),
        class_counts=np.bincount(train[1], minlength=len(classes)).tolist())
