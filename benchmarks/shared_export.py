"""The shared layout against a file per (task, level): bytes, latency, memory and switch time.

    python benchmarks/shared_export.py [--units=2,4] [--rounds=7] [--repeats=3]
                                       [--browser-rounds=3] [--browser-runs=20]

For a WRN-16-4 DVN with 2 tasks (input 32x32x3, 10 classes each, random
weights as in benchmarks/tflite_levels.py, order rule `nearest`) at each k:

  * per-level: every (task, level) converted on its own (export/convert.py);
  * shared: every (task, level) a signature of one file (export/shared.py),
    served from its cut-out (dvn_runtime/cutout.py).

Side by side, in one run, for both layouts:
  * bytes on disk (and the shared file's weight bytes against the DVN's);
  * latency per (task, level): the per-level file against the cut-out, in
    alternating rounds in one LiteRT-only process, median of rounds;
  * switch time per (task, level): the runtime's load_model (read the file or
    cut the level out, sha256, create, allocate, warm up), alternating, median;
  * anonymous and file-backed resident memory to serve each (task, level), and
    both tasks at the top level, each in a fresh process (export/probe.py),
    layouts alternating, median of --repeats; plus both tasks through LiteRT's
    CompiledModel with XNNPACK's weight cache, to see whether tasks that share
    blocks can share packed weights.

LiteRT runs with XNNPACK on one thread. Prints a table per k; the last line is
one JSON object with bytes_ratio, latency_ratio, level_memory_ratio and
switch_ratio (worst over every k and (task, level)) and the load average.

It also converts a MobileNetV2 1.0 DVN (224x224x3, k = 4, 2 tasks of 10 classes,
random weights) to a float32 and an int8 shared file (16 random calibration
images per task), prints each file's bytes split into weights, quantization
parameters and graphs, and adds int8_over_float32_bytes (int8 file / float32
file) to the JSON.

The browser (--browser-rounds, 0 to skip; needs `make web-deps`): a MobileNetV2
1.0 DVN at 224x224x3 (k = 4, 2 tasks of 10 classes, random weights) in the
shared layout; each level's cut-out timed in LiteRT.js in Chromium (the web
demo's cutout.js and CompiledFile, cross-origin isolated, 2 threads) and in
Python LiteRT (dvn_runtime's cut-out, the same bytes, 2 threads), in turn, in
one run (benchmarks/web_latency.py: fastest of 20 calls, second of two passes,
median of rounds). `browser_over_python_latency` is the worst level's ratio.
"""

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
BACKBONE, INPUT = "wrn-16-4", (32, 32, 3)


# ---- phase 1: TensorFlow (build and convert both layouts) ---------------------------------

def build_files(directory, units):
    """Write both layouts of the k-unit DVN into directory; one record per (task, level)."""
    import collections

    from dvn_tf.counting import count_flops
    from export import shared
    from export.convert import to_tflite
    import numpy as np
    from tflite_levels import TASKS, dvn

    model = dvn(BACKBONE, units)
    task = collections.namedtuple("Task", "name input_shape")
    tasks = [task(name, INPUT) for name in model.task_names]
    probes = [np.random.default_rng(0).normal(size=(8, *INPUT)).astype(np.float32)] * TASKS
    started = time.perf_counter()
    levels = shared.level_models(model, tasks, probes)
    content = shared.to_shared_tflite(levels, tasks)
    shared_path = os.path.join(directory, shared.SHARED_FILE)
    with open(shared_path, "wb") as file:
        file.write(content)
    print(f"  k={units}: shared file {len(content):,} bytes, {len(levels)} signatures "
          f"({time.perf_counter() - started:.0f} s)", flush=True)
    records = []
    for key, (t, level, _) in levels.items():
        plain = model.to_plain(t, level)
        path = os.path.join(directory, f"{key}.tflite")
        with open(path, "wb") as file:
            file.write(to_tflite(plain))
        records.append({"units": units, "task": model.task_names[t], "level": level,
                        "key": key, "params": int(plain.count_params()),
                        "flops": count_flops(plain), "per_level_file": path,
                        "per_level_bytes": os.path.getsize(path), "shared_file": shared_path})
    return {"units": units, "shared_bytes": len(content), "weights": int(model.count_params()),
            "stored_weight_bytes": stored_weight_bytes(content), "records": records}


