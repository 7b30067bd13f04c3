"""Tasks from a folder of images: the `TaskData` of a task spec with dataset "folder".

Spec fields: `name`, `path` (PATH/CLASS/image, or PATH/GROUP/CLASS/image),
`granularity` ("fine": the classes, the default; "coarse": the groups of a
grouped tree), and as for tfds tasks `augment`, `mix` and `image_size`. The
images are read from the workdir's cache (dvn_tf/data/folder_cache.py),
decoded on first use. Held out: the folder's test/ (or val/) split, else a
seeded split stratified by class, `holdout` of each class; both tasks of a
grouped tree share it.
"""

import json
import os

import numpy as np
import tensorflow as tf

from dvn_tf.data import augment
from dvn_tf.data.balance import balanced_ids
from dvn_tf.data.base import TaskData
from dvn_tf.data.folder_cache import (FolderError, cache_directory, decoding_workdir,
                                      image_size_of, prepare_folders, read_prepared, root_of,
                                      run_channels)
from dvn_tf.data.normalization import PIXEL_SCALE, normalizer
from dvn_tf.files import read_json, write_text_atomically

NORMALIZATION_FILE = "normalization.json"  # {split key: {"mean", "std"}} beside the images
SHOWN_CLASSES = 20  # rows of the per-class split printed


def load_folder_task(spec, config, workdir):
    """The TaskData of a folder task spec; decodes the folder into workdir first if need be.

    A spec with its own `workdir`, `seed` and `holdout` (a task kept by a grown
    run) is read from that workdir's cache with that split, and decodes nothing.
    """
    if not spec.get("workdir"):
        for decode in prepare_folders(config, workdir):
            decode().save()
    root, size = root_of(spec), image_size_of(spec, config)
    directory = cache_directory(decoding_workdir(spec, workdir), root, size)
    prepared = read_prepared(directory)
    if prepared is None:
        raise FolderError(f"task {spec['name']!r}: no decoded images in {directory}")
    index = prepared.index
    fine = np.asarray(index["class_of_file"], np.int32)
    if spec.get("granularity") == "coarse":
        labels, names = np.asarray(index["group_of_class"], np.int32)[fine], index["groups"]
    else:
        labels, names = fine, index["classes"]
    holdout = spec.get("holdout", config.get("holdout", 0.2))
    train_ids, test_ids, split_source = held_out_split(index, fine, spec.get("seed", config.seed),
                                                       holdout)
    channels = run_channels(config, workdir)
    mean, std, statistics_source = _normalization(prepared, train_ids, channels,
                                                  f"{split_source}, {channels} channels")
    train_examples = config.get("train_examples")
    if train_examples is not None and train_examples < len(train_ids):
        train_ids = np.sort(np.random.default_rng(config.seed).choice(
            train_ids, train_examples, replace=False))
    _print_split(spec["name"], root, names, labels, train_ids, test_ids, split_source,
                 (size, size, channels), statistics_source)
    images = prepared.images()
    train_pixels = tf.constant(_with_channels(images[train_ids], channels))
    train_labels = tf.constant(labels[train_ids])
    kind = spec.get("augment") or "standard"
    normalize = normalizer(mean, std)

    def batches(batch_size, seed, balanced=False):
        """Shuffled ids (classes drawn uniformly when `balanced`), a batch gathered at once,
        then augmented and normalized as a batch."""
        ids = (balanced_ids(labels[train_ids], seed) if balanced
               else tf.data.Dataset.range(len(train_ids)).shuffle(
                   len(train_ids), seed=seed, reshuffle_each_iteration=True).repeat())
        gathered = ids.batch(batch_size, drop_remainder=True).map(
            lambda batch: (tf.gather(train_pixels, batch), tf.gather(train_labels, batch)),
            num_parallel_calls=tf.data.AUTOTUNE)
        return augment.augment_batches(gathered, kind, seed).map(
            normalize, num_parallel_calls=tf.data.AUTOTUNE)

    train = augment.augment_examples(
        tf.data.Dataset.from_tensor_slices((train_pixels, train_labels)), kind, config.seed)
    test = tf.data.Dataset.from_tensor_slices(
        (_with_channels(images[test_ids], channels), labels[test_ids]))
    return TaskData(
        name=spec["name"], num_classes=len(names), labels=list(names),
        input_shape=(size, size, channels), mean=mean, std=std, pixel_scale=PIXEL_SCALE,
        train=train.map(normalize, num_parallel_calls=tf.data.AUTOTUNE),
        test=test.map(normalize, num_parallel_calls=tf.data.AUTOTUNE),
        train_size=len(train_ids), test_size=len(test_ids),
        augment=augment.batch_mixer(spec.get("mix") or "none", len(names), config.seed),
        batches=batches,
        class_counts=np.bincount(labels[train_ids], minlength=len(names)).tolist())


