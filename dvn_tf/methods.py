"""What `--config.method` trains: the DVN (joint or in sequential stages) and the compared methods.

- dvn: one network, all tasks and levels (Eq. 2); with `sequential`, one
  stage per task, distilling the old tasks (Eq. 4).
- finetune / feature_extraction: sequential stages without distillation; the
  second trains only the new task's head and batch norms.
- nested: one hierarchical network per task (Eq. 1), nothing shared across tasks.
- independent: one plain network per (task, level), of that level's width
  (ResNet, WRN: base_width * level / k; MobileNetV2: width_multiplier * level / k).
"""

import os

import keras

from dvn_tf.distillation import SequentialTrainer
from dvn_tf.experiment import (TrainClock, entry, evaluate, fit, held_out_by_epoch, make_model,
                               make_optimizer, results_dict, save_model)
from dvn_tf.backbones import channel_multiple
from dvn_tf.data import balance
from dvn_tf.data.pipeline import steps_per_epoch
from dvn_tf.units import UnitPlan

JOINT_METHODS = ("dvn", "nested", "independent")
SEQUENTIAL_METHODS = ("dvn", "finetune", "feature_extraction", "nested", "independent")


def run_stage(build, train_tasks, eval_tasks, config, run_dir, strategy):
    """Train one model in run_dir (resuming a killed run): (model, evaluation, by_epoch, seconds).

    `build()` returns (what to fit, the DVN it trains). A finished stage is
    reloaded from run_dir/model.keras instead of trained again. `evaluation`
    (experiment.evaluate: accuracy and per-class results) and `by_epoch`
    (held-out accuracy after every epoch, measured on eval_tasks) are keyed
    by (task name, level).
    """
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, "model.keras")
    if os.path.exists(path):
        with strategy.scope():
            model = keras.saving.load_model(path, compile=False)
        seconds = TrainClock(os.path.join(run_dir, "checkpoints", "train_time.json")).seconds
    else:
        with strategy.scope():
            trainer, model = build()
            trainer.compile(optimizer=make_optimizer(
                config, steps_per_epoch(train_tasks, config.batch_size)),
                jit_compile=config.jit_compile, run_eagerly=config.run_eagerly)
            # Built now, not inside the first traced step, which would then be traced twice.
            trainer.optimizer.build(trainer.trained_variables())
        seconds = fit(trainer, train_tasks, config, run_dir, eval_tasks)
        save_model(model, path)
    if not model.compiled:
        with strategy.scope():
            model.compile(run_eagerly=config.run_eagerly)
    return (model, evaluate(model, eval_tasks, config),
            held_out_by_epoch(run_dir, eval_tasks, model.levels), seconds)


def level_entries(model, tasks, evaluation, by_epoch):
    """Results entries for every level of the given tasks of a DVN (no curve: [])."""
    return [entry(model, task.name, level, evaluation[(task.name, level)],
                  by_epoch.get((task.name, level), []))
            for task in tasks for level in model.levels]


def run_joint(config, tasks, workdir, strategy):
    """The DVN trained on all tasks at once, saved as workdir/model.keras; returns results."""
    def build():
        model = make_model(config, tasks)
        return model, model

    model, evaluation, by_epoch, seconds = run_stage(build, tasks, tasks, config, workdir, strategy)
    return results_dict(config, tasks, model.plan.orders,
                        level_entries(model, tasks, evaluation, by_epoch), seconds,
                        stored_params=model.count_params())


def stage_config(config, epochs, rate_fraction):
    """A copy of config for one part of a stage: its epochs and its peak rate's fraction."""
    part = config.copy_and_resolve_references()
    part.epochs, part.learning_rate = epochs, config.learning_rate * rate_fraction
    return part


def sequential_trainer(config, start, teacher, old_count, new_tasks, part="stage"):
    """A build() for a later stage: the student from `start` learns the tasks `new_tasks` (Eq. 4).

    The teacher (the saved network that knows tasks 0 .. old_count - 1) is
    distilled for method dvn; the warm-up `part` and feature extraction train
    only the new tasks' heads and batch norms.
    """
    def build():
        student, old = (keras.saving.load_model(path, compile=False) for path in (start, teacher))
        distill = config.method == "dvn" and part == "stage"
        trainer = SequentialTrainer(
            student, old, old_tasks=range(old_count), new_tasks=new_tasks,
            temperature=config.distill_temperature,
            weight=config.distill_weight if distill else 0.0,
            private_only=part == "warmup" or config.method == "feature_extraction",
            shared_rate_fraction=config.stage_shared_rate_fraction, name="sequential")
        return trainer, student
    return build


