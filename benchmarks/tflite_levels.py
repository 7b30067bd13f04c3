"""Exported DVN levels against independently built plain models: latency, memory, bytes, switching.

    python benchmarks/tflite_levels.py [--out=runs/benchmarks] [--rounds=7] [--units=4]

For a WRN-16-4 and a ResNet-20 DVN (input 32x32x3, k=4 units by default, 2 tasks, 10
classes each, random weights, order rule `nearest`) and every level of task 2
(order 2,1,3,4 for k=4, so level 1 is unit 2 alone, not a prefix):

  * the level exported as by `python -m export` (to_plain -> float32 .tflite);
  * a plain twin: the same architecture at the same per-layer widths, built
    here from ordinary Keras layers (not through to_plain), converted the same way;
  * the Keras models on TensorFlow (the DVN's sliced call and the plain level
    model, each compiled with tf.function, batch 1);
  * the time to switch to the level: read the file, create the interpreter,
    allocate, first invoke (in a warm process, median of 5).

LiteRT runs with XNNPACK (its default CPU delegate) on one thread, TensorFlow on
one intra-op thread. Export and twin are timed in alternating rounds (A/B/A/B)
in one process that imports only LiteRT; memory is export/probe.py's arena_bytes,
measured in a fresh process per file. Prints a table, writes a PNG of latency
and bytes against params, and prints one JSON object with every figure and the
ratios as its last line.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
from litert_timing import interleaved_latency

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHITECTURES = ("wrn-16-4", "resnet-20")
TASKS, CLASSES, TASK = 2, 10, 1  # TASK is 0-based: task 2
INPUT = (32, 32, 3)


# ---- independent plain Keras models (ordinary layers, no DVN code) ------------------

def plain_network(backbone, stem, stages, classes=CLASSES, seed=0):
    """A CIFAR ResNet-n or pre-activation WRN-n-s with the given stem and stage widths."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    family, depth = backbone.split("-")[0], int(backbone.split("-")[1])
    preact = family == "wrn"
    blocks = (depth - 4) // 6 if preact else (depth - 2) // 6

    def conv(width, size, stride):
        return layers.Conv2D(width, size, strides=stride, padding="same", use_bias=False)

    def bn_relu(x):
        return layers.ReLU()(layers.BatchNormalization(epsilon=1e-5)(x))

    inputs = keras.Input(INPUT)
    x = conv(stem, 3, 1)(inputs)
    if not preact:
        x = bn_relu(x)
    width = stem
    for stage, out in enumerate(stages):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            project = stride != 1 or width != out
            if preact:
                x = bn_relu(x)
                y = conv(out, 3, 1)(bn_relu(conv(out, 3, stride)(x)))
                x = layers.Add()([y, conv(out, 1, stride)(x) if project else x])
            else:
                y = layers.BatchNormalization(epsilon=1e-5)(
                    conv(out, 3, 1)(bn_relu(conv(out, 3, stride)(x))))
                shortcut = (layers.BatchNormalization(epsilon=1e-5)(conv(out, 1, stride)(x))
                            if project else x)
                x = layers.ReLU()(layers.Add()([y, shortcut]))
            width = out
    if preact:
        x = bn_relu(x)
    outputs = layers.Dense(classes)(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # non-trivial BN statistics, as a trained model has
        if isinstance(layer, layers.BatchNormalization):
            size = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, size), rng.normal(0, 0.1, size),
                               rng.normal(0, 0.1, size), rng.uniform(0.5, 1.5, size)])
    return model


def dvn(backbone, units):
    """The 2-task DVN with k units of a backbone, built with random weights."""
    from dvn_tf.model import DVNModel
    from dvn_tf.units import UnitPlan
    import keras

    keras.utils.set_random_seed(1)
    model = DVNModel([f"task{i + 1}" for i in range(TASKS)], [CLASSES] * TASKS,
                     UnitPlan.from_rule(TASKS, units, "nearest"), INPUT, backbone=backbone,
                     base_width=16, name="dvn")
    model.build()
    return model


