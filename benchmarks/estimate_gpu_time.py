"""Estimate each paper scenario's training time on one GPU from its FLOPs; no data needed.

    python benchmarks/estimate_gpu_time.py [--tflops=60] [--scenarios=j1,j2,j3,h1,s1,s2]
        [--methods=dvn,nested,independent] [--backbone=wrn-16-4] [--epochs=100]

An ESTIMATE, not a measurement. For each scenario it builds the scenario's
network with the real code (`dvn_tf.experiment.make_model`, the config's
backbone, units, orders and unit fractions, each task's classes and image
size) and counts every (task, level)'s forward FLOPs per image with
`dvn_tf.counting.level_cost` (2 x the multiply-adds of every conv and dense
layer). Split sizes are the datasets' documented ones, hard-coded below.
Then, as the trainer runs (dvn_tf.experiment.fit, dvn_tf.data.pipeline):

- joint DVN: an epoch is `ceil(largest task's train images / batch)` steps;
  each step draws one batch from every task and runs every level of it.
  Training FLOPs = 3 (forward + backward ~ 2x forward) x sum over tasks of
  (sum over levels of F(task, level)) x (steps x batch) x epochs;
- sequential DVN (Eq. 4), stage s on task s's images only:
  3 x sum_l F(s, l) for the new task, plus for each old task j the student's
  3 x sum_l F(j, l) and the frozen teacher's forward sum_l F(j, l);
- nested: one network per task, its own steps; independent: one plain
  network per (task, level) of that level's width (base_width x level / k);
- plus the held-out evaluation after every epoch (forward only, every level;
  the evaluation pads the smaller tasks' batches up to the largest's).

Time = FLOPs / sustained throughput. The default 60 TFLOP/s assumes an
A100-class GPU running mixed precision at about 20% of its 312 TFLOP/s
fp16 tensor-core peak (about 40% of its 156 TFLOP/s TF32 peak); float32
(TF32) training is likely slower. Narrow levels use a GPU less well than the
full network, so treat the hours as a lower bound of the right order.
"""

import argparse
import math
import os
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name: (train images, test images, classes per label key, native image size); from the
# tfds catalog and the Tiny-ImageNet release (500 train and 50 validation images per class).
DATASETS = {
    "cifar10": (50_000, 10_000, {"label": 10}, 32),
    "cifar100": (50_000, 10_000, {"label": 100, "coarse_label": 20}, 32),
    "stl10": (5_000, 8_000, {"label": 10}, 96),
    "tiny_imagenet": (100_000, 10_000, {"label": 200}, 64),
}
SCENARIOS = ("j1", "j2", "j3", "h1", "s1", "s2")


