"""Measure .tflite models in a fresh process: memory cost and latency with LiteRT.

Run as a script (never imported by the exporter): a fresh python that imports
only numpy, ai_edge_litert, psutil and dvn_runtime.cutout, so the
resident-memory increase it reports belongs to the models alone. A first
instance of the first model is loaded and kept before measuring, so LiteRT's
and XNNPACK's one-time start-up (about 3-10 MiB) is not charged to the model:
a running runtime has paid it already, and holds one model while it loads the next.

    python export/probe.py MODEL [MODEL ...] [--threads=1] [--runs=50] [--weight-cache=DIR]

A MODEL is a .tflite path, or SHARED.tflite@SIGNATURE for a signature cut out
of a shared-layout file as the runtime does (dvn_runtime/cutout.py). With
several, all are loaded together (one process serving several tasks), and
latency is that of the first. --weight-cache loads them with LiteRT's
CompiledModel API and XNNPACK's weight cache in DIR instead of the Interpreter.

Prints one JSON object:
  rss_bytes     RSS after (read or cut out, create interpreter with XNNPACK,
                allocate, invoke once) minus RSS before, with a first instance
                already loaded; includes the model bytes, XNNPACK's packed
                weights and workspace, and the tensor arena.
  anon_bytes, file_bytes  the same split into anonymous (heap, not evictable)
                and file-backed resident memory.
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
import os
import statistics
import sys
import time

import numpy as np
import psutil
from ai_edge_litert.interpreter import Interpreter, OpResolverType

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from dvn_runtime.cutout import SharedFile  # noqa: E402  (after the repo is importable)


def memory():
    """(resident, anonymous, file-backed) bytes of this process."""
    info = psutil.Process().memory_info()
    return np.array([info.rss, info.rss - info.shared, info.shared])


def read_model(spec):
    """The bytes of a MODEL argument: a file, or SHARED@SIGNATURE cut out of a shared file."""
    path, _, signature = spec.partition("@")
    if signature:
        with SharedFile(path) as shared:
            return shared.cutout(signature)
    with open(path, "rb") as file:
        return file.read()


def sample_input(details, rng):
    """A random input tensor of the interpreter's shape and dtype."""
    shape, dtype = details["shape"], np.dtype(details["dtype"])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max + 1, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def arena_floor(content):
    """Largest bytes of activation tensors (graph inputs and op outputs) one op needs at once."""
    interpreter = Interpreter(
        model_content=content,
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


class Loaded:
    """A model loaded, allocated and invoked once; `invoke()` runs it again on new input."""

    def __init__(self, spec, threads, rng, weight_cache=None):
        self.content = read_model(spec)
        self.rng = rng
        if weight_cache is None:
            self.interpreter = Interpreter(model_content=self.content, num_threads=threads)
            self.interpreter.allocate_tensors()
            self.details = self.interpreter.get_input_details()[0]
        else:
            from ai_edge_litert.compiled_model import CompiledModel
            from ai_edge_litert.options import CpuOptions, Options

            options = Options(cpu_options=CpuOptions(num_threads=threads,
                                                     xnnpack_weight_cache_path=weight_cache))
            self.model = CompiledModel.from_buffer(self.content, options=options)
            self.inputs = self.model.create_input_buffers(0)
            self.outputs = self.model.create_output_buffers(0)
        self.invoke()

    def invoke(self):
        if hasattr(self, "interpreter"):
            self.interpreter.set_tensor(self.details["index"],
                                        sample_input(self.details, self.rng))
            self.interpreter.invoke()
        else:
            self.model.run_by_index(0, self.inputs, self.outputs)


def measure(specs, threads, runs, weight_cache=None):
    rng = np.random.default_rng(0)
    gc.collect()
    before_first = memory()
    first_instance = Loaded(specs[0], threads, rng, weight_cache)
    before = memory()
    start = time.perf_counter()
    models = [Loaded(spec, threads, rng, weight_cache) for spec in specs]
    first_ms = (time.perf_counter() - start) * 1e3
    rss_bytes, anon_bytes, file_bytes = memory() - before
    startup_bytes = before[0] - before_first[0] - rss_bytes
    del first_instance
    for _ in range(3):
        models[0].invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        models[0].invoke()
        times.append((time.perf_counter() - start) * 1e3)
    floor = arena_floor(models[0].content)
    return {"rss_bytes": int(rss_bytes), "anon_bytes": int(anon_bytes),
            "file_bytes": int(file_bytes), "startup_bytes": int(startup_bytes),
            "arena_floor": int(floor), "arena_bytes": int(max(rss_bytes, floor)),
            "first_ms": first_ms, "latency_ms": statistics.median(times)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="+")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--weight-cache", default=None)
    args = parser.parse_args()
    print(json.dumps(measure(args.model, args.threads, args.runs, args.weight_cache)))


if __name__ == "__main__":
    main()
