"""LiteRT.js in Chromium against Python LiteRT on the same exported files: latency and load time.

    python benchmarks/web_latency.py [--models=runs/digits/tflite] [--rounds=3] [--runs=300]
                                     [--loads=30]

Both run every (task, level) of the export single-threaded on the CPU with
XNNPACK: Python's `ai_edge_litert` Interpreter (num_threads=1), and LiteRT.js
(npm @litertjs/core, its WebAssembly build without threads) in Debian's
Chromium, headless, with the web demo served from localhost by
web_demo/serve.py and driven by benchmarks/web_latency.mjs. Per model:

  * latency: after 3 warm-ups, `--runs` model calls on one input in 20
    blocks; the fastest block's mean call time (the browser's clock ticks in
    0.1 ms steps, so single calls cannot be timed). Python: set_tensor +
    invoke + get_tensor; LiteRT.js: the demo's CompiledFile.run (copy the
    input in, run, copy the output out);
  * load + compile: the fastest of `--loads` (Python: Interpreter(model_content)
    + allocate_tensors; LiteRT.js: CompiledFile.compile, i.e. copy into wasm
    memory + loadModel + compileModel).

Fastest, not median: on this shared 2-core machine other processes stretch
some blocks several times over, and the minimum is the figure they disturb
least.

Both go twice over all models and keep the second pass (the first warms V8's
compiled wasm, and the caches). Browser and Python take turns, `--rounds`
times each, and every figure is the median of its rounds. Also LiteRT.js's one-time start-up (loading its
wasm) and the page weight:
bytes the demo page fetched before it could classify. Needs `make web-deps`.
Prints a table, then one JSON object with every figure and the ratios as its
last line.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
BLOCKS = 20  # as in web_latency.mjs: the browser's clock ticks in 0.1 ms steps

from dvn_runtime.preprocess import to_input_tensor  # noqa: E402
from web_demo import serve  # noqa: E402


def python_litert(path, loads, runs):
    """{"load_ms", "latency_ms"} of one .tflite in Python LiteRT, single-threaded."""
    with open(path, "rb") as file:
        content = file.read()
    load_times = []
    for _ in range(loads):
        started = time.perf_counter()
        interpreter = Interpreter(model_content=content, num_threads=1)
        interpreter.allocate_tensors()
        load_times.append((time.perf_counter() - started) * 1e3)
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    values = np.sin(np.arange(np.prod(source["shape"]))).reshape(source["shape"]).astype(np.float32)
    tensor = to_input_tensor(values, source)
    def call():
        interpreter.set_tensor(source["index"], tensor)
        interpreter.invoke()
        interpreter.get_tensor(target["index"])

    for _ in range(3):
        call()
    block_means = []
    for _ in range(BLOCKS):
        started = time.perf_counter()
        for _ in range(runs // BLOCKS):
            call()
        block_means.append((time.perf_counter() - started) * 1e3 / (runs // BLOCKS))
    return {"load_ms": min(load_times), "latency_ms": min(block_means)}


def browser_round(port, loads, runs):
    """One run of benchmarks/web_latency.mjs against the demo served on `port`: its JSON."""
    browser = subprocess.run(
        ["node", os.path.join(REPO, "benchmarks", "web_latency.mjs"),
         f"http://127.0.0.1:{port}/", str(loads), str(runs)],
        capture_output=True, text=True, timeout=1800)
    if browser.returncode != 0:
        sys.exit(f"web_latency: the browser run failed: {browser.stderr.strip()[-2000:]}")
    return json.loads(browser.stdout.strip().splitlines()[-1])


def median_of(figures):
    """{"load_ms", "latency_ms"}: the medians of several rounds' figures."""
    return {key: statistics.median(f[key] for f in figures) for key in ("load_ms", "latency_ms")}


def page_weight(entries):
    """Bytes the page fetched, by part: the app, LiteRT.js (JS + wasm), other JS, the export."""
    parts = {"app": 0, "litertjs": 0, "other_js": 0, "export": 0}
    for entry in entries:
        path = entry["url"].split("://", 1)[-1].split("/", 1)[-1]
        part = ("export" if path.startswith("export/") else
                "litertjs" if "@litertjs" in path else
                "other_js" if path.startswith("node_modules/") else "app")
        parts[part] += entry["bytes"]
    parts["total"] = sum(parts.values())
    return parts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="runs/digits/tflite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=300, help="a multiple of 20")
    parser.add_argument("--loads", type=int, default=30)
    args = parser.parse_args()
    with open(os.path.join(args.models, "manifest.json")) as file:
        manifest = json.load(file)
    paths = [os.path.join(args.models, model["file"]) for model in manifest["models"]]
    server = serve.start(args.models)
    webs, pythons = [], []
    try:
        for _ in range(args.rounds):
            webs.append(browser_round(server.server_port, args.loads, args.runs))
            for _ in range(2):  # as in the browser: the second pass is kept
                python = [python_litert(path, args.loads, args.runs) for path in paths]
            pythons.append(python)
    finally:
        server.shutdown()
    js_models = [median_of([web["models"][i] for web in webs]) for i in range(len(paths))]
    python_models = [median_of([python[i] for python in pythons]) for i in range(len(paths))]
    rows = []
    for model, js, python in zip(manifest["models"], js_models, python_models):
        rows.append({"task": model["task"], "level": model["level"],
                     "quantize": model["quantize"], "params": model["params"],
                     "python_latency_ms": python["latency_ms"],
                     "litertjs_latency_ms": js["latency_ms"],
                     "latency_ratio": js["latency_ms"] / python["latency_ms"],
                     "python_load_ms": python["load_ms"], "litertjs_load_ms": js["load_ms"],
                     "load_ratio": js["load_ms"] / python["load_ms"]})
    print("| task | level | params | latency: Python LiteRT | LiteRT.js | ratio "
          "| load + compile: Python LiteRT | LiteRT.js | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['task']} | {row['level']} | {row['params']:,} | "
              f"{row['python_latency_ms']:.3f} ms | {row['litertjs_latency_ms']:.3f} ms | "
              f"{row['latency_ratio']:.2f} | {row['python_load_ms']:.2f} ms | "
              f"{row['litertjs_load_ms']:.2f} ms | {row['load_ratio']:.2f} |")
    weight = page_weight(webs[0]["weight"])
    startup = statistics.median(web["startup_ms"] for web in webs)
    print(f"LiteRT.js start-up (wasm fetch + compile): {startup:.0f} ms; page weight "
          f"{weight['total'] / 2 ** 20:.2f} MiB: LiteRT.js {weight['litertjs'] / 2 ** 20:.2f} MiB, "
          f"app {weight['app'] / 1024:.0f} KiB, other JS {weight['other_js'] / 1024:.0f} KiB, "
          f"export (manifest, samples, first model) {weight['export'] / 1024:.0f} KiB")
    print(json.dumps({"models": rows, "litertjs_startup_ms": startup, "rounds": args.rounds,
                      "page_weight_bytes": weight}))


if __name__ == "__main__":
    main()
