"""Data sources: each task spec in a config becomes a `TaskData`.

Importing this package does not import TensorFlow (the train CLI checks
folders of images before it starts TensorFlow): `TaskData` and
`DataNotPreparedError` load on first use.
"""

from dvn_tf.data.folder_cache import FOLDER_DATASET


def load_task(spec, config, workdir=None):
    """The TaskData of one task spec: the embedded digits, a folder of images, or tfds.

    A folder task keeps its decoded images in `workdir`. Reads `download`,
    `train_examples` and `holdout` with defaults, as a finished run's
    config.json may predate them.
    """
    train_examples = config.get("train_examples")
    if spec["dataset"] == "digits":
        from dvn_tf.data.digits import load_digits_task
        return load_digits_task(spec, seed=config.seed, test_fraction=config.test_fraction,
                                train_examples=train_examples)
    if spec["dataset"] == FOLDER_DATASET:
        if workdir is None:
            raise ValueError(f"task {spec['name']!r}: a folder task needs a workdir for its "
                             "decoded images")
        from dvn_tf.data.folder_tasks import load_folder_task
        return load_folder_task(spec, config, workdir)
    from dvn_tf.data.tfds_tasks import load_tfds_task
    return load_tfds_task(spec, data_dir=config.get("data_dir"), seed=config.seed,
                          download=config.get("download", True), train_examples=train_examples)


def load_tasks(config, workdir=None):
    """The TaskData of every task of a config, in task order."""
    return [load_task(spec, config, workdir) for spec in config.tasks]


def __getattr__(name):
    if name in ("DataNotPreparedError", "TaskData"):
        from dvn_tf.data import base
        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DataNotPreparedError", "TaskData", "load_task", "load_tasks"]