def stored_weight_bytes(content):
    """Bytes of a shared file's data section that its signatures use, each byte counted once."""
    from dvn_runtime.cutout import read_buffers, read_index

    index = read_index(content)
    used = {b for signature in index["signatures"] for b in read_buffers(signature)}
    total, reached = 0, 0
    for start, size in sorted(tuple(index["data"][b][:2]) for b in used):
        total += max(0, start + size - max(start, reached))
        reached = max(reached, start + size)
    return total


def quantization_bytes(content):
    """Bytes of a shared file's flatbuffer that its signatures' quantization parameters take.

    Every QuantizationParameters table, its vtable and its vectors that a
    signature's subgraph (the one its cut-out runs) reaches, each counted once
    however many tensors point at it.
    """
    import struct

    from ai_edge_litert import schema_py_generated as schema

    from dvn_runtime.cutout import read_index

    vectors = {4: 4, 6: 4, 8: 4, 10: 8}  # min, max, scale (float32), zero_point (int64)
    extents = set()
    for signature in read_index(content)["signatures"]:
        graph = schema.SubGraph()
        graph.Init(content, signature["subgraph"])
        for t in range(graph.TensorsLength()):
            quantization = graph.Tensors(t).Quantization()
            if quantization is None:
                continue
            table = quantization._tab
            vtable = table.Pos - struct.unpack_from("<i", content, table.Pos)[0]
            vtable_size, table_size = struct.unpack_from("<HH", content, vtable)
            extents |= {(vtable, vtable_size), (table.Pos, table_size)}
            for field, item in vectors.items():
                offset = table.Offset(field)
                if offset:
                    start = table.Vector(offset)
                    extents.add((start - 4, 4 + item * table.VectorLen(offset)))
    return sum(size for _, size in extents)


def bytes_split(content):
    """{weights, quantization, graphs}: a shared file's bytes, the graphs being all the rest."""
    weights, quantization = stored_weight_bytes(content), quantization_bytes(content)
    return {"weights": weights, "quantization": quantization,
            "graphs": len(content) - weights - quantization}


def int8_over_float32():
    """The int8 and float32 shared files of the MobileNetV2 DVN (`mobilenet_levels`): their bytes."""
    import numpy as np

    from export import shared

    levels, tasks = mobilenet_levels()
    rng = np.random.default_rng(0)
    calibration = [rng.normal(size=(16, *MOBILENET_INPUT)).astype(np.float32) for _ in tasks]
    files = {mode: bytes_split(shared.to_shared_tflite(levels, tasks, mode, calibration))
             for mode in ("none", "int8")}
    for mode, split in files.items():
        print(f"MobileNetV2 1.0, 224 px, k={MOBILENET_UNITS}, {mode} shared file: "
              f"{sum(split.values()):,} bytes = "
              + ", ".join(f"{value:,} {name}" for name, value in split.items()), flush=True)
    return {"int8_over_float32_bytes": round(sum(files["int8"].values())
                                             / sum(files["none"].values()), 4),
            "mobilenetv2_shared_bytes": {"float32" if mode == "none" else mode: split
                                         for mode, split in files.items()}}


# ---- phase 2: LiteRT only (a child process: latency and switches) -------------------------

