"""MobileNetV2 DVN levels against an independently built twin and Keras's MobileNetV2 of the same width.

    python benchmarks/mobile_levels.py [--rounds=7] [--threads=1] [--units=4] [--split-units=3]

A DVN MobileNetV2 (width multiplier 1, 224x224x3 input, 1000 classes, k = 4
units, 2 tasks, order rule `nearest`, random weights; its layers split into
units in blocks of 8 channels where the width allows) and every level of task
2 (order 2,1,3,4: level 1 is unit 2 alone):

  * level: the level exported as by `python -m export` (to_plain -> float32 .tflite);
  * twin:  the same architecture at the same per-layer widths, built here from
           ordinary Keras layers (not through to_plain), converted the same way;
  * keras: `keras.applications.MobileNetV2(alpha=level / k, weights=None,
           classes=1000, classifier_activation=None)`, the model a user would
           pick instead, converted with the same converter settings.

Params are every weight (batch norm included), FLOPs 2 x the multiply-adds of
every conv, depthwise conv and dense layer (dvn_tf.counting.count_flops). The
three files of a level are timed with LiteRT (XNNPACK, `--threads`, batch 1)
in interleaved rounds in one LiteRT-only process (benchmarks/litert_timing.py).

Unit shares (`--split-units`, 0 to skip): the same DVN at k = 3, whose layers
are mostly not multiples of 24 channels, once split in blocks of 8 channels
(the default for MobileNetV2) and once by channels (ResNet's equal split).
Each level's ms per GFLOP of both are timed side by side; the top level is the
same network in both (a control).

The last line is one JSON object: `twin_latency_ratio` (the worst over levels
of level / twin latency), `keras_ms_per_gflop_ratio` (the worst over levels of
the level's ms per GFLOP / Keras's ms per GFLOP), every record, and the unit
share comparison.
"""

import argparse
import json
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INPUT, CLASSES, TASKS, TASK = (224, 224, 3), 1000, 2, 1  # TASK is 0-based: task 2


def dvn(units, multiple, seed=1):
    """The 2-task MobileNetV2 DVN with k units, built with random weights."""
    import keras

    from dvn_tf.model import DVNModel
    from dvn_tf.units import UnitPlan

    keras.utils.set_random_seed(seed)
    model = DVNModel([f"task{i + 1}" for i in range(TASKS)], [CLASSES] * TASKS,
                     UnitPlan.from_rule(TASKS, units, "nearest", multiple=multiple), INPUT,
                     backbone="mobilenetv2", width_multiplier=1.0, name="dvn")
    model.build()
    return model


def level_layout(model, task, level):
    """The level's architecture as plain numbers: stem (width, stride), blocks, last width.

    Blocks are (expand width or None, output width, stride, residual).
    """
    def width(full):
        return len(model.plan.channels(full, task, level))

    stem, *blocks, last = model.stages
    layout = []
    for block in blocks:
        hidden = block.expansion * block.input_width
        layout.append((width(hidden) if block.expansion != 1 else None, width(block.width),
                       block.strides, block.residual))
    return (width(stem.width), stem.strides), layout, width(last.width)


def plain_mobilenetv2(stem, blocks, last, classes=CLASSES):
    """A MobileNetV2 of ordinary Keras layers with the given widths (see level_layout)."""
    import keras
    from keras import layers

    def conv_bn(x, width, size, stride=1):
        x = layers.Conv2D(width, size, strides=stride, padding="same", use_bias=False)(x)
        return layers.BatchNormalization(epsilon=1e-3)(x)

    inputs = keras.Input(INPUT)
    x = layers.ReLU(6.0)(conv_bn(inputs, stem[0], 3, stem[1]))
    for expand, width, stride, residual in blocks:
        y = x if expand is None else layers.ReLU(6.0)(conv_bn(x, expand, 1))
        y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(y)
        y = layers.ReLU(6.0)(layers.BatchNormalization(epsilon=1e-3)(y))
        y = conv_bn(y, width, 1)
        x = layers.Add()([x, y]) if residual else y
    x = layers.ReLU(6.0)(conv_bn(x, last, 1))
    outputs = layers.Dense(classes)(layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs)


def keras_mobilenetv2(alpha):
    import keras

    return keras.applications.MobileNetV2(input_shape=INPUT, alpha=alpha, weights=None,
                                          classes=CLASSES, classifier_activation=None)


def write(directory, name, keras_model):
    """Convert with export's converter (float32, builtin ops) into directory/name.tflite."""
    from export.convert import to_tflite

    path = os.path.join(directory, f"{name}.tflite")
    with open(path, "wb") as file:
        file.write(to_tflite(keras_model, "none"))
    return path


def cost(keras_model):
    from dvn_tf.counting import count_flops

    return int(keras_model.count_params()), count_flops(keras_model)


