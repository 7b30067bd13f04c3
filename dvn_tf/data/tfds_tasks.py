"""Tasks from any tensorflow-datasets image-classification dataset.

`load_tfds_task(spec)` turns one task spec into a `TaskData`: the dataset's
`image` feature (grayscale or RGB) and a class label, its `train` split for
training and its `test` split (else `validation`) held out. A dataset missing
from the data dir is prepared first (see dvn_tf.data.preparation).
"""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from dvn_tf.data import augment
from dvn_tf.data.base import TaskData
from dvn_tf.data.normalization import PIXEL_SCALE, normalization, normalizer
from dvn_tf.data.preparation import prepared_builder

HELD_OUT_SPLITS = ("test", "validation")


def load_tfds_task(spec, data_dir=None, seed=0, download=True, train_examples=None):
    """Builds the `TaskData` of one task spec (a ConfigDict or a dict).

    Spec fields: `name`, `dataset` (a tfds name: cifar10, fashion_mnist,
    svhn_cropped, ...), `label_key` ("label"), then at most one of `classes`
    (original class ids kept, remapped to 0..n-1 in that order) and `groups`
    ({new class name: [original class ids]}, each group one new class, in
    that order); `augment` ("standard", "randaugment", "none"), `mix` ("none",
    "mixup", "cutmix"), `image_size` (None: native size).
    `data_dir` is the tfds data dir (None: tfds's default); `download=False`
    forbids network access; `train_examples` keeps that many training examples
    of the task, a random subset drawn with `seed` (None: all).
    """
    name, dataset = spec["name"], spec["dataset"]
    builder = prepared_builder(dataset, data_dir, download)
    features = builder.info.features
    label_key = spec.get("label_key") or "label"
    image_feature, label_feature = (features[key] if key in features.keys() else None
                                    for key in ("image", label_key))
    if (not isinstance(image_feature, tfds.features.Image)
            or not isinstance(label_feature, tfds.features.ClassLabel)):
        raise ValueError(
            f"task {name!r}: dataset {dataset!r} needs an 'image' feature and a class label "
            f"{label_key!r}; its features are {sorted(features.keys())}")
    classes = _label_groups(spec, label_feature, (builder.info.metadata or {}).get("words", {}))
    height, width, channels = _input_shape(spec, image_feature, dataset)
    test_split = _held_out_split(builder)
    new_id = np.full(label_feature.num_classes, -1, np.int64)
    for index, (_, ids) in enumerate(classes):
        new_id[ids] = index

    def split_of(split, limit=None):
        return _pixel_split(builder, split, label_key, new_id, (height, width), limit, seed)

    train, train_counts = split_of("train", train_examples)
    test, test_counts = split_of(test_split)
    train_size, test_size = sum(train_counts), sum(test_counts)
    mean, std, source = normalization(builder)
    print(f"Task {name}: {dataset} '{label_key}', {len(classes)} classes, {train_size:,} "
          f"training images (split 'train'), {test_size:,} held out (split '{test_split}'), "
          f"{height}x{width}x{channels}, mean/std {source}")
    normalize = normalizer(mean, std)
    train = augment.augment_examples(train, spec.get("augment") or "standard", seed)
    return TaskData(
        name=name,
        num_classes=len(classes),
        labels=[label for label, _ in classes],
        input_shape=(height, width, channels),
        mean=list(mean),
        std=list(std),
        pixel_scale=PIXEL_SCALE,
        train=train.map(normalize, num_parallel_calls=tf.data.AUTOTUNE),
        test=test.map(normalize, num_parallel_calls=tf.data.AUTOTUNE),
        train_size=train_size,
        test_size=test_size,
        augment=augment.batch_mixer(spec.get("mix") or "none", len(classes), seed),
        class_counts=train_counts,
    )