def manifests(records):
    """Runtime manifests of both layouts for the records, as dvn_runtime reads them."""
    from dvn_runtime.cutout import SharedFile
    from dvn_runtime.manifest import InputSpec, Manifest, ModelInfo, TaskInfo

    spec = InputSpec((1, *INPUT), "float32", (0.0,), (1.0,))
    tasks = {r["task"]: TaskInfo(r["task"], 10, tuple(map(str, range(10))), spec)
             for r in records}
    per_level, shared = [], []
    files = {}
    for r in records:
        with open(r["per_level_file"], "rb") as file:
            content = file.read()
        per_level.append(ModelInfo(r["task"], r["level"], os.path.basename(r["per_level_file"]),
                                   hashlib.sha256(content).hexdigest(), len(content), 0, 0,
                                   "none", 0.0, 0.0, 0.0, 0))
        with SharedFile(r["shared_file"]) as source:
            cutout = source.cutout(r["key"])
        name = os.path.basename(r["shared_file"])
        files[name] = None
        shared.append(ModelInfo(r["task"], r["level"], name, hashlib.sha256(cutout).hexdigest(),
                                len(cutout), 0, 0, "none", 0.0, 0.0, 0.0, 0, r["key"]))
    directory = os.path.dirname(records[0]["per_level_file"])
    return (Manifest(directory, "benchmark", tasks, tuple(per_level)),
            Manifest(directory, "benchmark", tasks, tuple(shared), "shared", files))


def litert_child(spec_path):
    """Latency (alternating rounds) and switch times of both layouts; prints JSON."""
    import numpy as np

    from dvn_runtime.cutout import SharedFiles
    from dvn_runtime.model import load_model

    with open(spec_path) as file:
        spec = json.load(file)
    layouts = dict(zip(("per_level", "shared"), manifests(spec["records"])))
    files = SharedFiles()
    x = np.random.default_rng(0).normal(size=(1, *INPUT)).astype(np.float32)

    def round_ms(model, count):
        times = []
        for _ in range(count):
            start = time.perf_counter()
            model.logits(x)
            times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times)

    results = []
    for index, record in enumerate(spec["records"]):
        loaded = {name: load_model(m, m.models[index], 1, files) for name, m in layouts.items()}
        count = max(5, min(200, int(spec["round_ms"] / max(round_ms(loaded["shared"], 3), 1e-3))))
        rounds = {name: [] for name in layouts}
        switches = {name: [] for name in layouts}
        for _ in range(spec["rounds"]):
            for name, model in loaded.items():
                rounds[name].append(round_ms(model, count))
            for name, manifest in layouts.items():
                start = time.perf_counter()
                load_model(manifest, manifest.models[index], 1, files).close()
                switches[name].append((time.perf_counter() - start) * 1e3)
        for model in loaded.values():
            model.close()
        results.append({f"{name}_{what}": statistics.median(values[name])
                        for what, values in (("ms", rounds), ("switch_ms", switches))
                        for name in layouts})
    files.close()
    print(json.dumps(results))


