"""Add tasks to a finished run (--from=RUN): one sequential stage of Eq. 4 over RUN's network.

Only the new tasks' images are read for training; RUN's tasks are kept by
distilling RUN's own model, which is read and never written. The grown run
keeps every old task's spec (a folder task is read where RUN decoded it,
with RUN's image size and held-out split), so its classes, labels,
normalization and input shape stay RUN's, and it can itself be grown.
"""

import collections
import os

import numpy as np

from dvn_tf.data.folder_cache import FOLDER_DATASET

# Fields that shape the network: a grown run keeps RUN's.
ARCHITECTURE = ("backbone", "units", "base_width", "width_multiplier", "depth_coefficient",
                "unit_fractions", "per_level_heads", "order_rule")
FINISHED_RUN_FILES = ("config.json", "results.json", "model.keras")
GROWABLE_METHODS = ("dvn", "finetune", "feature_extraction")
# What the network and the results need to know of a task, when its data may be gone.
TaskShape = collections.namedtuple("TaskShape", "name num_classes input_shape labels balance",
                                   defaults=[(), None])


class GrowError(ValueError):
    """A --from request that cannot be run, reported as one line."""


def finished_run_config(run):
    """RUN's saved config (a dict), after checking that RUN is a finished run of one network."""
    from dvn_tf.files import read_json

    if not os.path.isdir(run):
        raise GrowError(f"--from={run}: no such directory; pass the --workdir of a finished run")
    missing = [f for f in FINISHED_RUN_FILES if not os.path.exists(os.path.join(run, f))]
    if missing:
        raise GrowError(f"--from={run} is not a finished run (it has no {', '.join(missing)}); "
                        f"finish it first (its train command resumes it) or pass another run")
    saved = read_json(os.path.join(run, "config.json"))
    if saved.get("method") not in GROWABLE_METHODS:
        raise GrowError(f"--from={run}: a {saved.get('method')!r} run keeps a network per task "
                        f"or budget; --from grows one network ({', '.join(GROWABLE_METHODS)})")
    return saved


def kept_task_spec(spec, run, saved):
    """A task spec of RUN as a grown run keeps it.

    A folder task is read from the workdir that decoded it, at RUN's image
    size and with RUN's held-out split; a spec kept from an earlier growth
    keeps its own.
    """
    if spec["dataset"] != FOLDER_DATASET:
        return dict(spec)
    return {"workdir": os.path.abspath(run), "image_size": saved.get("image_size"),
            "seed": saved.get("seed", 0), "holdout": saved.get("holdout", 0.2), **spec}


def grow_config(config, run, saved, new_specs, workdir):
    """Set config (RUN's, with the command line's overrides) to grow RUN by the new task specs.

    Raises GrowError, before anything is written, for no new task, a taken
    name, a changed network or a workdir inside RUN.
    """
    run, new_dir = os.path.abspath(run), os.path.abspath(workdir)
    if new_dir == run or new_dir.startswith(run + os.sep):
        raise GrowError(f"--workdir={workdir} is inside --from={run}, which is never written; "
                        f"pass a new --workdir")
    changed = [f"{field}={config.get(field)!r} (RUN has {saved[field]!r})"
               for field in ARCHITECTURE
               if field in saved and _plain(config.get(field)) != _plain(saved[field])]
    if changed:
        raise GrowError(f"a grown run keeps the network of {run}: drop --config."
                        f"{'; --config.'.join(changed)}")
    if not new_specs:
        raise GrowError("--from adds tasks to a run: pass --images=[NAME=]PATH or --task=JSON "
                        "(a task spec, as in a config)")
    kept = [kept_task_spec(spec, run, saved) for spec in saved["tasks"]]
    taken = [spec["name"] for spec in kept]
    for spec in new_specs:
        if spec.get("name") in taken:
            raise GrowError(f"task {spec['name']!r} is already one of {run}'s tasks "
                            f"({', '.join(taken)}); name the new one, e.g. --images=NAME=PATH")
    config.tasks = tuple(kept + list(new_specs))
    config.grown_from, config.new_tasks = run, len(new_specs)


def _plain(value):
    """A config value with tuples as lists, for comparing with a saved config.json's."""
    return list(value) if isinstance(value, tuple) else value


def grow_model(old, config, new_tasks):
    """A DVN over old's tasks and the new ones, holding every weight of `old`.

    The new tasks' heads and batch norms are new; every old (task, level)
    computes exactly what it did in `old` (checked on a probe batch) and keeps
    its class weights.
    """
    from dvn_tf.experiment import make_model
    from dvn_tf.layers import SwitchableBatchNorm

    shapes = [TaskShape(*fields) for fields in zip(old.task_names, old.num_classes,
                                                   old.input_shapes)]
    shapes += new_tasks
    channels = old.input_shapes[0][-1]
    for task in new_tasks:
        if task.input_shape[-1] != channels:
            raise GrowError(f"task {task.name!r} has {task.input_shape[-1]}-channel images and "
                            f"the run it grows takes {channels}: give it "
                            f"{'grayscale' if channels == 1 else 'colour'} images")
    fresh = config.copy_and_resolve_references()
    fresh.init_from = None  # every weight comes from `old`
    model = make_model(fresh, shapes)
    model.class_weights[:len(old.task_names)] = old.class_weights
    if model.plan.orders[:len(old.task_names)] != old.plan.orders:
        raise GrowError(f"the order rule gives the old tasks {model.plan.orders} here, "
                        f"not the run's {old.plan.orders}")
    copied = 0
    for source, target in zip(_weighted_layers(old), _weighted_layers(model)):
        # A switchable batch norm's layers are task-major: the new tasks' come after the old.
        pairs = (zip(source.norms, target.norms) if isinstance(source, SwitchableBatchNorm)
                 else [(source, target)])
        for a, b in pairs:
            b.set_weights(a.get_weights())
            copied += len(a.weights)
    if copied != len(old.weights):
        raise RuntimeError(f"copied {copied} of the {len(old.weights)} weights of the old run")
    _check_old_levels(old, model)
    return model