def held_out_split(index, classes, seed, holdout):
    """(training ids, held-out ids, how they were chosen) over a prepared folder's files.

    The folder's own train/ and test/ split when it has one; else, per class,
    `holdout` of its images (at least one of a class with two or more) drawn
    with `seed`. The held-out ids come shuffled with `seed`, so that the first
    few (the export's sample images) show several classes.
    """
    rng = np.random.default_rng(seed)
    if index["split_of_file"] is not None:
        split = np.asarray(index["split_of_file"])
        return (np.flatnonzero(split == "train"), rng.permutation(np.flatnonzero(split == "test")),
                f"folders train/ and {index['held_out_folder']}/")
    if not 0 < holdout < 1:
        raise ValueError(f"holdout={holdout}: the held-out share of each class must be in "
                         "(0, 1), e.g. --config.holdout=0.2")
    held_out = []
    for label in range(int(classes.max()) + 1):
        members = rng.permutation(np.flatnonzero(classes == label))
        count = max(1, round(holdout * len(members))) if len(members) > 1 else 0
        held_out += members[:count].tolist()
    test = np.zeros(len(classes), bool)
    test[held_out] = True
    return (np.flatnonzero(~test), rng.permutation(np.flatnonzero(test)),
            f"stratified {holdout:.0%} split, seed {seed}")


def _with_channels(images, channels):
    """uint8 images with `channels` channels: gray images are repeated into RGB when asked."""
    return np.repeat(images, channels, axis=-1) if images.shape[-1] < channels else images


def _normalization(prepared, train_ids, channels, key):
    """(mean, std, where from) of the training images per channel, cached beside the images."""
    path = os.path.join(prepared.directory, NORMALIZATION_FILE)
    cached = read_json(path) if os.path.exists(path) else {}
    if key in cached:
        return cached[key]["mean"], cached[key]["std"], f"cached in {path}"
    images = prepared.images()
    total = np.zeros(images.shape[-1])
    squares = np.zeros(images.shape[-1])
    for start in range(0, len(train_ids), 1024):  # float64 sums, a chunk at a time
        pixels = images[train_ids[start:start + 1024]].reshape(-1, images.shape[-1]) / PIXEL_SCALE
        total += pixels.sum(0)
        squares += (pixels * pixels).sum(0)
    count = len(train_ids) * images.shape[1] * images.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
    mean, std = (np.resize(values, channels).tolist() for values in (mean, std))
    cached[key] = {"mean": mean, "std": std}
    write_text_atomically(path, json.dumps(cached, indent=1))
    return mean, std, f"measured, cached in {path}"


def _print_split(name, root, names, labels, train_ids, test_ids, source, shape, statistics):
    """Print the task, its split per class and where its normalization comes from."""
    height, width, channels = shape
    print(f"Task {name}: folder {root}, {len(names)} classes, {len(train_ids):,} training "
          f"images, {len(test_ids):,} held out ({source}), {height}x{width}x{channels}, "
          f"mean/std {statistics}")
    train_counts = np.bincount(labels[train_ids], minlength=len(names))
    test_counts = np.bincount(labels[test_ids], minlength=len(names))
    column = max(len("class"), *(len(n) for n in names[:SHOWN_CLASSES]))
    print(f"  {'class':<{column}}  train  held out")
    for label, (train, test) in enumerate(zip(train_counts, test_counts)):
        if label == SHOWN_CLASSES:
            print(f"  ... and {len(names) - SHOWN_CLASSES} more classes")
            break
        print(f"  {names[label]:<{column}}  {train:>5}  {test:>8}")