def _label_groups(spec, label_feature, words):
    """`[(class name, [original ids])]` in the new logit order, from `classes` or `groups`.

    `words` maps an original class name to a readable one (Tiny-ImageNet's wnids).
    """
    num_original = label_feature.num_classes
    names = [words.get(n, n) for n in label_feature.names]
    classes, groups = spec.get("classes"), spec.get("groups")
    if classes is not None and groups is not None:
        raise ValueError(f"task {spec['name']!r}: give classes or groups, not both")
    if groups is not None:
        chosen = [(str(label), [int(i) for i in ids]) for label, ids in dict(groups).items()]
        wanted = "groups of distinct original ids"
    elif classes is not None:
        chosen = [(names[int(c)] if 0 <= int(c) < num_original else str(c), [int(c)])
                  for c in classes]
        wanted = "distinct original ids"
    else:
        return [(names[i], [i]) for i in range(num_original)]
    ids = [i for _, group in chosen for i in group]
    if (not chosen or not all(group for _, group in chosen) or len(set(ids)) != len(ids)
            or not all(0 <= i < num_original for i in ids)):
        raise ValueError(f"task {spec['name']!r}: classes={classes}, groups={groups}; "
                         f"expected {wanted} in [0, {num_original})")
    return chosen


def _input_shape(spec, image_feature, dataset):
    """`(height, width, channels)` the task's images are resized to (or have natively)."""
    height, width, channels = image_feature.shape
    size = spec.get("image_size")
    if size:
        height = width = int(size)
    if not height or not width or not channels:
        raise ValueError(f"task {spec['name']!r}: the images of {dataset!r} have shape "
                         f"{image_feature.shape}; set image_size in the task spec")
    if image_feature.dtype != tf.uint8:
        raise ValueError(f"task {spec['name']!r}: the images of {dataset!r} are "
                         f"{image_feature.dtype.name}, not 8-bit")
    return height, width, channels


def _held_out_split(builder):
    """`test` if the dataset has it, else `validation`."""
    splits = list(builder.info.splits.keys())
    if not splits:  # unknown before preparation; tfds's mock data accepts any split
        return HELD_OUT_SPLITS[0]
    held_out = [split for split in HELD_OUT_SPLITS if split in splits]
    if "train" not in splits or not held_out:
        raise ValueError(f"dataset {builder.name!r} has splits {splits}: no 'train' and "
                         "'test' or 'validation' to train and evaluate on")
    return held_out[0]


def _pixel_split(builder, split, label_key, new_id, size, limit=None, seed=0):
    """`(dataset of (uint8 image, int32 label), examples per class)` for one split.

    Remaps labels with `new_id` (original id -> new id, -1: dropped) and keeps
    a random subset of `limit` examples, drawn with `seed` (in the split's
    order), before decoding the images; resizes to `size`, then caches the
    decoded images, so random ops downstream run on the cache. The counts
    come from one pass over the labels, the images left undecoded.
    """
    raw = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
    raw = raw.map(lambda example: (example["image"], example[label_key]))
    if not np.array_equal(new_id, np.arange(len(new_id))):
        raw = raw.map(lambda image, label: (image, tf.gather(new_id, label)))
        raw = raw.filter(lambda image, label: label >= 0)
    labels = _labels_of(raw)
    if limit is not None and limit < len(labels):
        kept = np.zeros(len(labels), bool)
        kept[np.random.default_rng(seed).choice(len(labels), limit, replace=False)] = True
        raw = raw.enumerate().filter(lambda index, _: tf.gather(kept, index))
        raw = raw.map(lambda _, example: example)
        labels = labels[kept]
    decode_image = builder.info.features["image"].decode_example

    def decode(image, label):
        image = decode_image(image)
        if tuple(image.shape[:2]) != size:
            image = tf.image.resize(image, size, antialias=True)
            image = tf.cast(tf.round(tf.clip_by_value(image, 0, 255)), tf.uint8)
        return image, tf.cast(label, tf.int32)

    counts = np.bincount(labels, minlength=int(new_id.max()) + 1).tolist()
    return raw.map(decode, num_parallel_calls=tf.data.AUTOTUNE).cache(), counts


def _labels_of(raw):
    """int64 [N]: the labels of a dataset of (undecoded image, label), in order."""
    batches = raw.map(lambda image, label: label).batch(65536).as_numpy_iterator()
    return np.concatenate([np.zeros(0, np.int64), *batches]).astype(np.int64)
