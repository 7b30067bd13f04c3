"""LiteRT.js in Chromium against Python LiteRT on the same exported files: latency and load time.

    python benchmarks/web_latency.py [--models=runs/digits/tflite] [--rounds=3] [--runs=300]
                                     [--loads=30] [--threads=N]

Both run every (task, level) of the export on the CPU with XNNPACK and the
same number of threads: LiteRT.js (npm @litertjs/core) in Debian's Chromium,
headless, with the web demo served from localhost by web_demo/serve.py (cross-
origin isolated, so LiteRT.js runs its threaded build on a thread per core, at
most 4) and driven by benchmarks/web_latency.mjs, then Python's `ai_edge_litert`
Interpreter with as many threads as the page used. A shared-layout export's
models are the levels' cut-outs (the browser's web_demo/src/cutout.js, Python's
dvn_runtime/cutout.py: the same bytes). Per model:

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

from dvn_runtime.manifest import load_manifest  # noqa: E402
from dvn_runtime.model import read_model  # noqa: E402
from dvn_runtime.preprocess import to_input_tensor  # noqa: E402
from web_demo import serve  # noqa: E402


def model_contents(export_dir):
    """The bytes of every model of an export, in manifest order (shared layout: cut-outs)."""
    manifest = load_manifest(export_dir)
    return [read_model(manifest, model) for model in manifest.models]


def python_litert(content, loads, runs, threads):
    """{"load_ms", "latency_ms"} of one .tflite (bytes) in Python LiteRT on `threads` threads."""
    load_times = []
    for _ in range(loads):
        started = time.perf_counter()
        interpreter = Interpreter(model_content=content, num_threads=threads)
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


def browser_round(port, loads, runs, threads=None):
    """One run of benchmarks/web_latency.mjs against the demo served on `port` (LiteRT.js on
    `threads` threads, default the page's choice): its JSON."""
    query = "" if threads is None else f"?threads={threads}"
    browser = subprocess.run(
        ["node", os.path.join(REPO, "benchmarks", "web_latency.mjs"),
         f"http://127.0.0.1:{port}/{query}", str(loads), str(runs)],
        capture_output=True, text=True, timeout=1800)
    if browser.returncode != 0:
        sys.exit(f"web_latency: the browser run failed: {browser.stderr.strip()[-2000:]}")
    return json.loads(browser.stdout.strip().splitlines()[-1])


def side_by_side(export_dir, contents, rounds, loads, runs, threads=None):
    """Browser and Python rounds in turn over an export's models: ([browser JSON], [[Python
    figures per model]]). Python runs with the threads the browser reported (`threads`, or
    the page's choice)."""
    server = serve.start(export_dir)
    webs, pythons = [], []
    try:
        for _ in range(rounds):
            webs.append(browser_round(server.server_port, loads, runs, threads))
            for _ in range(2):  # as in the browser: the second pass is kept
                python = [python_litert(content, loads, runs, webs[-1]["threads"])
                          for content in contents]
            pythons.append(python)
    finally:
        server.shutdown()
        server.server_close()
    return webs, pythons


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
    parser.add_argument("--threads", type=int,
                        help="threads of both (default: the page's, a thread per core, at most 4)")
    args = parser.parse_args()
    with open(os.path.join(args.models, "manifest.json")) as file:
        manifest = json.load(file)
    contents = model_contents(args.models)
    webs, pythons = side_by_side(args.models, contents, args.rounds, args.loads, args.runs,
                                 args.threads)
    js_models = [median_of([web["models"][i] for web in webs]) for i in range(len(contents))]
    python_models = [median_of([python[i] for python in pythons])
                     for i in range(len(contents))]
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
    print(f"threads: {webs[0]['threads']} in both")
    print(json.dumps({"models": rows, "litertjs_startup_ms": startup, "rounds": args.rounds,
                      "threads": webs[0]["threads"], "page_weight_bytes": weight}))


if __name__ == "__main__":
    main()
