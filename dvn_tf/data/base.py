"""The shape every data source hands to training: one `TaskData` per task."""

import dataclasses

import tensorflow as tf


class DataNotPreparedError(RuntimeError):
    """A dataset is not on this machine; the message says how to prepare it."""


@dataclasses.dataclass
class TaskData:
    """One task's held data, unbatched and normalized.

    `train` and `test` yield `(image float32 [H, W, C], label int32 scalar)`,
    already normalized with `mean` / `std` (in units of pixels scaled to
    [0, 1]); `pixel_scale` is the raw pixel maximum (255, or 16 for the
    digits). `labels` are the class names in logit order.
    `augment`, if given, maps a batch of training images to augmented images.
    `batches`, if given, makes the endless training batches itself,
    `batches(batch_size, seed)` -> `(images, labels)` augmented and normalized
    (before `augment`), instead of the pipeline shuffling and batching `train`
    example by example: a task held in memory draws whole batches at once;
    `batches(batch_size, seed, balanced=True)` draws classes uniformly.
    `class_counts` are the training examples per class, in logit order.
    `balance` is set by dvn_tf.data.balance.resolve: "weights", "sampling" or
    None (as the examples come).
    """

    name: str
    num_classes: int
    labels: list
    input_shape: tuple
    mean: list
    std: list
    pixel_scale: float
    train: tf.data.Dataset
    test: tf.data.Dataset
    train_size: int
    test_size: int
    augment: object = None
    batches: object = None
    class_counts: list = None
    balance: str = None

    def __post_init__(self):
        if len(self.labels) != self.num_classes:
            raise ValueError(
                f"task {self.name!r}: {len(self.labels)} labels for "
                f"num_classes={self.num_classes}")