def run_later_stage(config, start, teacher, old_count, new_tasks, eval_tasks, run_dir, strategy):
    """A stage that learns new_tasks over the saved network `start`: (model, evaluation, by_epoch,
    seconds), as run_stage.

    `teacher` is the saved network after the previous stage (tasks 0 ..
    old_count - 1); the new tasks follow them. With `stage_warmup_epochs`, the
    stage's first epochs (at most epochs - 1) train the new tasks' heads and
    batch norms alone at the full rate (in run_dir/warmup); its other epochs
    train everything from learning_rate * stage_rate_fraction, all but the
    new tasks' own variables at stage_shared_rate_fraction of that. The held-out accuracy of eval_tasks
    is measured after every epoch.
    """
    indices = list(range(old_count, old_count + len(new_tasks)))
    if config.stage_warmup_epochs < 0:
        raise ValueError(f"stage_warmup_epochs must be at least 0, got "
                         f"{config.stage_warmup_epochs}")
    # The warm-up leaves at least one epoch to the whole network: a 1-epoch stage has none.
    warmup = (0 if config.method == "feature_extraction"
              else min(config.stage_warmup_epochs, config.epochs - 1))
    seconds = 0.0
    if warmup:
        print(f"Warm-up: {warmup} epoch(s) of the heads and batch norms of "
              f"{', '.join(t.name for t in new_tasks)} alone")
        warmup_dir = os.path.join(run_dir, "warmup")
        *_, seconds = run_stage(sequential_trainer(config, start, teacher, old_count, indices,
                                                   "warmup"),
                                new_tasks, eval_tasks, stage_config(config, warmup, 1.0),
                                warmup_dir, strategy)
        start = os.path.join(warmup_dir, "model.keras")
    model, evaluation, by_epoch, stage_seconds = run_stage(
        sequential_trainer(config, start, teacher, old_count, indices), new_tasks, eval_tasks,
        stage_config(config, config.epochs - warmup, config.stage_rate_fraction),
        run_dir, strategy)
    return model, evaluation, by_epoch, seconds + stage_seconds


def run_sequential(config, tasks, workdir, strategy):
    """One stage per task, in task order; the final model is saved as workdir/model.keras.

    Returns the results, with the entries after every stage.
    """
    stages, seconds, previous = [], 0.0, None
    for index, task in enumerate(tasks):
        print(f"Stage {index + 1} of {len(tasks)}: learning task {task.name!r}")
        run_dir = os.path.join(workdir, f"stage{index + 1}_{task.name}")
        learned = tasks[:index + 1]
        if previous is None:
            def build():
                model = make_model(config, tasks)
                return model, model
            model, evaluation, by_epoch, stage_seconds = run_stage(build, [task], learned, config,
                                                                   run_dir, strategy)
        else:
            model, evaluation, by_epoch, stage_seconds = run_later_stage(
                config, previous, previous, index, [task], learned, run_dir, strategy)
        seconds += stage_seconds
        stages.append({"after_task": task.name,
                       "entries": level_entries(model, learned, evaluation, by_epoch)})
        previous = os.path.join(run_dir, "model.keras")
    save_model(model, os.path.join(workdir, "model.keras"))
    return results_dict(config, tasks, model.plan.orders, stages[-1]["entries"], seconds,
                        stored_params=model.count_params(), stages=stages)


def run_members(config, tasks, workdir, strategy):
    """nested or independent: separate networks, nothing shared across tasks; returns results.

    Each network is saved in its members/ directory; there is no single model to export.
    """
    k, entries, seconds, stored = config.units, [], 0.0, 0
    if config.method == "independent" and config.init_from:
        raise ValueError("init_from loads one full-width network; method 'independent' trains "
                         "networks of other widths: use method dvn or nested with init_from")
    full_order = list(range(1, k + 1))
    for task in tasks:
        if config.method == "nested":
            plan = UnitPlan(k, [full_order], multiple=channel_multiple(config.backbone))
            members = [(task.name, plan, config.base_width, config.width_multiplier, None)]
        else:
            members = [(f"{task.name}_L{level}", UnitPlan(1, [[1]]),
                        max(1, config.base_width * level // k),
                        config.width_multiplier * level / k, level)
                       for level in full_order]
        for name, plan, width, multiplier, as_level in members:
            def build(plan=plan, width=width, multiplier=multiplier):
                model = make_model(config, [task], plan=plan, base_width=width,
                                   width_multiplier=multiplier)
                return model, model

            print(f"{config.method}: training {name}")
            model, evaluation, by_epoch, member_seconds = run_stage(
                build, [task], [task], config, os.path.join(workdir, "members", name), strategy)
            seconds += member_seconds
            stored += model.count_params()
            if as_level is None:
                entries += level_entries(model, [task], evaluation, by_epoch)
            else:
                entries.append(entry(model, task.name, 1, evaluation[(task.name, 1)],
                                     by_epoch.get((task.name, 1), []), as_level))
    return results_dict(config, tasks, [full_order] * len(tasks), entries, seconds,
                        stored_params=stored)


def run_method(config, tasks, workdir, strategy):
    """Train what config.method names; returns the results document.

    First balances each task as `config.balance` says (dvn_tf/data/balance.py).
    """
    allowed = SEQUENTIAL_METHODS if config.sequential else JOINT_METHODS
    if config.method not in allowed:
        kind = "sequential" if config.sequential else "joint"
        raise ValueError(f"method {config.method!r} is not one of the {kind} scenario's "
                         f"methods {allowed}")
    balance.resolve(config, tasks)
    if config.method in ("nested", "independent"):  # nothing shared: no sequential stages
        return run_members(config, tasks, workdir, strategy)
    if config.sequential:
        return run_sequential(config, tasks, workdir, strategy)
    return run_joint(config, tasks, workdir, strategy)
