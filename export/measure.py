"""Memory cost and latency of a .tflite file, measured by export/probe.py in a fresh process."""

import json
import os
import subprocess
import sys

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.py")


class MeasureError(RuntimeError):
    """The probe process failed; the message holds its last line of error output."""


def measure_file(path, threads=1, runs=50, timeout=600):
    """{"rss_bytes", "startup_bytes", "arena_floor", "arena_bytes", "first_ms", "latency_ms"} of one model.

    Starts `python export/probe.py` (numpy, ai_edge_litert and psutil only), so
    neither TensorFlow nor earlier models sit in the memory it measures.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, PROBE, os.path.abspath(path), f"--threads={threads}", f"--runs={runs}"],
        capture_output=True, text=True, timeout=timeout, env=env)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        errors = result.stderr.strip().splitlines() or ["no output"]
        raise MeasureError(f"measuring {os.path.basename(path)} failed: {errors[-1]}")
    return json.loads(lines[-1])
