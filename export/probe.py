"""Measure one .tflite model in a fresh process: memory cost and latency with LiteRT.

Run as a script (never imported by the exporter): a fresh python that imports
only numpy, ai_edge_litert and psutil, so the resident-memory increase it
reports belongs to the model alone. A first instance of the model is loaded
and kept before measuring, so LiteRT's and XNNPACK's one-time start-up (about
3-10 MiB) is not charged to the model: a running runtime has paid it already,
and holds one model while it loads the next.

    python export/probe.py MODEL.tflite [--threads=1] [--runs=50]

Prints one JSON object:
  rss_bytes     RSS after (read file, create interpreter with XNNPACK, allocate,
                invoke once) minus RSS before, with a first instance already
                loaded; includes the model bytes, XNNPACK's packed weights and
                workspace, and the tensor arena.
  startup_bytes RSS increase of the first instance beyond rss_bytes.
  arena_floor   a lower bound of the tensor arena without delegates: the
                largest sum of activation-tensor bytes that one op needs live.
  arena_bytes   max(rss_bytes, arena_floor): what the budget policy charges.
  first_ms      wall time of read + create + allocate + first invoke.
  latency_ms    median wall time of one invoke (batch 1), after 3 warm-ups.
"""

import argparse
import gc
import json
import statistics
import time

import numpy as np
import psutil
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def rss():
    return psutil.Process().memory_info().rss


def sample_input(details, rng):
    """A random input tensor of the interpreter's shape and dtype."""
    shape, dtype = details["shape"], np.dtype(details["dtype"])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max + 1, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def arena_floor(path):
    """Largest bytes of activation tensors (graph inputs and op outputs) one op needs at once."""
    interpreter = Interpreter(
        model_path=path,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    sizes = {t["index"]: int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize
             for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    activations = {d["index"] for d in interpreter.get_input_details()}
    for op in ops:
        activations.update(int(i) for i in op["outputs"] if i >= 0)
    floor = 0
    for op in ops:
        live = {int(i) for i in list(op["inputs"]) + list(op["outputs"]) if i in activations}
        floor = max(floor, sum(sizes.get(i, 0) for i in live))
    return floor


def load_and_invoke(path, threads, rng):
    """A LiteRT interpreter of the file, allocated and invoked once."""
    with open(path, "rb") as file:
        interpreter = Interpreter(model_content=file.read(), num_threads=threads)
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()[0]
    interpreter.set_tensor(details["index"], sample_input(details, rng))
    interpreter.invoke()
    return interpreter


def measure(path, threads, runs):
    rng = np.random.default_rng(0)
    gc.collect()
    before_first = rss()
    first_instance = load_and_invoke(path, threads, rng)
    before = rss()
    start = time.perf_counter()
    interpreter = load_and_invoke(path, threads, rng)
    first_ms = (time.perf_counter() - start) * 1e3
    rss_bytes = rss() - before
    startup_bytes = before - before_first - rss_bytes
    del first_instance
    details = interpreter.get_input_details()[0]
    for _ in range(3):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        interpreter.set_tensor(details["index"], sample_input(details, rng))
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1e3)
    floor = arena_floor(path)
    return {"rss_bytes": int(rss_bytes), "startup_bytes": int(startup_bytes),
            "arena_floor": int(floor),
            "arena_bytes": int(max(rss_bytes, floor)), "first_ms": first_ms,
            "latency_ms": statistics.median(times)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(measure(args.model, args.threads, args.runs)))


if __name__ == "__main__":
    main()