def _weighted_layers(model):
    """The layers that hold a DVN's weights, in build order: sliced layers, then the heads."""
    from dvn_tf.layers import SlicedConv2D, SlicedDepthwiseConv2D, SwitchableBatchNorm

    kinds = (SlicedConv2D, SlicedDepthwiseConv2D, SwitchableBatchNorm)
    layers = [layer for stage in model.stages for layer in stage._flatten_layers()
              if isinstance(layer, kinds)]
    return layers + list(model.heads)


def _check_old_levels(old, grown):
    """RuntimeError unless every old (task, level) of `grown` gives `old`'s logits."""
    for task, shape in enumerate(old.input_shapes):
        probe = np.random.default_rng(task).normal(size=(2, *shape)).astype("float32")
        for level in old.levels:
            if not np.array_equal(np.asarray(old(probe, task=task, level=level)),
                                  np.asarray(grown(probe, task=task, level=level))):
                raise RuntimeError(f"the grown network's {old.task_names[task]} level {level} "
                                   f"differs from the run's")


def load_kept_tasks(config, workdir):
    """(TaskData of the old tasks still readable, [(name, why)] of the others)."""
    from dvn_tf.data import DataNotPreparedError, load_task

    readable, unreadable = [], []
    for spec in config.tasks[:len(config.tasks) - config.new_tasks]:
        try:
            readable.append(load_task(spec, config, workdir))
        except (OSError, ValueError, DataNotPreparedError) as error:  # its data is gone
            unreadable.append((spec["name"], str(error).splitlines()[0]))
    for name, why in unreadable:
        print(f"Task {name}: its held-out images are not readable ({why}); its accuracy "
              f"before and after is not measured")
    return readable, unreadable


def run_grown(config, workdir, strategy):
    """Learn the new tasks of a grown config over RUN's network; returns the results document.

    Writes workdir/grown_from.keras (RUN's network with the new tasks' heads
    and batch norms added), the stage in workdir/stage_NAMES and the final
    workdir/model.keras. The results carry `growth`: each old (task, level)'s
    held-out accuracy before (RUN's model) and after.
    """
    import keras

    from dvn_tf.data import balance, load_task
    from dvn_tf.experiment import evaluate, results_dict, save_model
    from dvn_tf.files import read_json
    from dvn_tf.methods import level_entries, run_later_stage

    run = config.grown_from
    teacher_path = os.path.join(run, "model.keras")
    old_count = len(config.tasks) - config.new_tasks
    new = [load_task(spec, config, workdir) for spec in config.tasks[old_count:]]
    balance.resolve(config, new)
    kept, unreadable = load_kept_tasks(config, workdir)
    with strategy.scope():
        teacher = keras.saving.load_model(teacher_path, compile=False)
        teacher.compile()
    print(f"Growing {run} ({', '.join(teacher.task_names)}) by {', '.join(t.name for t in new)}; "
          f"{run} is read, never written")
    start = os.path.join(workdir, "grown_from.keras")
    if not os.path.exists(start):
        with strategy.scope():
            save_model(grow_model(teacher, config, new), start)
    before = evaluate(teacher, kept, config)
    stage_dir = os.path.join(workdir, "stage_" + "_".join(t.name for t in new))
    model, evaluation, by_epoch, seconds = run_later_stage(
        config, start, teacher_path, old_count, new, kept + new, stage_dir, strategy)
    save_model(model, os.path.join(workdir, "model.keras"))
    growth = {"from": run, "new_tasks": [t.name for t in new],
              "old_tasks": [{"task": name, "level": level,
                             "before": before[(name, level)]["accuracy"],
                             "after": evaluation[(name, level)]["accuracy"]}
                            for name, level in before],
              "unreadable": [{"task": name, "why": why} for name, why in unreadable]}
    loaded = {task.name: task for task in kept + new}
    labels_then = {task["name"]: task.get("labels", ())
                   for task in read_json(os.path.join(run, "results.json"))["tasks"]}
    tasks = [loaded.get(name) or TaskShape(name, classes, shape, labels_then[name])
             for name, classes, shape in zip(model.task_names, model.num_classes,
                                             model.input_shapes)]
    return results_dict(config, tasks, model.plan.orders,
                        level_entries(model, kept + new, evaluation, by_epoch), seconds,
                        stored_params=model.count_params(), growth=growth)

