"""One training run: build the DVN, fit with resumable checkpoints, evaluate, report."""

import csv
import json
import os
import sys
import time

import keras

from dvn_runtime.per_class import per_class, worst_class
from dvn_tf.backbones import channel_multiple
from dvn_tf.counting import level_cost
from dvn_tf.files import read_json, write_text_atomically
from dvn_tf.data.balance import class_weights
from dvn_tf.data.pipeline import evaluation_dataset, steps_per_epoch, training_dataset
from dvn_tf.model import DVNModel, confusion_name, metric_name
from dvn_tf.pretrained import initialize_from_keras
from dvn_tf.units import UnitPlan, format_significance

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def set_precision(config):
    """Set Keras's global dtype policy to `--config.precision`; call it before building a model.

    Mixed policies compute in 16 bits and keep float32 weights (the DVN casts its
    logits to float32). Under mixed_float16, `compile` wraps the optimizer in a
    keras.optimizers.LossScaleOptimizer (its `auto_scale_loss`), and the train
    step scales the loss with `optimizer.scale_loss`.
    """
    if config.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, "
                         f"got {config.precision!r}")
    keras.mixed_precision.set_global_policy(config.precision)


def make_plan(config):
    """The UnitPlan of a config: its tasks, units, order rule, unit fractions and channel blocks."""
    return UnitPlan.from_rule(len(config.tasks), config.units, config.order_rule,
                              config.unit_fractions, channel_multiple(config.backbone))


def make_model(config, tasks, plan=None, base_width=None, width_multiplier=None):
    """The DVN of a config over the given tasks, with every weight built.

    `plan`, `base_width` and `width_multiplier` replace the config's for the
    compared methods. With `init_from`, the weights start from that saved
    Keras MobileNetV2 (dvn_tf/pretrained.py). A task whose `balance` is
    "weights" gets its class weights in the loss.
    """
    model = DVNModel(
        task_names=[t.name for t in tasks], num_classes=[t.num_classes for t in tasks],
        plan=plan or make_plan(config), input_shape=[t.input_shape for t in tasks],
        backbone=config.backbone, base_width=base_width or config.base_width,
        dropout=config.dropout,
        bn_momentum=config.bn_momentum, level_weights=config.level_weights,
        per_level_heads=config.per_level_heads, label_smoothing=config.label_smoothing,
        width_multiplier=width_multiplier or config.width_multiplier,
        depth_coefficient=config.depth_coefficient,
        inplace_distill_weight=config.get("inplace_distill_weight", 0.0),
        inplace_distill_temperature=config.get("inplace_distill_temperature", 1.0),
        class_weights=[class_weights(t.class_counts) if t.balance == "weights" else None
                       for t in tasks],
        name="dvn")
    model.build()
    if config.init_from:
        initialize_from_keras(model, config.init_from)
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
        write_text_atomically(self.path, json.dumps({"seconds": self.seconds}))


def history_path(run_dir):
    """Keras's CSVLogger file of a run: per epoch, the logs of fit, val_* (held-out) included."""
    return os.path.join(run_dir, "checkpoints", "history.csv")


def held_out_by_epoch(run_dir, tasks, levels):
    """{(task name, level): held-out accuracy after every epoch} from the run's history.csv.

    The accuracies are those fit's validation measured (nothing is evaluated
    again). A run killed after writing an epoch's row but before its checkpoint
    trains that epoch again and appends it again: the last row of an epoch counts.
    """
    if not os.path.exists(history_path(run_dir)):
        return {}
    with open(history_path(run_dir), newline="", encoding="utf-8") as file:
        rows = {int(row["epoch"]): row for row in csv.DictReader(file)}
    ordered = [rows[epoch] for epoch in sorted(rows)]
    return {(task.name, level): [float(row[f"val_{metric_name(task.name, level)}"])
                                 for row in ordered]
            for task in tasks for level in levels
            if ordered and f"val_{metric_name(task.name, level)}" in ordered[0]}


