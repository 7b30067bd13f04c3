"""Memory cost and latency of a .tflite file, measured by export/probe.py in a fresh process."""

import json
import os
import subprocess
import sys

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.py")


class MeasureError(RuntimeError):
    """The probe process failed; the message holds its last line of error output."""


def measure_file(path, threads=1, runs=50, timeout=600):
    """{"rss_bytes", "anon_bytes", "file_bytes", "startup_bytes", "arena_floor", "arena_bytes",
    "first_ms", "latency_ms"} of one model file; see measure_models."""
    return measure_models([path], threads, runs, timeout)


def measure_models(specs, threads=1, runs=50, timeout=600, weight_cache=None):
    """export/probe.py's figures for models loaded together: paths or SHARED.tflite@SIGNATURE.

    Starts `python export/probe.py` (numpy, ai_edge_litert, psutil and
    dvn_runtime.cutout only), so neither TensorFlow nor earlier models sit in
    the memory it measures.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, PROBE, *(os.path.abspath(spec.partition("@")[0])
                                        + "".join(spec.partition("@")[1:]) for spec in specs),
               f"--threads={threads}", f"--runs={runs}"]
    if weight_cache is not None:
        command.append(f"--weight-cache={weight_cache}")
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        errors = result.stderr.strip().splitlines() or ["no output"]
        names = ", ".join(os.path.basename(spec) for spec in specs)
        raise MeasureError(f"measuring {names} failed: {errors[-1]}")
    return json.loads(lines[-1])
