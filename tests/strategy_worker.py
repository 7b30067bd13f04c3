"""Runs one DVN train step (and an evaluation) under default and MirroredStrategy; prints JSON.

tests/test_strategies.py runs this in a subprocess, because the CPU must be
split into two logical devices before TensorFlow initializes. Usage:
    python tests/strategy_worker.py OUT.json
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from dvn_tf import experiment, strategies  # noqa: E402
from dvn_tf.model import DVNModel  # noqa: E402
from dvn_tf.units import UnitPlan  # noqa: E402

BATCH = 8  # per task, global; each of the two replicas gets 4
CLASSES = {"a": 3, "b": 4}
MODEL_OPTIONS = {"backbone": "resnet-8", "base_width": 4}  # other tests set other tasks, backbone
RUN_EAGERLY = False  # eager steps: for a backbone whose traced step costs more than a few eager ones


class ProbedDVN(DVNModel):
    """The DVN, also logging how many rows of each task's batch one replica received."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = keras.metrics.Mean(name="replica_rows")

    def train_step(self, data):
        logs = super().train_step(data)
        for _, (images, _) in self.per_task(data):
            self.rows.update_state(tf.cast(tf.shape(images)[0], "float32"))
        return {**logs, "replica_rows": self.rows.result()}


class FreshStart:
    """One tiny DVN compiled under a strategy, whose every fit starts from the same seeded state.

    Weights and optimizer slots are restored before each fit, so the traced train
    step is reused: a new model per fit would trace the whole DVN step again.
    """

    def __init__(self, strategy):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            self.model = ProbedDVN(list(CLASSES), list(CLASSES.values()),
                                   UnitPlan.from_rule(len(CLASSES), 2, "nearest"), (8, 8, 1),
                                   **MODEL_OPTIONS)
            self.model.build()
            self.model.compile(optimizer=keras.optimizers.SGD(
                0.1, momentum=0.9, nesterov=True, weight_decay=1e-3), run_eagerly=RUN_EAGERLY)
            self.model.optimizer.build(self.model.trained_variables())
        self.state = self.variables()
        self.initial = [keras.ops.convert_to_numpy(v) for v in self.state]

    def variables(self):
        """The model's weights and the optimizer's slots and step counter."""
        return list(self.model.weights) + list(self.model.optimizer.variables)

    def first_step(self, data):
        """Fit one step from the seeded initial state; (logs, model)."""
        for variable, value in zip(self.state, self.initial):
            variable.assign(value)
        history = self.model.fit(tf.data.Dataset.from_tensors(data), epochs=1, verbose=0)
        return {k: float(v[0]) for k, v in history.history.items()}, self.model


def batch(seed, duplicated_halves):
    """{task: (images, labels)} of BATCH rows; optionally rows 4-7 repeat rows 0-3."""
    rng = np.random.default_rng(seed)
    data = {}
    for name, classes in CLASSES.items():
        images = rng.normal(size=(BATCH, 8, 8, 1)).astype("float32")
        labels = rng.integers(0, classes, BATCH).astype("int32")
        if duplicated_halves:
            half = BATCH // 2
            images = np.concatenate([images[:half]] * 2)
            labels = np.concatenate([labels[:half]] * 2)
        data[name] = (images, labels)
    return data


def weights(model):
    """Every weight (trainable and BN moving statistics), as read from replica 0, in model order."""
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def replica_copies_spread(model):
    """Largest difference between the replicas' copies of any weight."""
    spread = 0.0
    for variable in model.weights:
        copies = [np.asarray(c) for c in getattr(variable.value, "values", [variable.value])]
        spread = max([spread] + [float(np.max(np.abs(c - copies[0]))) for c in copies])
    return spread


def max_difference(a, b):
    """Largest elementwise difference between two weight lists."""
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


class FakeTask:
    """A held-out split of n examples, enough for experiment.evaluate."""

    def __init__(self, name, classes, n, seed):
        rng = np.random.default_rng(seed)
        self.name, self.num_classes, self.input_shape = name, classes, (8, 8, 1)
        self.test = tf.data.Dataset.from_tensor_slices(
            (rng.normal(size=(n, 8, 8, 1)).astype("float32"),
             rng.integers(0, classes, n).astype("int32")))
        self.test_size = n


def main(out_path):
    default = tf.distribute.get_strategy()
    mirrored = strategies.make_strategy("mirrored")
    report = {"replicas": mirrored.num_replicas_in_sync}
    on_default, on_mirrored = FreshStart(default), FreshStart(mirrored)

    # 1. Rows 4-7 repeat rows 0-3: each replica's half has the whole batch's BN statistics.
    same = batch(1, duplicated_halves=True)
    logs_d, model_d = on_default.first_step(same)
    logs_m, model_m = on_mirrored.first_step(same)
    report["duplicated"] = {
        "loss_default": logs_d["loss"], "loss_mirrored": logs_m["loss"],
        "rows_default": logs_d["replica_rows"], "rows_mirrored": logs_m["replica_rows"],
        "weights_max_diff": max_difference(weights(model_d), weights(model_m)),
        "replica_spread": replica_copies_spread(model_m)}

    # 2. Distinct halves: only BN synchronized across replicas makes this the whole-batch step.
    mixed = batch(2, duplicated_halves=False)
    logs_d, model_d = on_default.first_step(mixed)
    logs_m, model_m = on_mirrored.first_step(mixed)
    report["distinct"] = {
        "loss_default": logs_d["loss"], "loss_mirrored": logs_m["loss"],
        "weights_max_diff": max_difference(weights(model_d), weights(model_m)),
        "replica_spread": replica_copies_spread(model_m)}

    # 3. Evaluation with weight-0 padding (tasks of different sizes), same weights everywhere.
    tasks = [FakeTask("a", 3, 37, 3), FakeTask("b", 4, 21, 4)]
    config = ml_collections.ConfigDict({"batch_size": 4})  # evaluation batches of 16 rows
    model_m.set_weights(model_d.get_weights())
    accuracy, confusion = {}, {}
    for name, model in (("default", model_d), ("mirrored", model_m)):
        evaluation = experiment.evaluate(model, tasks, config)
        accuracy[name] = {f"{t}_L{level}": value["accuracy"]
                          for (t, level), value in evaluation.items()}
        confusion[name] = {f"{t}_L{level}": value["per_class"]["confusion"]
                           for (t, level), value in evaluation.items()}
        # The same metrics read in cross-replica context: sums over the replicas' counts.
        accuracy[name + "_summed"] = {k.replace("_acc", ""): float(v) for k, v
                                      in model.get_metrics_result().items() if k.endswith("_acc")}
    report["evaluation"] = accuracy
    report["confusion"] = confusion
    report["held_out_sizes"] = {task.name: task.test_size for task in tasks}

    with open(out_path, "w") as file:
        json.dump(report, file, indent=2)


if __name__ == "__main__":
    main(sys.argv[1])