def build_levels(directory, units):
    """Files, params and FLOPs of every level, its twin and Keras's MobileNetV2; one record each."""
    model = dvn(units, multiple=8)
    records = []
    for level in model.levels:
        plain = model.to_plain(TASK, level)
        twin = plain_mobilenetv2(*level_layout(model, TASK, level))
        alpha = level / units
        record = {"level": level, "alpha": alpha, "files": {}}
        for kind, keras_model in (("level", plain), ("twin", twin),
                                  ("keras", keras_mobilenetv2(alpha))):
            record[f"{kind}_params"], record[f"{kind}_flops"] = cost(keras_model)
            record["files"][kind] = write(directory, f"L{level}_{kind}", keras_model)
        if (record["twin_params"], record["twin_flops"]) != (record["level_params"],
                                                             record["level_flops"]):
            sys.exit(f"mobile_levels: the twin of level {level} is not the same network")
        records.append(record)
        print(f"  converted level {level}: {record['level_params']:,} params, "
              f"{record['level_flops'] / 1e9:.3f} GFLOPs; Keras alpha={alpha}: "
              f"{record['keras_params']:,} params, {record['keras_flops'] / 1e9:.3f} GFLOPs",
              flush=True)
    return records


def build_split_levels(directory, units):
    """Every level of task 1 of a k-unit DVN split in blocks of 8 channels and by channels."""
    models = {"blocks_of_8": dvn(units, multiple=8), "by_channels": dvn(units, multiple=1)}
    records = []
    for level in range(1, units + 1):
        record = {"level": level, "files": {}}
        for kind, model in models.items():
            plain = model.to_plain(0, level)
            record[f"{kind}_params"], record[f"{kind}_flops"] = cost(plain)
            record["files"][kind] = write(directory, f"split{units}_L{level}_{kind}", plain)
        records.append(record)
        print(f"  converted k={units} level {level} split both ways", flush=True)
    return records


def ms_per_gflop(record, kind):
    return record[f"{kind}_ms"] / (record[f"{kind}_flops"] / 1e9)


def table(records, units):
    header = ("level", "params", "GFLOPs", "ms", "twin ms", "level/twin", "Keras alpha", "params",
              "GFLOPs", "ms", "ms/GFLOP level", "ms/GFLOP Keras", "ratio")
    rows = [header]
    for r in records:
        rows.append((f"{r['level']}/{units}", f"{r['level_params']:,}",
                     f"{r['level_flops'] / 1e9:.3f}", f"{r['level_ms']:.2f}",
                     f"{r['twin_ms']:.2f}", f"{r['level_ms'] / r['twin_ms']:.3f}",
                     f"{r['alpha']:.2f}", f"{r['keras_params']:,}",
                     f"{r['keras_flops'] / 1e9:.3f}", f"{r['keras_ms']:.2f}",
                     f"{ms_per_gflop(r, 'level'):.1f}", f"{ms_per_gflop(r, 'keras'):.1f}",
                     f"{ms_per_gflop(r, 'level') / ms_per_gflop(r, 'keras'):.3f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--round-ms", type=float, default=300.0)
    parser.add_argument("--threads", type=int, default=1, help="LiteRT threads (default 1)")
    parser.add_argument("--units", type=int, default=4, help="k, the units (and levels)")
    parser.add_argument("--split-units", type=int, default=3,
                        help="k of the unit-share comparison (0: skip it)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, REPO)
    from litert_timing import interleaved_latency

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        print(f"Converting the k={args.units} levels, their twins and Keras's MobileNetV2s "
              f"({INPUT[0]}x{INPUT[1]}x{INPUT[2]}, {CLASSES} classes)", flush=True)
        records = build_levels(directory, args.units)
        split = build_split_levels(directory, args.split_units) if args.split_units else []
        print(f"Timing LiteRT ({args.threads} thread(s), interleaved rounds)", flush=True)
        timings = interleaved_latency([r["files"] for r in records + split], args.rounds,
                                      args.round_ms, threads=args.threads)
    for record, timing in zip(records + split, timings):
        record.pop("files")
        record.update(timing)
    print()
    print(table(records, args.units))
    twin_ratio = max(r["level_ms"] / r["twin_ms"] for r in records)
    keras_ratio = max(ms_per_gflop(r, "level") / ms_per_gflop(r, "keras") for r in records)
    split_ratios = [round(ms_per_gflop(r, "blocks_of_8") / ms_per_gflop(r, "by_channels"), 3)
                    for r in split]
    print(f"\ntwin_latency_ratio {twin_ratio:.3f} (target <= 1.05); keras_ms_per_gflop_ratio "
          f"{keras_ratio:.3f} (target <= 1.10)")
    if split:
        print(f"k={args.split_units}, ms per GFLOP with units in blocks of 8 / by channels, "
              f"levels 1..{args.split_units}: {split_ratios} (the top level is the same network)")
    print(f"{time.perf_counter() - started:.0f} s; load average {os.getloadavg()}")
    print(json.dumps({"benchmark": "mobile_levels", "units": args.units, "tasks": TASKS,
                      "task_measured": TASK + 1, "input": list(INPUT), "classes": CLASSES,
                      "threads": args.threads, "rounds": args.rounds,
                      "twin_latency_ratio": round(twin_ratio, 4),
                      "keras_ms_per_gflop_ratio": round(keras_ratio, 4),
                      "split_units": args.split_units,
                      "split_ms_per_gflop_ratio_blocks_of_8_over_by_channels": split_ratios,
                      "load_average": os.getloadavg(), "records": records,
                      "split_records": split}))


if __name__ == "__main__":
    main()