def task_shape(spec):
    """A stand-in for TaskData with what make_model and the counts need (balanced classes)."""
    train, test, classes, size = DATASETS[spec["dataset"]]
    total = classes[spec.get("label_key") or "label"]
    kept = len(spec["classes"]) if spec.get("classes") is not None else total
    size = spec.get("image_size") or size
    return types.SimpleNamespace(
        name=spec["name"], num_classes=kept, input_shape=(size, size, 3),
        train_size=train * kept // total, test_size=test * kept // total)


def level_flops(model, tasks):
    """{(task index, level): forward FLOPs per image} of a DVN."""
    from dvn_tf.counting import level_cost
    return {(t, level): level_cost(model, t, level)[1]
            for t in range(len(tasks)) for level in model.levels}


def evaluation_flops(per_task_forward, tasks, eval_batch):
    """Forward FLOPs of one held-out evaluation: every task padded to the largest's batches."""
    batches = max(math.ceil(task.test_size / eval_batch) for task in tasks)
    return sum(per_task_forward) * batches * eval_batch


def dvn_flops(config, tasks):
    """(Training FLOPs of the whole run with evaluation, per-level FLOPs, the arithmetic)."""
    from dvn_tf.experiment import make_model
    model = make_model(config, tasks)
    flops = level_flops(model, tasks)
    forward = [sum(flops[(t, level)] for level in model.levels) for t in range(len(tasks))]
    batch, epochs = config.batch_size, config.epochs
    giga = lambda values: " + ".join(f"{v / 1e9:.2f}" for v in values)
    if not config.sequential:
        steps = max(math.ceil(task.train_size / batch) for task in tasks)
        train = 3 * sum(forward) * steps * batch * epochs
        evaluation = evaluation_flops(forward, tasks, batch * 4) * epochs
        arithmetic = (f"3 x ({giga(forward)}) GFLOP x {steps * batch:,} images "
                      f"({steps} steps x {batch}) x {epochs} epochs = {train / 1e15:,.0f} PFLOP"
                      f" + evaluation {evaluation / 1e15:,.0f} PFLOP")
        return train + evaluation, flops, arithmetic
    total, parts = 0, []
    for s, task in enumerate(tasks):  # old tasks run on the new task's images (same size in S1/S2)
        steps = math.ceil(task.train_size / batch)
        per_image = 3 * forward[s] + sum(3 * forward[j] + forward[j] for j in range(s))
        train = per_image * steps * batch * epochs
        evaluation = evaluation_flops([forward[s]], [task], batch * 4) * epochs  # new task only
        total += train + evaluation
        old = "".join(f" + (3 + 1) x {forward[j] / 1e9:.2f}" for j in range(s))
        parts.append(f"stage {s + 1}: (3 x {forward[s] / 1e9:.2f}{old}) GFLOP x "
                     f"{steps * batch:,} images x {epochs} epochs = {train / 1e15:,.0f} PFLOP"
                     f" + evaluation {evaluation / 1e15:,.0f} PFLOP")
    return total, flops, "; ".join(parts)


def member_flops(config, tasks, method):
    """Training FLOPs of `nested` (a network per task) or `independent` (per task and level)."""
    from dvn_tf.counting import level_cost
    from dvn_tf.experiment import make_model
    from dvn_tf.units import UnitPlan
    k, batch, total = config.units, config.batch_size, 0
    for task in tasks:
        if method == "nested":
            model = make_model(config, [task], plan=UnitPlan(k, [list(range(1, k + 1))]))
            forward = sum(level_cost(model, 0, level)[1] for level in model.levels)
            members = [forward]
        else:
            members = [level_cost(make_model(config, [task], plan=UnitPlan(1, [[1]]),
                                             base_width=max(1, config.base_width * level // k)),
                                  0, 1)[1] for level in range(1, k + 1)]
        steps = math.ceil(task.train_size / batch)
        for forward in members:
            total += config.epochs * (3 * forward * steps * batch
                                      + evaluation_flops([forward], [task], batch * 4))
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflops", type=float, default=60.0,
                        help="assumed sustained training throughput, TFLOP/s")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--methods", default="dvn",
                        help="comma-separated: dvn, nested, independent")
    parser.add_argument("--backbone", help="replace every scenario's backbone, e.g. wrn-16-4")
    parser.add_argument("--epochs", type=int, help="replace every scenario's epochs")
    args = parser.parse_args()

    from dvn_tf.quiet import import_tensorflow_quietly
    import_tensorflow_quietly().get_logger().setLevel("ERROR")
    from dvn_tf.train import load_scenario_config

    methods = args.methods.split(",")
    rate = args.tflops * 1e12
    print(f"ESTIMATED training time on one GPU at a sustained {args.tflops:g} TFLOP/s "
          "(not measured; see the docstring)\n")
    header = ("| scenario | backbone | k | tasks (image px) | fwd GFLOPs / image, level 1..k "
              "| epochs | " + " | ".join(f"{m} PFLOP | {m} hours" for m in methods) + " |")
    notes = []
    print(header)
    print("| " + " | ".join("---" for _ in header.split("|")[1:-1]) + " |")
    for name in args.scenarios.split(","):
        started = time.time()
        config = load_scenario_config(name)
        config.backbone = args.backbone or config.backbone
        config.epochs = args.epochs or config.epochs
        tasks = [task_shape(spec) for spec in config.tasks]
        cells = []
        dvn_total, flops, arithmetic = dvn_flops(config, tasks)
        for method in methods:
            total = dvn_total if method == "dvn" else member_flops(config, tasks, method)
            cells += [f"{total / 1e15:,.0f}", f"{total / rate / 3600:,.1f}"]
        per_level = "; ".join(
            f"{task.name}: " + " / ".join(f"{flops[(t, level)] / 1e9:.2f}"
                                         for level in range(1, config.units + 1))
            for t, task in enumerate(tasks))
        sizes = ", ".join(f"{task.name} ({task.input_shape[0]})" for task in tasks)
        epochs = f"{config.epochs}" + (" per stage" if config.sequential else "")
        print(f"| {name} | {config.backbone} | {config.units} | {sizes} | {per_level} | "
              f"{epochs} | " + " | ".join(cells) + " |", flush=True)
        notes.append(f"- {name}, dvn: {arithmetic} = {dvn_total / 1e15:,.0f} PFLOP; "
                     f"/ {args.tflops:g} TFLOP/s = {dvn_total / rate / 3600:,.1f} h")
        print(f"  ({name}: counted in {time.time() - started:.0f} s)", file=sys.stderr)
    print("\nTraining FLOPs = 3 (forward + backward) x per-image forward FLOPs of every level "
          "trained x images x epochs, plus a forward pass over the held-out split per epoch:\n")
    print("\n".join(notes))


if __name__ == "__main__":
    main()
