"""Read a training run back: its config, its DVN and its tasks' data."""

import json
import os


class RunError(ValueError):
    """A workdir does not hold a usable training run; the message says what is missing."""


def first_line(error):
    """The first line of an exception's message (its type name when the message is empty)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def check_run(workdir):
    """Raise RunError unless workdir holds model.keras and config.json (cheap: no TensorFlow)."""
    if not os.path.isdir(workdir):
        raise RunError(f"workdir {workdir!r} does not exist; train first with "
                       f"`python -m dvn_tf.train --workdir={workdir}`")
    for name in ("model.keras", "config.json"):
        if not os.path.isfile(os.path.join(workdir, name)):
            raise RunError(f"no {name} in workdir {workdir!r}; train to the end first with "
                           f"`python -m dvn_tf.train --workdir={workdir}`")


def load_config(workdir):
    """The run's ConfigDict from DIR/config.json."""
    import ml_collections

    path = os.path.join(workdir, "config.json")
    try:
        with open(path) as file:
            return ml_collections.ConfigDict(json.load(file))
    except (OSError, ValueError) as error:
        raise RunError(f"cannot read {path}: {error}") from None


def load_run(workdir):
    """(config, DVNModel, [TaskData]) of a finished training run in workdir."""
    check_run(workdir)
    import keras

    from dvn_tf.model import DVNModel  # importing it registers the DVN classes for load_model
    from dvn_tf.data import DataNotPreparedError, load_tasks

    config = load_config(workdir)
    path = os.path.join(workdir, "model.keras")
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # load_model raises many types on a bad file
        raise RunError(f"cannot load {path}: {first_line(error)}") from None
    if not isinstance(model, DVNModel):
        raise RunError(f"{path} holds a {type(model).__name__}, not a DVN trained by dvn_tf.train")
    try:
        tasks = load_tasks(config, workdir)
    except (DataNotPreparedError, ValueError, KeyError) as error:
        raise RunError(f"cannot load the data of {workdir!r}: {first_line(error)}") from None
    names = [t.name for t in tasks]
    if names != list(model.task_names):
        raise RunError(f"{path} has tasks {model.task_names} but config.json has {names}")
    return config, model, tasks
