"""Batches for the DVN's train and test steps: one batch per task, zipped."""

import math

import tensorflow as tf

from dvn_tf.data.balance import balanced_stream

AUTOTUNE = tf.data.AUTOTUNE


def steps_per_epoch(tasks, batch_size):
    """Steps for one pass over the largest task's training split."""
    return max(math.ceil(task.train_size / batch_size) for task in tasks)


def training_dataset(tasks, batch_size, seed):
    """Endless {task name: (images, labels)} batches; each task draws from its own data.

    A task whose `balance` is "sampling" draws its classes uniformly.
    """
    per_task = {}
    for index, task in enumerate(tasks):
        balanced = task.balance == "sampling"
        if task.batches is not None:
            data = task.batches(batch_size, seed + index, balanced=balanced)
        else:
            data = task.train.shuffle(min(task.train_size, 50_000), seed=seed + index,
                                      reshuffle_each_iteration=True)
            data = (balanced_stream(data, task.class_counts, seed + index) if balanced
                    else data.repeat())
            data = data.batch(batch_size, drop_remainder=True)
        if task.augment is not None:
            data = data.map(task.augment, num_parallel_calls=AUTOTUNE)
        per_task[task.name] = data
    return tf.data.Dataset.zip(per_task).prefetch(AUTOTUNE)


def evaluation_dataset(tasks, batch_size, split="test"):
    """{task name: (images, labels, weights)} batches covering every held-out example once.

    Tasks with fewer examples are padded with weight-0 examples, so accuracy
    over the weighted examples is exact for every task.
    """
    sizes = [getattr(task, f"{split}_size") for task in tasks]
    batches = max(math.ceil(size / batch_size) for size in sizes)
    per_task = {}
    for task in tasks:
        data = getattr(task, split).map(lambda image, label: (image, label, 1.0))
        padding = tf.data.Dataset.from_tensors(
            (tf.zeros(task.input_shape), tf.constant(0, tf.int32), 0.0)).repeat()
        per_task[task.name] = (data.concatenate(padding)
                               .batch(batch_size, drop_remainder=True).take(batches))
    return tf.data.Dataset.zip(per_task).prefetch(AUTOTUNE)
