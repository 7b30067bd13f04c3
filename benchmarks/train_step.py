"""DVN train step against the plain Keras models it stands for, side by side in one run.

For each setting, times one DVN step (every (task, level) in one tape) and one
step of each plain Keras model of the same (task, level)'s width and batch,
interleaved over rounds, and prints DVN / sum-of-plain. The last line is one
JSON object with every figure.

  python benchmarks/train_step.py [--rounds 5] [--steps 10] [--batch 64]
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dvn_tf.quiet import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly().get_logger().setLevel("ERROR")  # 16 plain models: retrace notes
import keras  # noqa: E402
import numpy as np  # noqa: E402

from dvn_tf.model import DVNModel  # noqa: E402
from dvn_tf.units import UnitPlan  # noqa: E402

SETTINGS = [
    # (label, backbone, base width, tasks, units, order rule, input shape)
    ("resnet-20 k=2 (digits-like, 32x32)", "resnet-20", 16, 2, 2, "nearest", (32, 32, 3)),
    ("resnet-20 k=4 cyclic (non-contiguous sets)", "resnet-20", 16, 4, 4, "cyclic", (32, 32, 3)),
]


def sgd():
    return keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True)


def time_steps(step, steps):
    """Median seconds per call of step() over `steps` calls."""
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(label, backbone, width, tasks, units, rule, shape, rounds, steps, batch):
    """DVN and plain step times for one setting, interleaved round by round."""
    rng = np.random.default_rng(0)
    names = [f"t{i}" for i in range(tasks)]
    dvn = DVNModel(names, [10] * tasks, UnitPlan.from_rule(tasks, units, rule), shape,
                   backbone=backbone, base_width=width)
    dvn.build()
    data = {name: (rng.normal(size=(batch, *shape)).astype("float32"),
                   rng.integers(0, 10, batch).astype("int32")) for name in names}
    plains = []
    for task in range(tasks):
        for level in dvn.levels:
            model = dvn.to_plain(task, level)
            model.compile(sgd(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            plains.append((model, data[names[task]]))
    dvn.compile(sgd())
    runs = [lambda: dvn.train_on_batch(data)] + [
        (lambda m=m, xy=xy: m.train_on_batch(*xy)) for m, xy in plains]
    for run in runs:  # trace and warm up
        run(), run()
    dvn_times, plain_times = [], []
    for _ in range(rounds):
        dvn_times.append(time_steps(runs[0], steps))
        plain_times.append(sum(time_steps(run, steps) for run in runs[1:]))
    dvn_ms = 1000 * statistics.median(dvn_times)
    plain_ms = 1000 * statistics.median(plain_times)
    return {"setting": label, "pairs": len(plains), "batch": batch,
            "dvn_step_ms": round(dvn_ms, 2), "sum_plain_step_ms": round(plain_ms, 2),
            "ratio": round(dvn_ms / plain_ms, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    figures = []
    for setting in SETTINGS:
        figure = measure(*setting, args.rounds, args.steps, args.batch)
        figures.append(figure)
        print(f"{figure['setting']}: DVN step {figure['dvn_step_ms']} ms, sum of "
              f"{figure['pairs']} plain steps {figure['sum_plain_step_ms']} ms, "
              f"ratio {figure['ratio']}", flush=True)
    print(json.dumps({"benchmark": "train_step", "results": figures}))


if __name__ == "__main__":
    main()