def level_widths(model, level):
    """(stem width, [stage widths]) of TASK's level: the twin's widths."""
    plan = model.plan
    stem = len(plan.channels(model.base_width, TASK, level))
    widen = 1 if model.backbone.startswith("resnet") else int(model.backbone.split("-")[2])
    stages = [len(plan.channels(model.base_width * widen * m, TASK, level)) for m in (1, 2, 4)]
    return stem, stages


# ---- phase 1: TensorFlow (convert, Keras latency) ------------------------------------

def keras_latency(function, x, rounds):
    """Median ms of one compiled call, over `rounds` rounds of timed calls."""
    for _ in range(3):
        function(x)
    medians = []
    for _ in range(rounds):
        times = []
        for _ in range(10):
            start = time.perf_counter()
            np.asarray(function(x))
            times.append((time.perf_counter() - start) * 1e3)
        medians.append(statistics.median(times))
    return statistics.median(medians)


def build_files(directory, rounds, units):
    """Convert every level and its twin; time the Keras models. One record per (arch, level)."""
    import tensorflow as tf

    from dvn_tf.counting import count_flops
    from export.convert import to_tflite

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    x = np.random.default_rng(0).normal(size=(1, *INPUT)).astype(np.float32)
    records = []
    for backbone in ARCHITECTURES:
        model = dvn(backbone, units)
        for level in model.levels:
            plain = model.to_plain(TASK, level)
            twin = plain_network(backbone, *level_widths(model, level))
            assert twin.count_params() == plain.count_params(), (backbone, level)
            record = {"arch": backbone, "level": level, "params": int(plain.count_params()),
                      "flops": count_flops(plain)}
            for kind, keras_model in (("export", plain), ("twin", twin)):
                path = os.path.join(directory, f"{backbone}_L{level}_{kind}.tflite")
                with open(path, "wb") as file:
                    file.write(to_tflite(keras_model, "none"))
                record[f"{kind}_file"] = path
                record[f"{kind}_bytes"] = os.path.getsize(path)
            sliced = tf.function(lambda images, level=level: model(
                images, task=TASK, level=level, training=False))
            compiled = tf.function(lambda images, plain=plain: plain(images, training=False))
            record["keras_dvn_ms"] = keras_latency(sliced, x, rounds)
            record["keras_plain_ms"] = keras_latency(compiled, x, rounds)
            records.append(record)
            print(f"  converted {backbone} level {level}: {record['params']:,} params, "
                  f"export {record['export_bytes']:,} B, twin {record['twin_bytes']:,} B",
                  flush=True)
    return records


# ---- report -------------------------------------------------------------------------------

def ratios(records):
    out = {}
    for arch in ARCHITECTURES:
        rows = [r for r in records if r["arch"] == arch]
        low, top = rows[0], rows[-1]
        out[arch] = {
            "export_over_twin_latency": [round(r["export_ms"] / r["twin_ms"], 3) for r in rows],
            "level1_latency_share_over_flops_share": round(
                (low["export_ms"] / top["export_ms"]) / (low["flops"] / top["flops"]), 3),
            "switch_ms": [round(r["switch_ms"], 2) for r in rows],
            "litert_speedup_over_keras_dvn": [round(r["keras_dvn_ms"] / r["export_ms"], 2)
                                              for r in rows],
            "litert_speedup_over_keras_plain": [round(r["keras_plain_ms"] / r["export_ms"], 2)
                                                for r in rows],
            "export_over_twin_bytes": [round(r["export_bytes"] / r["twin_bytes"], 4)
                                       for r in rows]}
    return out


