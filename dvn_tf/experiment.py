"""One training run: build the DVN, fit with resumable checkpoints, evaluate, report."""

import json
import os
import tempfile
import time

import keras
import tensorflow as tf

from dvn_tf.counting import level_cost
from dvn_tf.data.pipeline import evaluation_dataset, steps_per_epoch, training_dataset
from dvn_tf.model import DVNModel, metric_name
from dvn_tf.units import UnitPlan, format_significance

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def write_atomically(path, text):
    """Write text to path through a temporary file and a rename, so a kill never leaves half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    with os.fdopen(handle, "w") as file:
        file.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def read_json(path):
    """The JSON document at path."""
    with open(path) as file:
        return json.load(file)


def make_strategy(name):
    """The tf.distribute strategy named by `--config.strategy`."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")


def make_plan(config):
    """The UnitPlan of a config: its tasks, units, order rule and unit fractions."""
    return UnitPlan.from_rule(len(config.tasks), config.units, config.order_rule,
                              config.unit_fractions)


def make_model(config, tasks):
    """The DVN of a config over the given tasks, with every weight built."""
    model = DVNModel(
        task_names=[t.name for t in tasks], num_classes=[t.num_classes for t in tasks],
        plan=make_plan(config), input_shape=[t.input_shape for t in tasks],
        backbone=config.backbone, base_width=config.base_width, dropout=config.dropout,
        bn_momentum=config.bn_momentum, level_weights=config.level_weights,
        per_level_heads=config.per_level_heads, label_smoothing=config.label_smoothing,
        name="dvn")
    model.build()
    return model


def make_optimizer(config, steps):
    """SGD with momentum and decoupled weight decay under a cosine or step schedule."""
    total = config.epochs * steps
    if config.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, max(total, 1))
    elif config.schedule == "step":
        bounds = [int(f * total) for f in config.step_epochs]
        rate = keras.optimizers.schedules.PiecewiseConstantDecay(
            bounds, [config.learning_rate * 0.1 ** i for i in range(len(bounds) + 1)])
    else:
        raise ValueError(f"schedule must be 'cosine' or 'step', got {config.schedule!r}")
    return keras.optimizers.SGD(rate, momentum=config.momentum,
                                weight_decay=config.weight_decay or None, nesterov=True)


class TrainClock(keras.callbacks.Callback):
    """Adds each epoch's wall time to a file, so train_seconds survives a resume."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.seconds = read_json(path)["seconds"] if os.path.exists(path) else 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self.started
        write_atomically(self.path, json.dumps({"seconds": self.seconds}))


def completed_epochs(workdir):
    """Epochs a previous run in workdir finished (0 if none)."""
    path = os.path.join(workdir, "checkpoints", "training_metadata.json")
    return read_json(path)["epoch"] if os.path.exists(path) else 0


def fit(model, tasks, config, workdir):
    """Fit with per-epoch checkpoints; a killed run resumes from its last finished epoch."""
    steps = steps_per_epoch(tasks, config.batch_size)
    clock = TrainClock(os.path.join(workdir, "checkpoints", "train_time.json"))
    done = completed_epochs(workdir)
    if done:
        print(f"Resuming from epoch {done} of {config.epochs} (checkpoint in {workdir}/checkpoints)")
    model.fit(
        training_dataset(tasks, config.batch_size, config.seed),
        epochs=config.epochs, steps_per_epoch=steps, shuffle=False,
        validation_data=evaluation_dataset(tasks, config.batch_size * 4),
        callbacks=[
            keras.callbacks.BackupAndRestore(os.path.join(workdir, "checkpoints"),
                                             double_checkpoint=True, delete_checkpoint=False),
            clock,
            keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard")),
        ],
        verbose=2 if os.environ.get("CI") else "auto")
    return clock.seconds


def evaluate(model, tasks, config):
    """Held-out accuracy of every (task, level), keyed by (task index, level)."""
    logs = model.evaluate(evaluation_dataset(tasks, config.batch_size * 4),
                          return_dict=True, verbose=0)
    return {(t, level): float(logs[metric_name(task.name, level)])
            for t, task in enumerate(tasks) for level in model.levels}


def results_dict(model, tasks, config, accuracy, train_seconds):
    """The results.json document (DESIGN.md)."""
    entries = []
    for t, task in enumerate(tasks):
        for level in model.levels:
            params, flops = level_cost(model, t, level)
            entries.append({"task": task.name, "level": level,
                            "units": model.plan.level_units(t, level),
                            "params": params, "flops": flops,
                            "accuracy": accuracy[(t, level)]})
    return {"scenario": config.scenario, "method": config.method,
            "backbone": config.backbone, "order_rule": config.order_rule,
            "units": config.units,
            "tasks": [{"name": task.name, "num_classes": task.num_classes,
                       "order": model.plan.orders[t]} for t, task in enumerate(tasks)],
            "entries": entries, "train_seconds": round(train_seconds, 2)}


def results_markdown(results, plan):
    """The per-(task, level) table and the significance table, for people."""
    lines = [f"# {results['scenario']}: {results['method']}, {results['backbone']}, "
             f"k={results['units']}, order rule {results['order_rule']}", "",
             "| task | level | units | params | FLOPs | accuracy |",
             "| --- | ---: | --- | ---: | ---: | ---: |"]
    for e in results["entries"]:
        lines.append(f"| {e['task']} | {e['level']} | {','.join(map(str, e['units']))} | "
                     f"{e['params']:,} | {e['flops']:,} | {e['accuracy']:.4f} |")
    lines += ["", "Significance: levels of each task that train each unit (k - l_j(i) + 1)",
              "", "```", format_significance(plan, [t["name"] for t in results["tasks"]]),
              "```", "", f"Training time: {results['train_seconds']:.1f} s"]
    return "\n".join(lines) + "\n"