def run_child(flag, spec, what):
    """Run this script with --FLAG=a JSON file of `spec`; its last stdout line, parsed.

    A child that fails ends the benchmark with one line saying `what` failed.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(spec, file)
    try:
        result = subprocess.run([sys.executable, os.path.abspath(__file__),
                                 f"--{flag}={file.name}"], capture_output=True, text=True)
    finally:
        os.remove(file.name)
    if result.returncode != 0:
        lines = (result.stderr.strip() or "no output").splitlines()
        sys.exit(f"shared_export: {what} failed: {lines[-1]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_litert_child(records, rounds, round_ms):
    return run_child("litert-child", {"records": records, "rounds": rounds, "round_ms": round_ms},
                     "LiteRT timing")


# ---- phase 3: memory, a fresh process per measurement --------------------------------------

def measure_memory(run, repeats, cache_directory):
    """Anonymous and file-backed RSS of each (task, level) and of both tasks at the top level."""
    from export.measure import measure_models

    records = run["records"]
    top = max(r["level"] for r in records)
    both = [r for r in records if r["level"] == top]
    cases = [(r, [r["per_level_file"]], [f"{r['shared_file']}@{r['key']}"]) for r in records]
    cases.append((run, [r["per_level_file"] for r in both],
                  [f"{r['shared_file']}@{r['key']}" for r in both]))
    samples = {}
    for _ in range(repeats):
        for target, per_level, shared in cases:
            for name, specs in (("per_level", per_level), ("shared", shared)):
                cost = measure_models(specs, threads=1, runs=3)
                for what in ("anon", "file"):
                    samples.setdefault((id(target), name, what), []).append(
                        cost[f"{what}_bytes"])
        cost = measure_models([s for s in cases[-1][2]], threads=1, runs=3,
                              weight_cache=cache_directory)
        samples.setdefault((id(run), "weight_cache", "anon"), []).append(cost["anon_bytes"])
    for target, _, _ in cases:
        for name in ("per_level", "shared", "weight_cache"):
            for what in ("anon", "file"):
                values = samples.get((id(target), name, what))
                if values:
                    target[f"{name}_{what}_bytes" if target is not run
                           else f"two_tasks_{name}_{what}_bytes"] = int(statistics.median(values))
    run["weight_cache_files"] = sorted(os.listdir(cache_directory))


# ---- the browser: LiteRT.js against Python LiteRT on MobileNetV2 cut-outs ----------------

MOBILENET_INPUT, MOBILENET_UNITS, MOBILENET_CLASSES = (224, 224, 3), 4, 10
BROWSER_THREADS = 2


def mobilenet_levels():
    """(level models, tasks) of a MobileNetV2 1.0 DVN at 224 px, k = 4, 2 tasks of 10 classes,
    random weights, its units in blocks of 8 channels as training makes them."""
    import collections

    import keras
    import numpy as np

    from dvn_tf.backbones import channel_multiple
    from dvn_tf.model import DVNModel
    from dvn_tf.units import UnitPlan
    from export import shared

    keras.utils.set_random_seed(1)
    task = collections.namedtuple("Task", "name num_classes labels input_shape mean std")
    tasks = [task(f"task{i + 1}", MOBILENET_CLASSES, [str(c) for c in range(MOBILENET_CLASSES)],
                  MOBILENET_INPUT, [0.5], [0.25]) for i in range(2)]
    model = DVNModel([t.name for t in tasks], [MOBILENET_CLASSES] * 2,
                     UnitPlan.from_rule(2, MOBILENET_UNITS, "nearest",
                                        multiple=channel_multiple("mobilenetv2")),
                     MOBILENET_INPUT, backbone="mobilenetv2", width_multiplier=1.0, name="dvn")
    model.build()
    probes = [np.random.default_rng(0).normal(size=(2, *MOBILENET_INPUT)).astype(np.float32)] * 2
    return shared.level_models(model, tasks, probes), tasks


def mobilenet_shared_export(directory):
    """The MobileNetV2 DVN (`mobilenet_levels`) in the shared layout, float32:
    directory/shared.tflite and its manifest.json."""
    from export import shared

    started = time.perf_counter()
    levels, tasks = mobilenet_levels()
    content = shared.to_shared_tflite(levels, tasks)
    shared.write_unmeasured_export(directory, levels, tasks, content, "mobilenetv2_224")
    print(f"  MobileNetV2 224 px, k={MOBILENET_UNITS}: shared file {len(content):,} bytes, "
          f"{len(levels)} signatures ({time.perf_counter() - started:.0f} s)", flush=True)


def browser_child(spec_path):
    """LiteRT.js (the browser's cut-outs) and Python LiteRT (Python's) in turn; prints JSON."""
    from web_latency import median_of, model_contents, side_by_side

    with open(spec_path) as file:
        spec = json.load(file)
    export_dir = spec["directory"]
    webs, pythons = side_by_side(export_dir, model_contents(export_dir), spec["rounds"],
                                 loads=1, runs=spec["runs"], threads=BROWSER_THREADS)
    with open(os.path.join(export_dir, "manifest.json")) as file:
        models = json.load(file)["models"]
    records = []
    for i, model in enumerate(models):
        browser, python = (median_of([round_[i] for round_ in rounds])["latency_ms"]
                           for rounds in ([web["models"] for web in webs], pythons))
        records.append({"task": model["task"], "level": model["level"],
                        "params": model["params"], "browser_ms": browser, "python_ms": python,
                        "ratio": browser / python})
    print(json.dumps({"threads": [web["threads"] for web in webs], "records": records}))


def browser_latency(directory, rounds, runs):
    """Each level of the MobileNetV2 shared export timed in LiteRT.js (Chromium, the web demo's
    cut-out and CompiledFile) and in Python LiteRT (dvn_runtime's cut-out), on BROWSER_THREADS
    threads each, in turn in a LiteRT-only child process (benchmarks/web_latency.py)."""
    export_dir = os.path.join(directory, "mobilenetv2")
    mobilenet_shared_export(export_dir)
    browser = run_child("browser-child", {"directory": export_dir, "rounds": rounds, "runs": runs},
                        "the browser timing")
    if set(browser["threads"]) != {BROWSER_THREADS}:
        sys.exit(f"shared_export: LiteRT.js ran on {browser['threads']} threads, not "
                 f"{BROWSER_THREADS}: serve the page cross-origin isolated (web_demo/serve.py)")
    return browser["records"]


def browser_table(records):
    rows = [("task", "lvl", "params", "LiteRT.js ms", "Python LiteRT ms", "ratio")]
    rows += [(r["task"], str(r["level"]), f"{r['params']:,}", f"{r['browser_ms']:.2f}",
              f"{r['python_ms']:.2f}", f"{r['ratio']:.3f}") for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows)


# ---- report -------------------------------------------------------------------------------

def table(run):
    header = ("task", "lvl", "params", "per-level B", "cut-out ms", "per-level ms", "ratio",
              "switch: cut-out", "per-level", "ratio", "anon MiB: shared", "per-level", "ratio",
              "file MiB: shared")
    rows = [header]
    mib = 2 ** 20
    for r in run["records"]:
        rows.append((r["task"], str(r["level"]), f"{r['params']:,}", f"{r['per_level_bytes']:,}",
                     f"{r['shared_ms']:.3f}", f"{r['per_level_ms']:.3f}",
                     f"{r['shared_ms'] / r['per_level_ms']:.3f}",
                     f"{r['shared_switch_ms']:.1f}", f"{r['per_level_switch_ms']:.1f}",
                     f"{r['shared_switch_ms'] / r['per_level_switch_ms']:.2f}",
                     f"{r['shared_anon_bytes'] / mib:.2f}", f"{r['per_level_anon_bytes'] / mib:.2f}",
                     f"{r['shared_anon_bytes'] / r['per_level_anon_bytes']:.3f}",
                     f"{r['shared_file_bytes'] / mib:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows)


def summarize(runs):
    records = [r for run in runs for r in run["records"]]
    worst = {
        "bytes_ratio": max(run["shared_bytes"] / sum(r["per_level_bytes"] for r in run["records"])
                           for run in runs),
        "latency_ratio": max(r["shared_ms"] / r["per_level_ms"] for r in records),
        "level_memory_ratio": max(r["shared_anon_bytes"] / r["per_level_anon_bytes"]
                                  for r in records),
        "switch_ratio": max(r["shared_switch_ms"] / r["per_level_switch_ms"] for r in records),
        "shared_over_weights": max(run["shared_bytes"] / (4 * run["weights"]) for run in runs),
        "two_tasks_memory_ratio": max(run["two_tasks_shared_anon_bytes"]
                                      / run["two_tasks_per_level_anon_bytes"] for run in runs)}
    return {key: round(value, 4) for key, value in worst.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", default="2,4", help="values of k, comma-separated")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3, help="memory measurements per case")
    parser.add_argument("--round-ms", type=float, default=150.0)
    parser.add_argument("--browser-rounds", type=int, default=3,
                        help="rounds of the browser against Python on MobileNetV2 (0 to skip)")
    parser.add_argument("--browser-runs", type=int, default=20,
                        help="calls per level and round in each (a multiple of 20)")
    parser.add_argument("--litert-child", help=argparse.SUPPRESS)
    parser.add_argument("--browser-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.litert_child:
        return litert_child(args.litert_child)
    if args.browser_child:
        return browser_child(args.browser_child)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    load = [os.getloadavg()]
    with tempfile.TemporaryDirectory() as directory:
        runs = []
        print("Building both layouts (TensorFlow)", flush=True)
        for units in (int(u) for u in args.units.split(",")):
            folder = os.path.join(directory, f"k{units}")
            os.makedirs(folder)
            runs.append(build_files(folder, units))
        for run in runs:
            print(f"k={run['units']}: latency and switches (LiteRT only, alternating)", flush=True)
            for record, timing in zip(run["records"],
                                      run_litert_child(run["records"], args.rounds, args.round_ms)):
                record.update(timing)
            print(f"k={run['units']}: memory, a fresh process per measurement", flush=True)
            cache = os.path.join(directory, f"weight_cache_k{run['units']}")
            os.makedirs(cache)
            measure_memory(run, args.repeats, cache)
            load.append(os.getloadavg())
        for run in runs:
            for record in run["records"]:
                for key in ("per_level_file", "shared_file"):
                    record.pop(key)
        browser = []
        if args.browser_rounds:
            print("MobileNetV2 at 224 px: LiteRT.js in Chromium against Python LiteRT, "
                  f"{BROWSER_THREADS} threads each (TensorFlow, then LiteRT only)", flush=True)
            browser = browser_latency(directory, args.browser_rounds, args.browser_runs)
            load.append(os.getloadavg())
    summary = summarize(runs)
    int8 = int8_over_float32()
    if browser:
        summary["browser_over_python_latency"] = round(max(r["ratio"] for r in browser), 4)
    for run in runs:
        mib = 2 ** 20
        print(f"\nk={run['units']}: shared file {run['shared_bytes']:,} bytes = "
              f"{run['shared_bytes'] / (4 * run['weights']):.4f} x the DVN's float32 weights "
              f"({4 * run['weights']:,}), of which {run['stored_weight_bytes']:,} weight bytes "
              f"and {run['shared_bytes'] - run['stored_weight_bytes']:,} overhead; per-level files "
              f"{sum(r['per_level_bytes'] for r in run['records']):,} bytes")
        print(table(run))
        print(f"both tasks at the top level, anonymous MiB: shared "
              f"{run['two_tasks_shared_anon_bytes'] / mib:.2f}, per-level "
              f"{run['two_tasks_per_level_anon_bytes'] / mib:.2f}, CompiledModel with XNNPACK's "
              f"weight cache {run['two_tasks_weight_cache_anon_bytes'] / mib:.2f} (cache files "
              f"written: {len(run['weight_cache_files'])})")
    if browser:
        print(f"\nMobileNetV2 1.0 at 224 px, k={MOBILENET_UNITS}, each level's cut-out on "
              f"{BROWSER_THREADS} threads: LiteRT.js (Chromium) against Python LiteRT")
        print(browser_table(browser))
    load.append(os.getloadavg())
    print(f"\n{summary}; load average (1, 5, 15 min) at start, after each k, at the end: "
          f"{[tuple(round(x, 2) for x in values) for values in load]}; "
          f"{time.perf_counter() - started:.0f} s")
    print(json.dumps({"benchmark": "shared_export", "backbone": BACKBONE, "tasks": 2,
                      "input": list(INPUT), "threads": 1, "rounds": args.rounds,
                      "repeats": args.repeats, **summary, **int8, "load_average": load,
                      "runs": runs, "browser": browser}))


if __name__ == "__main__":
    main()