def table(records):
    header = ("arch", "lvl", "params", "MFLOPs", "export ms", "twin ms", "exp/twin",
              "Keras DVN ms", "Keras plain ms", "switch ms", "export B", "twin B",
              "memory MiB", "twin MiB")
    rows = [header]
    for r in records:
        rows.append((r["arch"], str(r["level"]), f"{r['params']:,}", f"{r['flops'] / 1e6:.1f}",
                     f"{r['export_ms']:.3f}", f"{r['twin_ms']:.3f}",
                     f"{r['export_ms'] / r['twin_ms']:.3f}", f"{r['keras_dvn_ms']:.2f}",
                     f"{r['keras_plain_ms']:.2f}", f"{r['switch_ms']:.1f}",
                     f"{r['export_bytes']:,}", f"{r['twin_bytes']:,}",
                     f"{r['export_arena_bytes'] / 2 ** 20:.1f}",
                     f"{r['twin_arena_bytes'] / 2 ** 20:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows)


def plot(records, path, units):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for arch, color in zip(ARCHITECTURES, ("tab:blue", "tab:orange")):
        rows = [r for r in records if r["arch"] == arch]
        params = [r["params"] for r in rows]
        left.plot(params, [r["export_ms"] for r in rows], "o-", color=color,
                  label=f"{arch} DVN level (export)")
        left.plot(params, [r["twin_ms"] for r in rows], "x--", color=color,
                  label=f"{arch} plain twin")
        right.plot(params, [r["export_bytes"] / 2 ** 20 for r in rows], "o-", color=color,
                   label=f"{arch} DVN level (export)")
        right.plot(params, [r["twin_bytes"] / 2 ** 20 for r in rows], "x--", color=color,
                   label=f"{arch} plain twin")
    for axis, label in ((left, "LiteRT latency, batch 1, 1 thread (ms)"),
                        (right, ".tflite size (MiB)")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("parameters of the level")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle("DVN levels exported to LiteRT vs independently built plain models "
                    f"(32x32x3, k={units})")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(REPO, "runs", "benchmarks"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--units", type=int, default=4, help="k, the units (and levels)")
    parser.add_argument("--round-ms", type=float, default=150.0)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, REPO)
    from export.measure import measure_file

    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        print("Converting the levels and their plain twins; timing Keras on TensorFlow", flush=True)
        records = build_files(directory, args.rounds, args.units)
        print("Timing LiteRT (A/B rounds) and switches in a LiteRT-only process", flush=True)
        groups = [{"export": r["export_file"], "twin": r["twin_file"]} for r in records]
        for record, timing in zip(records, interleaved_latency(
                groups, args.rounds, args.round_ms, threads=1, switch_kind="export")):
            record.update(timing)
        print("Measuring memory cost (fresh process per file)", flush=True)
        for record in records:
            for kind in ("export", "twin"):
                cost = measure_file(record[f"{kind}_file"], threads=1, runs=3)
                record[f"{kind}_arena_bytes"] = cost["arena_bytes"]
                record.pop(f"{kind}_file")
    png = os.path.join(args.out, f"tflite_levels_k{args.units}.png")
    plot(records, png, args.units)
    summary = ratios(records)
    print()
    print(table(records))
    print()
    for arch, values in summary.items():
        print(f"{arch}: export/twin latency {values['export_over_twin_latency']} (target <= 1.05); "
              f"(L1/top latency)/(L1/top FLOPs) {values['level1_latency_share_over_flops_share']} "
              f"(target within 1.5x); switch ms {values['switch_ms']} (target < 50 for "
              f"wrn-16-4); LiteRT speed-up over Keras DVN {values['litert_speedup_over_keras_dvn']}")
    print(f"Plot: {png}; {time.perf_counter() - started:.0f} s")
    print(json.dumps({"benchmark": "tflite_levels", "units": args.units, "tasks": TASKS,
                      "task_measured": TASK + 1, "input": list(INPUT), "threads": 1,
                      "rounds": args.rounds, "plot": png, "records": records,
                      "ratios": summary}))


if __name__ == "__main__":
    main()
