"""Data sources: each task spec in a config becomes a `TaskData`."""

from dvn_tf.data.base import DataNotPreparedError, TaskData


def load_task(spec, config):
    """The TaskData of one task spec, from the embedded digits or from tfds.

    Reads `download` and `train_examples` with defaults, as a finished run's
    config.json may predate them.
    """
    train_examples = config.get("train_examples")
    if spec["dataset"] == "digits":
        from dvn_tf.data.digits import load_digits_task
        return load_digits_task(spec, seed=config.seed, test_fraction=config.test_fraction,
                                train_examples=train_examples)
    from dvn_tf.data.tfds_tasks import load_tfds_task
    return load_tfds_task(spec, data_dir=config.get("data_dir"), seed=config.seed,
                          download=config.get("download", True), train_examples=train_examples)


def load_tasks(config):
    """The TaskData of every task of a config, in task order."""
    return [load_task(spec, config) for spec in config.tasks]


__all__ = ["DataNotPreparedError", "TaskData", "load_task", "load_tasks"]
