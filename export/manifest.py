"""manifest.json (DESIGN.md, format 1): build it, check its schema, write files atomically.

`input` describes the tensor a client builds: [B, H, W, C] float32 pixels
scaled to [0, 1], then `(x - mean) / std` per channel. B is the fixed batch of
every file (1 unless exported with `--batch`); no dimension is dynamic.
Integer models (int8, int8-qat) take int8: the client quantizes that float
tensor with the model's input tensor quantization (scale, zero_point), read
from the .tflite itself, and dequantizes the logits with the output tensor's.
When the tasks' inputs differ (shape, mean or std) each task carries its own
`input` and there is no top-level one.
"""

import json
import os
import tempfile

from dvn_tf.files import read_json, write_text_atomically

FORMAT = 1
MANIFEST = "manifest.json"
INPUT_DTYPE = "float32"
# Values of a model's "quantize" field: the export's --quantize modes (export/convert.py).
QUANTIZE_MODES = ("none", "float16", "dynamic", "int8", "int8-qat")

MODEL_FIELDS = {"task": str, "level": int, "file": str, "sha256": str, "bytes": int,
                "params": int, "flops": int, "quantize": str, "accuracy_keras": float,
                "accuracy_tflite": float, "latency_ms": float, "arena_bytes": int}


def input_spec(task, batch=1):
    """The manifest `input` object of a TaskData whose files take `batch` images per invoke."""
    return {"shape": [batch, *map(int, task.input_shape)], "dtype": INPUT_DTYPE,
            "mean": [float(m) for m in task.mean], "std": [float(s) for s in task.std]}


def build_manifest(scenario, tasks, models, batch=1):
    """The manifest document of an export: `tasks` are TaskData, `models` entries as MODEL_FIELDS."""
    specs = [input_spec(task, batch) for task in tasks]
    shared = all(spec == specs[0] for spec in specs)
    document = {"format": FORMAT, "scenario": scenario}
    if shared:
        document["input"] = specs[0]
    document["tasks"] = []
    for task, spec in zip(tasks, specs):
        entry = {"name": task.name, "num_classes": int(task.num_classes),
                 "labels": [str(label) for label in task.labels]}
        if not shared:
            entry["input"] = spec
        document["tasks"].append(entry)
    document["models"] = list(models)
    check_manifest(document)
    return document


def _check_input(spec, where):
    shape = spec.get("shape")
    if not (isinstance(shape, list) and len(shape) == 4
            and all(isinstance(d, int) and d > 0 for d in shape)):
        raise ValueError(f"{where}.shape must be [B, H, W, C], got {shape!r}")
    if spec.get("dtype") != INPUT_DTYPE:
        raise ValueError(f"{where}.dtype must be {INPUT_DTYPE!r}, got {spec.get('dtype')!r}")
    for key in ("mean", "std"):
        values = spec.get(key)
        if not (isinstance(values, list) and len(values) in (1, shape[3])
                and all(isinstance(v, float) for v in values)):
            raise ValueError(f"{where}.{key} must be 1 or C floats, got {values!r}")
    if min(spec["std"]) <= 0:
        raise ValueError(f"{where}.std must be positive, got {spec['std']}")


def check_manifest(document):
    """Raise ValueError naming the first field that breaks the format-1 schema."""
    if document.get("format") != FORMAT or not isinstance(document.get("scenario"), str):
        raise ValueError("manifest needs format 1 and a scenario string")
    if "input" in document:
        _check_input(document["input"], "input")
    names = []
    for i, task in enumerate(document.get("tasks") or []):
        labels = task.get("labels")
        if not (isinstance(task.get("name"), str) and isinstance(task.get("num_classes"), int)
                and isinstance(labels, list) and len(labels) == task["num_classes"]
                and all(isinstance(label, str) for label in labels)):
            raise ValueError(f"tasks[{i}] needs name, num_classes and that many string labels")
        if "input" in task:
            _check_input(task["input"], f"tasks[{i}].input")
        elif "input" not in document:
            raise ValueError(f"tasks[{i}] has no input and there is no top-level input")
        names.append(task["name"])
    if not names:
        raise ValueError("manifest has no tasks")
    seen = set()
    for i, model in enumerate(document.get("models") or []):
        for key, kind in MODEL_FIELDS.items():
            value = model.get(key)
            ok = isinstance(value, (int, float)) if kind is float else isinstance(value, kind)
            if not ok or isinstance(value, bool):
                raise ValueError(f"models[{i}].{key} must be {kind.__name__}, got {value!r}")
        if model["quantize"] not in QUANTIZE_MODES:
            raise ValueError(f"models[{i}].quantize must be one of {QUANTIZE_MODES}, "
                             f"got {model['quantize']!r}")
        if model["task"] not in names or (model["task"], model["level"]) in seen:
            raise ValueError(f"models[{i}]: unknown or repeated (task, level) "
                             f"({model['task']!r}, {model['level']})")
        if len(model["sha256"]) != 64 or os.path.basename(model["file"]) != model["file"]:
            raise ValueError(f"models[{i}]: bad sha256 or file name")
        seen.add((model["task"], model["level"]))
    for name in names:
        if not any(task == name for task, _ in seen):
            raise ValueError(f"task {name!r} has no models")


def check_output_dir(out):
    """Create `out` if needed and make sure files can be written in it; OSError otherwise."""
    os.makedirs(out, exist_ok=True)
    handle, probe = tempfile.mkstemp(dir=out, prefix=".write-test-")
    os.close(handle)
    os.remove(probe)


def write_json(path, document):
    """Write a JSON document to path atomically."""
    write_text_atomically(path, json.dumps(document, indent=2) + "\n")


def read_manifest(directory):
    """The manifest.json document in directory."""
    return read_json(os.path.join(directory, MANIFEST))
