"""Small classes learned: class weights in the loss, or class-balanced sampling (`--config.balance`).

- `none`: every training example counts once, as it comes.
- `weights`: each class's cross-entropy, at every (task, level), is weighted
  by its inverse frequency, normalized to a mean of 1 over the training
  examples (`class_weights`).
- `sampling`: each training batch draws its classes uniformly
  (`balanced_ids` for a task held in memory, `balanced_stream` for a stream).
- `auto` (the default): AUTO_MODE for a task whose largest class has more
  than AUTO_RATIO times the training examples of its smallest, else none.

`resolve(config, tasks)` decides, per task, once, and prints what it did.
"""

import numpy as np
import tensorflow as tf

MODES = ("auto", "none", "weights", "sampling")
AUTO_RATIO = 3.0
AUTO_MODE = "sampling"  # measured against weights in docs/choices.md


def class_weights(counts):
    """Per class N / (C * n_c): inverse frequency, with a mean of 1 over the N training examples.

    A class with no training example gets weight 0 (C counts the others).
    """
    counts = np.asarray(counts, np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.tolist()


def imbalance(counts):
    """The largest class's training examples over the smallest's (inf when a class has none)."""
    counts = np.asarray(counts)
    return float("inf") if counts.min() == 0 else float(counts.max() / counts.min())


def resolve(config, tasks, log=print):
    """Set each task's `balance` ("weights", "sampling" or None) from `config.balance`; print it.

    Raises ValueError (one line) for a value not in MODES. A config saved
    before the field existed is not balanced (as it was trained).
    """
    mode = config.get("balance", "none")
    if mode not in MODES:
        raise ValueError(f"balance={mode!r}; expected one of {', '.join(MODES)} "
                         "(--config.balance=auto balances a task whose classes differ more "
                         f"than {AUTO_RATIO:g}x)")
    for task in tasks:
        ratio = imbalance(task.class_counts)
        chosen = mode
        if mode == "auto":
            chosen = AUTO_MODE if ratio > AUTO_RATIO else "none"
        task.balance = None if chosen == "none" else chosen
        log(f"Task {task.name}: {_sizes(task)}; balance={mode}: {_what(task, chosen)}")


def _sizes(task):
    """'class sizes differ 30x (Bag: 16, Coat: 480)', or within so much."""
    counts = np.asarray(task.class_counts)
    smallest, largest = int(np.argmin(counts)), int(np.argmax(counts))
    ratio = imbalance(counts)
    return (f"training class sizes differ {ratio:.1f}x ({task.labels[largest]}: "
            f"{counts[largest]}, {task.labels[smallest]}: {counts[smallest]})")


def _what(task, chosen):
    if chosen == "weights":
        weights = [w for w in class_weights(task.class_counts) if w > 0]
        return (f"loss weighted by inverse class frequency (weights {min(weights):.2f} to "
                f"{max(weights):.2f})")
    if chosen == "sampling":
        return "each batch draws its classes uniformly (class-balanced sampling)"
    if imbalance(task.class_counts) > AUTO_RATIO:
        return "not balanced (the small classes may be learned poorly)"
    return "not balanced"


def balanced_ids(labels, seed):
    """Endless int64 indices into `labels`, each drawn from a uniformly chosen class.

    Every class present is an endless shuffled stream of its own indices; the
    classes are drawn uniformly with `seed`.
    """
    labels = np.asarray(labels)
    per_class = [tf.data.Dataset.from_tensor_slices(np.flatnonzero(labels == label))
                 .shuffle(int((labels == label).sum()), seed=seed + label,
                          reshuffle_each_iteration=True).repeat()
                 for label in np.unique(labels)]
    return tf.data.Dataset.sample_from_datasets(per_class, seed=seed)


def balanced_stream(examples, counts, seed):
    """An endless stream of `(image, label)` examples whose classes are uniform.

    Rejection resampling of the repeated `examples` (a class with n_c of N
    examples is kept with probability min_c n_c / n_c), so every example keeps
    its own augmentation and nothing is held in memory.
    """
    counts = np.asarray(counts, np.float64)
    present = counts > 0
    target = np.where(present, 1.0 / present.sum(), 0.0)
    return examples.repeat().rejection_resample(
        lambda image, label: label, target_dist=target, initial_dist=counts / counts.sum(),
        seed=seed).map(lambda label, example: example)
