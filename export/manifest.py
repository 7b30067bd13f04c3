"""manifest.json (DESIGN.md, format 1, or 2 for the shared layout): build it, check it, write it.

`input` describes the tensor a client builds: [B, H, W, C] float32 pixels
scaled to [0, 1], then `(x - mean) / std` per channel. B is the fixed batch of
every file (1 unless exported with `--batch`); no dimension is dynamic.
Integer models (int8, int8-qat) take int8: the client quantizes that float
tensor with the model's input tensor quantization (scale, zero_point), read
from the .tflite itself, and dequantizes the logits with the output tensor's.
When the tasks' inputs differ (shape, mean or std) each task carries its own
`input` and there is no top-level one.

`layout` is "per-level" (format 1: one file per model entry, as before) or
"shared" (format 2, so that clients that know only format 1 refuse it with
their format message): `files` lists the shared file(s) with their sha256 and
bytes, and every model entry names its `file` and `signature`; its sha256
and bytes are those of the signature's cut-out (dvn_runtime/cutout.py), which
is what the runtime loads and checks. A manifest without `layout` is per-level.

A model entry may carry `per_class_recall` (the export always writes it; a
manifest without it stays valid): the LiteRT model's recall of each class on
the task's held-out split, in logit order, null for a class with no held-out
example (dvn_runtime/per_class.py).
"""

import json
import os
import tempfile

from dvn_tf.files import read_json, write_text_atomically

FORMAT = 1
SHARED_FORMAT = 2
LAYOUTS = ("per-level", "shared")
MANIFEST = "manifest.json"
INPUT_DTYPE = "float32"
# Values of a model's "quantize" field: the export's --quantize modes (export/convert.py).
QUANTIZE_MODES = ("none", "float16", "dynamic", "int8", "int8-qat")
# The modes of the shared layout: int8-qat fine-tunes every level apart, so its levels share nothing.
SHARED_QUANTIZE_MODES = ("none", "float16", "dynamic", "int8")

MODEL_FIELDS = {"task": str, "level": int, "file": str, "sha256": str, "bytes": int,
                "params": int, "flops": int, "quantize": str, "accuracy_keras": float,
                "accuracy_tflite": float, "latency_ms": float, "arena_bytes": int}


def input_spec(task, batch=1):
    """The manifest `input` object of a TaskData whose files take `batch` images per invoke."""
    return {"shape": [batch, *map(int, task.input_shape)], "dtype": INPUT_DTYPE,
            "mean": [float(m) for m in task.mean], "std": [float(s) for s in task.std]}


def build_manifest(scenario, tasks, models, batch=1, shared_files=None):
    """The manifest document of an export: `tasks` are TaskData, `models` entries as MODEL_FIELDS.

    `shared_files` ([{"file", "sha256", "bytes"}]) makes it a shared-layout
    manifest, whose model entries also carry their "signature".
    """
    specs = [input_spec(task, batch) for task in tasks]
    shared = all(spec == specs[0] for spec in specs)
    document = {"format": FORMAT, "layout": "per-level", "scenario": scenario}
    if shared_files is not None:
        document.update(format=SHARED_FORMAT, layout="shared", files=list(shared_files))
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


def _check_file(entry, where):
    if not (isinstance(entry.get("file"), str) and os.path.basename(entry["file"]) == entry["file"]
            and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64
            and isinstance(entry.get("bytes"), int)):
        raise ValueError(f"{where}: bad file name, sha256 or bytes")


def check_manifest(document):
    """Raise ValueError naming the first field that breaks the schema (format 1 or 2)."""
    layout = document.get("layout", "per-level")
    expected = SHARED_FORMAT if layout == "shared" else FORMAT
    if (layout not in LAYOUTS or document.get("format") != expected
            or not isinstance(document.get("scenario"), str)):
        raise ValueError("manifest needs format 1 (per-level layout) or 2 (shared layout) "
                         "and a scenario string")
    shared_files = set()
    if layout == "shared":
        for i, entry in enumerate(document.get("files") or []):
            _check_file(entry, f"files[{i}]")
            shared_files.add(entry["file"])
        if not shared_files:
            raise ValueError("a shared-layout manifest needs its files")
    if "input" in document:
        _check_input(document["input"], "input")
    names, num_classes = [], {}
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
        num_classes[task["name"]] = task["num_classes"]
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
        _check_per_class_recall(model, num_classes[model["task"]], f"models[{i}]")
        _check_file(model, f"models[{i}]")
        if layout == "shared" and (model["file"] not in shared_files
                                   or not isinstance(model.get("signature"), str)):
            raise ValueError(f"models[{i}] needs a signature of one of the files {shared_files}")
        seen.add((model["task"], model["level"]))
    for name in names:
        if not any(task == name for task, _ in seen):
            raise ValueError(f"task {name!r} has no models")


def _check_per_class_recall(model, num_classes, where):
    """The optional `per_class_recall`: one float in [0, 1] or null per class of the task."""
    if "per_class_recall" not in model:
        return
    values = model["per_class_recall"]
    if not (isinstance(values, list) and len(values) == num_classes
            and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)
                                  and 0.0 <= v <= 1.0) for v in values)):
        raise ValueError(f"{where}.per_class_recall must be {num_classes} numbers in [0, 1] or "
                         f"null (a class without held-out examples), got {values!r}")


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
