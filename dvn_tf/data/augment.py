"""Training augmentation: per-example (crop, flip, RandAugment) and per-batch
(MixUp, CutMix), all from TensorFlow and Keras 3 itself."""

import keras
import tensorflow as tf

EXAMPLE_AUGMENTS = ("none", "standard", "randaugment")
BATCH_MIXES = ("none", "mixup", "cutmix")


def augment_examples(dataset, kind, seed):
    """Maps `(image, label)` pixel images (values in [0, 255]) through `kind`.

    "standard" pads by a 1/8 of the side (4 px at 32, 12 px at 96) with zeros,
    crops back at random and flips left-right at random; "randaugment" then
    applies `keras.layers.RandAugment`. Each example draws its own stateless
    seed from `tf.data.Dataset.random(seed)`, new on every pass. Images come
    out float32, still in pixel units.
    """
    augment = example_augmenter(kind, seed)
    to_float = lambda image, label: (tf.cast(image, tf.float32), label)
    dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    if augment is None:
        return dataset
    return tf.data.Dataset.zip(dataset, _pass_seeds(seed)).map(
        lambda example, example_seed: (augment(example[0], example_seed), example[1]),
        num_parallel_calls=tf.data.AUTOTUNE)


def augment_batches(dataset, kind, seed):
    """`augment_examples` for a dataset of `(images, labels)` batches: the same per-example
    transformation, each example with its own stateless seed split from its batch's."""
    augment = example_augmenter(kind, seed)
    to_float = lambda images, labels: (tf.cast(images, tf.float32), labels)
    dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    if augment is None:
        return dataset

    def augment_batch(batch, batch_seed):
        images, labels = batch
        seeds = tf.random.experimental.stateless_split(batch_seed, num=tf.shape(images)[0])
        return tf.map_fn(lambda pair: augment(*pair), (images, seeds),
                         fn_output_signature=tf.float32), labels

    return tf.data.Dataset.zip(dataset, _pass_seeds(seed)).map(
        augment_batch, num_parallel_calls=tf.data.AUTOTUNE)


def example_augmenter(kind, seed):
    """`(float pixel image, stateless seed [2]) -> augmented image` for `kind`; None for "none"."""
    if kind not in EXAMPLE_AUGMENTS:
        raise ValueError(
            f"augment={kind!r}; expected one of {EXAMPLE_AUGMENTS}")
    if kind == "none":
        return None
    rand_augment = (keras.layers.RandAugment(value_range=(0, 255), seed=seed)
                    if kind == "randaugment" else None)

    def augment(image, example_seed):
        crop_seed, flip_seed = tf.unstack(
            tf.random.experimental.stateless_split(example_seed, num=2))
        image = _pad_crop(image, crop_seed)
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
        if rand_augment is not None:
            image = rand_augment(image, training=True)
        return image

    return augment


def _pass_seeds(seed):
    """Stateless seeds [2] drawn from `seed`, new on every pass."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)


def _pad_crop(image, seed):
    """Zero-pads each side by 1/8 of the height and crops back at random."""
    height, width, channels = image.shape
    pad = height // 8
    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
    return tf.image.stateless_random_crop(
        padded, [height, width, channels], seed)


def batch_mixer(kind, num_classes, seed):
    """`(images, int labels) -> (images, soft labels float32 [B, classes])`.

    "mixup" uses `keras.layers.MixUp` (alpha 0.2), "cutmix"
    `keras.layers.CutMix` (factor 1.0); "none" gives None (no batch step).
    """
    if kind not in BATCH_MIXES:
        raise ValueError(f"mix={kind!r}; expected one of {BATCH_MIXES}")
    if kind == "none":
        return None
    layer = (keras.layers.MixUp(seed=seed) if kind == "mixup"
             else keras.layers.CutMix(seed=seed))

    def mix(images, labels):
        one_hot = tf.one_hot(tf.cast(labels, tf.int32), num_classes)
        mixed = layer({"images": images, "labels": one_hot}, training=True)
        return mixed["images"], tf.cast(mixed["labels"], tf.float32)

    return mix