def completed_epochs(run_dir):
    """Epochs a previous run in run_dir finished (0 if none)."""
    path = os.path.join(run_dir, "checkpoints", "training_metadata.json")
    return read_json(path)["epoch"] if os.path.exists(path) else 0


def fit(model, tasks, config, run_dir, eval_tasks=None):
    """Fit on the tasks' training data with per-epoch checkpoints in run_dir; return seconds trained.

    The held-out accuracy of eval_tasks (default: tasks) is logged after every
    epoch. A killed run resumes from its last finished epoch.
    """
    steps = steps_per_epoch(tasks, config.batch_size)
    os.makedirs(os.path.dirname(history_path(run_dir)), exist_ok=True)
    clock = TrainClock(os.path.join(run_dir, "checkpoints", "train_time.json"))
    done = completed_epochs(run_dir)
    if done:
        print(f"Resuming from epoch {done} of {config.epochs} (checkpoint in {run_dir}/checkpoints)")
    model.fit(
        training_dataset(tasks, config.batch_size, config.seed),
        epochs=config.epochs, steps_per_epoch=steps, shuffle=False,
        validation_data=evaluation_dataset(eval_tasks or tasks, config.batch_size * 4),
        callbacks=[  # the history first: a kill between the two repeats a row, never loses one
            keras.callbacks.CSVLogger(history_path(run_dir), append=True),
            keras.callbacks.BackupAndRestore(os.path.join(run_dir, "checkpoints"),
                                             double_checkpoint=True, delete_checkpoint=False),
            clock,
            keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard")),
        ],
        verbose=1 if sys.stdout.isatty() else 2)  # a progress bar only where it redraws
    return clock.seconds


def evaluate(model, tasks, config):
    """Held-out results of every level of the given tasks, keyed by (task name, level).

    Each is {"accuracy": float, "per_class": {"recall", "precision",
    "confusion"}} (dvn_runtime/per_class.py), from one pass over the held-out
    split: the model's test_step counts the confusion matrix beside the accuracy.
    """
    model.evaluate(evaluation_dataset(tasks, config.batch_size * 4), verbose=0)
    logs = model.get_metrics_result()  # over all replicas; evaluate()'s own logs average them
    return {(task.name, level): {"accuracy": float(logs[metric_name(task.name, level)]),
                                 "per_class": per_class(logs[confusion_name(task.name, level)])}
            for task in tasks for level in model.levels}


def save_model(model, path):
    """Save a .keras model atomically."""
    model.save(path + ".tmp.keras")
    os.replace(path + ".tmp.keras", path)


def entry(model, task_name, level, evaluation, by_epoch, reported_level=None):
    """One results.json entry: (task, level)'s units, exact params and FLOPs, accuracy, per class.

    `evaluation` is the (task, level)'s value from `evaluate`; `by_epoch` its
    held-out accuracy after every epoch (held_out_by_epoch).
    `reported_level` names the budget when the model's own level differs
    (an independent network per level has a single level of its own).
    """
    task = model.task_names.index(task_name)
    params, flops = level_cost(model, task, level)
    if reported_level is None:
        reported_level, units = level, model.plan.level_units(task, level)
    else:
        units = list(range(1, reported_level + 1))
    return {"task": task_name, "level": reported_level, "units": units,
            "params": params, "flops": flops, "accuracy": evaluation["accuracy"],
            "accuracy_by_epoch": by_epoch, "per_class": evaluation["per_class"]}


def results_dict(config, tasks, orders, entries, train_seconds, **extra):
    """The results.json document (DESIGN.md), plus `extra` keys.

    The runs add `stored_params`: every weight the method stores to serve all
    its (task, level)s, and sequential runs add `stages`.
    """
    return {"scenario": config.scenario, "method": config.method,
            "backbone": config.backbone, "order_rule": config.order_rule,
            "units": config.units,
            "tasks": [{"name": task.name, "num_classes": task.num_classes,
                       "labels": [str(label) for label in task.labels], "order": order}
                      for task, order in zip(tasks, orders)],
            "entries": entries, "train_seconds": round(train_seconds, 2), **extra}


