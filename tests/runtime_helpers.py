"""Real, tiny export directories for the dvn_runtime tests.

``shared_export()`` builds (once per test process) small plain Keras 3 models
of growing width per level, converts them to ``.tflite`` with builtin ops,
and writes a manifest.json in the DESIGN.md schema with real sha256 and
sizes. Task "animals" (RGB 12x12, top-level input, float, 3 levels) and task
"digits" (grayscale 10x10, per-task input, level 2 full-integer int8).
"""

import atexit
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARENA_BYTES = {1: 1_000_000, 2: 2_000_000, 3: 4_000_000}
TASKS = {
    "animals": {"labels": ["cat", "dog", "bird", "fish"], "shape": [1, 12, 12, 3],
                "mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.3],
                "widths": {1: 2, 2: 6, 3: 16}, "int8_levels": ()},
    "digits": {"labels": [str(d) for d in range(10)], "shape": [1, 10, 10, 1],
               "mean": [0.3], "std": [0.4], "widths": {1: 3, 2: 8}, "int8_levels": (2,)},
}


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _input(task):
    spec = TASKS[task]
    return {"shape": spec["shape"], "dtype": "float32", "mean": spec["mean"], "std": spec["std"]}


def _representative(shape, seed):
    rng = np.random.default_rng(seed)
    return lambda: ([rng.normal(size=shape).astype(np.float32)] for _ in range(16))


def _convert(task, level):
    import keras  # lazy: only the builder needs TensorFlow
    import tensorflow as tf
    spec = TASKS[task]
    keras.utils.set_random_seed(100 * len(task) + level)
    width = spec["widths"][level]
    inputs = keras.Input(shape=spec["shape"][1:], batch_size=1)
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(width, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(spec["labels"]),
                                 bias_initializer=keras.initializers.RandomNormal())(x)
    model = keras.Model(inputs, outputs)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if level in spec["int8_levels"]:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(spec["shape"], level)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    else:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert(), model.count_params()


def build_export(directory):
    """Writes a real export (models + manifest.json) into `directory`; returns it."""
    os.makedirs(directory, exist_ok=True)
    models = []
    for task, spec in TASKS.items():
        for level in spec["widths"]:
            content, params = _convert(task, level)
            file = f"{task}_level{level}.tflite"
            with open(os.path.join(directory, file), "wb") as f:
                f.write(content)
            quantize = "int8" if level in spec["int8_levels"] else "none"
            models.append({
                "task": task, "level": level, "file": file,
                "sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content),
                "params": params, "flops": 0, "quantize": quantize, "accuracy_keras": 0.5,
                "accuracy_tflite": 0.5, "latency_ms": 0.1, "arena_bytes": ARENA_BYTES[level]})
    manifest = {
        "format": 1, "scenario": "runtime_test", "input": _input("animals"),
        "tasks": [{"name": "animals", "num_classes": 4, "labels": TASKS["animals"]["labels"]},
                  {"name": "digits", "num_classes": 10, "labels": TASKS["digits"]["labels"],
                   "input": _input("digits")}],
        "models": models}
    write_manifest(directory, manifest)
    return directory


def write_manifest(directory, manifest):
    with open(os.path.join(directory, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)


def read_manifest(directory):
    with open(os.path.join(directory, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


@functools.cache
def shared_export():
    """A read-only export built once per test process; copy it before changing it."""
    directory = tempfile.mkdtemp(prefix="dvn_runtime_export_")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return build_export(directory)


def copy_export(destination):
    """A private, writable copy of the shared export at `destination`."""
    shutil.copytree(shared_export(), destination)
    return str(destination)


def flip_bytes(path, offset=64, count=8):
    """Corrupts a file in place by inverting `count` bytes at `offset`."""
    with open(path, "r+b") as f:
        f.seek(offset)
        chunk = f.read(count)
        f.seek(offset)
        f.write(bytes(b ^ 0xFF for b in chunk))


def random_image(seed, size=(12, 12)):
    """A deterministic RGB uint8 image array of `size` (width, height)."""
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def run_cli(*args, timeout=120):
    """Runs ``python -m dvn_runtime ARGS`` from the repo root; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "dvn_runtime", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)


def damage_block_of(export_dir, key, spared):
    """Flip a byte of a weight block of a shared export that signature `key` uses and
    signature `spared` does not."""
    from dvn_runtime.cutout import read_buffers, read_index

    path = os.path.join(export_dir, "shared.tflite")
    content = bytearray(open(path, "rb").read())
    index = read_index(bytes(content))
    signatures = {s["key"]: set(read_buffers(s)) for s in index["signatures"]}
    block = max(signatures[key] - signatures[spared], key=lambda b: index["data"][b][1])
    start, size = index["data"][block][:2]
    content[start + size // 2] ^= 0xFF
    open(path, "wb").write(bytes(content))
