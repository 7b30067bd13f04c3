"""LiteRT latency of .tflite files measured side by side, in a child process that imports only LiteRT.

    from litert_timing import interleaved_latency
    timings = interleaved_latency([{"export": "a.tflite", "twin": "b.tflite"}, ...],
                                  rounds=7, round_ms=150, threads=1, switch_kind="export")

Each group's files are loaded (XNNPACK, `threads` threads), warmed up, then
timed in alternating rounds (A/B/C/A/B/C...), each round the median of enough
invokes to last about `round_ms`; a kind's latency is the median of its
rounds. With `switch_kind`, that file's switch time is measured too: read the
file, create the interpreter, allocate, first invoke (median of 5). Returns,
per group, {KIND_ms, KIND_rounds_ms for every kind, switch_ms, switch_max_ms}.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def interleaved_latency(groups, rounds=7, round_ms=150.0, threads=1, switch_kind=None):
    """Measure every group of files in a LiteRT-only child process; one dict per group."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump({"groups": groups, "rounds": rounds, "round_ms": round_ms,
                   "threads": threads, "switch_kind": switch_kind}, file)
    try:
        result = subprocess.run([sys.executable, os.path.abspath(__file__), file.name],
                                capture_output=True, text=True)
    finally:
        os.remove(file.name)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no output"]
        sys.exit(f"LiteRT timing failed: {lines[-1]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _load(path, threads, rng):
    from ai_edge_litert.interpreter import Interpreter

    with open(path, "rb") as file:
        interpreter = Interpreter(model_content=file.read(), num_threads=threads)
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()[0]
    interpreter.set_tensor(details["index"],
                           rng.normal(size=details["shape"]).astype(details["dtype"]))
    interpreter.invoke()
    return interpreter


def _round_median(interpreter, count):
    times = []
    for _ in range(count):
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _switch_ms(path, threads, rng):
    start = time.perf_counter()
    _load(path, threads, rng)
    return (time.perf_counter() - start) * 1e3


def _measure(spec):
    rng = np.random.default_rng(0)
    threads = spec["threads"]
    results = []
    for group in spec["groups"]:
        ready = {kind: _load(path, threads, rng) for kind, path in group.items()}
        for interpreter in ready.values():
            for _ in range(4):
                interpreter.invoke()
        estimate = max(_round_median(interpreter, 3) for interpreter in ready.values())
        count = max(5, min(200, int(spec["round_ms"] / max(estimate, 1e-3))))
        rounds = {kind: [] for kind in ready}
        for _ in range(spec["rounds"]):
            for kind, interpreter in ready.items():
                rounds[kind].append(_round_median(interpreter, count))
        del ready
        result = {}
        for kind, values in rounds.items():
            result[f"{kind}_ms"] = statistics.median(values)
            result[f"{kind}_rounds_ms"] = values
        if spec["switch_kind"]:
            switches = [_switch_ms(group[spec["switch_kind"]], threads, rng) for _ in range(5)]
            result["switch_ms"] = statistics.median(switches)
            result["switch_max_ms"] = max(switches)
        results.append(result)
    return results


if __name__ == "__main__":
    with open(sys.argv[1]) as spec_file:
        print(json.dumps(_measure(json.load(spec_file))))