def entries_table(entries):
    """Markdown rows of results entries."""
    lines = ["| task | level | units | params | FLOPs | accuracy |",
             "| --- | ---: | --- | ---: | ---: | ---: |"]
    for e in entries:
        lines.append(f"| {e['task']} | {e['level']} | {','.join(map(str, e['units']))} | "
                     f"{e['params']:,} | {e['flops']:,} | {e['accuracy']:.4f} |")
    return lines


def _ratio(ratio):
    return "-" if ratio is None else f"{ratio:.4f}"


def worst_classes_table(results):
    """Markdown rows: each (task, level)'s class of lowest held-out recall, and that recall."""
    labels = {t["name"]: t["labels"] for t in results["tasks"]}
    lines = ["| task | level | worst class | its recall |", "| --- | ---: | --- | ---: |"]
    for e in results["entries"]:
        worst = worst_class(e["per_class"]["recall"])
        if worst is not None:
            lines.append(f"| {e['task']} | {e['level']} | {labels[e['task']][worst]} | "
                         f"{_ratio(e['per_class']['recall'][worst])} |")
    return lines


def per_class_table(entry, labels):
    """Markdown rows of one entry's per-class figures: examples, predictions, recall, precision."""
    figures, confusion = entry["per_class"], entry["per_class"]["confusion"]
    lines = ["| class | examples | predicted | recall | precision |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for index, label in enumerate(labels):
        lines.append(f"| {label} | {sum(confusion[index])} | {sum(row[index] for row in confusion)} "
                     f"| {_ratio(figures['recall'][index])} "
                     f"| {_ratio(figures['precision'][index])} |")
    return lines


def results_markdown(results):
    """results.md: the (task, level) table, worst classes, stages, significance, per-class tables."""
    lines = [f"# {results['scenario']}: {results['method']}, {results['backbone']}, "
             f"k={results['units']}, order rule {results['order_rule']}", ""]
    lines += entries_table(results["entries"])
    lines += ["", "Worst class of each (task, level): its held-out recall", ""]
    lines += worst_classes_table(results)
    for stage in results.get("stages", []):
        lines += ["", f"After learning {stage['after_task']}:", ""] + entries_table(stage["entries"])
    if "growth" in results:
        lines += [""] + growth_lines(results["growth"])
    plan = UnitPlan(results["units"], [t["order"] for t in results["tasks"]])
    lines += ["", "Significance: levels of each task that train each unit (k - l_j(i) + 1)",
              "", "```", format_significance(plan, [t["name"] for t in results["tasks"]]),
              "```", "", f"Stored weights for every (task, level): {results['stored_params']:,}",
              f"Training time: {results['train_seconds']:.1f} s", "",
              "## Per class, on the held-out split",
              "", "Recall: share of a class's examples predicted as it; precision: share of the "
              "predictions of a class that are right; - where nothing is counted.",
              "The confusion matrices are in results.json."]
    labels = {t["name"]: t["labels"] for t in results["tasks"]}
    for e in results["entries"]:
        lines += ["", f"### {e['task']}, level {e['level']}", ""]
        lines += per_class_table(e, labels[e["task"]])
    return "\n".join(lines) + "\n"


def growth_lines(growth):
    """Markdown: each old (task, level)'s accuracy before and after the growth."""
    lines = [f"Grown from {growth['from']} by {', '.join(growth['new_tasks'])}:", "",
             "| old task | level | before | after | change |", "| --- | ---: | ---: | ---: | ---: |"]
    for row in growth["old_tasks"]:
        lines.append(f"| {row['task']} | {row['level']} | {row['before']:.4f} | "
                     f"{row['after']:.4f} | {100 * (row['after'] - row['before']):+.2f} pts |")
    lines += [f"| {row['task']} | | not readable: {row['why']} | | |"
              for row in growth["unreadable"]]
    return lines
