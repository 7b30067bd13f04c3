"""Reads and validates an export directory's ``manifest.json``.

Format 1 is the per-level layout (a file per (task, level)); format 2 the
shared layout: ``files`` lists the shared file(s), and each model names its
``file`` and ``signature``, with the sha256 and bytes of the signature's
cut-out (dvn_runtime/cutout.py), which is what gets loaded. A model may carry
``per_class_recall`` (optional: older exports have none).
"""

import dataclasses
import json
import os
import re

from dvn_runtime.per_class import worst_class

MANIFEST_NAME = "manifest.json"
FORMATS = {1: "per-level", 2: "shared"}  # format -> layout
INPUT_DTYPES = ("float32", "float16", "int8", "uint8")
_REEXPORT = "re-export with `python -m export --workdir=DIR` and pass --models DIR/tflite"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ManifestError(ValueError):
    """The manifest is missing or malformed; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """Model input: shape [1, H, W, C], dtype and per-channel mean/std in [0, 1] units."""
    shape: tuple
    dtype: str
    mean: tuple
    std: tuple

    @property
    def height(self):
        return self.shape[1]

    @property
    def width(self):
        return self.shape[2]

    @property
    def channels(self):
        return self.shape[3]


@dataclasses.dataclass(frozen=True)
class TaskInfo:
    """One task: its class labels in logit order and its input spec."""
    name: str
    num_classes: int
    labels: tuple
    input: InputSpec


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """One exported (task, level) model as the manifest describes it."""
    task: str
    level: int
    file: str
    sha256: str
    bytes: int
    params: int
    flops: int
    quantize: str
    accuracy_keras: float
    accuracy_tflite: float
    latency_ms: float
    arena_bytes: int
    signature: object = None  # the signature key in a shared file; None for a per-level file
    # Held-out recall of each class in logit order (None: a class with no held-out example);
    # None when the manifest has none (an export made before per-class recall existed).
    per_class_recall: object = None


@dataclasses.dataclass(frozen=True)
class FileInfo:
    """A shared file of a shared-layout export."""
    file: str
    sha256: str
    bytes: int


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A validated manifest; ``directory`` holds the model files."""
    directory: str
    scenario: str
    tasks: dict  # name -> TaskInfo, in manifest order
    models: tuple  # ModelInfo
    layout: str = "per-level"  # or "shared"
    files: dict = dataclasses.field(default_factory=dict)  # shared layout: name -> FileInfo

    def task(self, name):
        """The TaskInfo called `name`; ManifestError listing the known tasks otherwise."""
        if name not in self.tasks:
            raise ManifestError(
                f"unknown task {name!r}; known tasks: {', '.join(self.tasks)}.")
        return self.tasks[name]

    def models_for(self, task):
        """{level: ModelInfo} of one task, levels ascending."""
        self.task(task)
        return {m.level: m for m in sorted(self.models, key=lambda m: m.level)
                if m.task == task}

    def costs(self, task):
        """{level: arena_bytes} of one task: the memory costs for BudgetPolicy."""
        return {level: m.arena_bytes for level, m in self.models_for(task).items()}

    def worst_class(self, model):
        """(label, recall) of a model's class of lowest held-out recall; None if it has none."""
        worst = worst_class(model.per_class_recall)
        if worst is None:
            return None
        return self.task(model.task).labels[worst], model.per_class_recall[worst]

    def path(self, model):
        """Absolute path of a model's file."""
        return os.path.join(self.directory, model.file)


def load_manifest(directory):
    """Loads ``directory/manifest.json`` and validates it; raises ManifestError."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ManifestError(f"models directory {directory!r} does not exist; {_REEXPORT}.")
    path = os.path.join(directory, MANIFEST_NAME)
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise ManifestError(f"no {MANIFEST_NAME} in {directory!r}; {_REEXPORT}.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"cannot read {path}: {e}.") from None
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path} is not valid JSON ({e}); {_REEXPORT}.") from None
    try:
        return _parse(raw, directory)
    except ManifestError as e:
        raise ManifestError(f"{path}: {e}; {_REEXPORT}.") from None


def _parse(raw, directory):
    _require(isinstance(raw, dict), "the top level must be a JSON object")
    fmt = raw.get("format")
    _require(fmt in FORMATS and not isinstance(fmt, bool),
             f"format is {fmt!r} but this runtime reads formats {sorted(FORMATS)}")
    layout = raw.get("layout", FORMATS[fmt])
    _require(layout == FORMATS[fmt], f"format {fmt} has layout {FORMATS[fmt]!r}, not {layout!r}")
    files = {}
    if layout == "shared":
        for i, f in enumerate(_get(raw, "files", list, "")):
            info = _parse_file(f, f"files[{i}]")
            files[info.file] = info
        _require(files, "files is empty")
    shared_input = _parse_input(raw["input"], "input") if "input" in raw else None
    tasks = {}
    for i, t in enumerate(_get(raw, "tasks", list, "")):
        task = _parse_task(t, f"tasks[{i}]", shared_input)
        _require(task.name not in tasks, f"task {task.name!r} is listed twice")
        tasks[task.name] = task
    _require(tasks, "tasks is empty")
    models = [_parse_model(m, f"models[{i}]", tasks, files)
              for i, m in enumerate(_get(raw, "models", list, ""))]
    seen = set()
    for m in models:
        _require((m.task, m.level) not in seen,
                 f"task {m.task!r} level {m.level} is listed twice")
        seen.add((m.task, m.level))
    for name in tasks:
        _require(any(m.task == name for m in models), f"task {name!r} has no models")
    return Manifest(directory=directory, scenario=_get(raw, "scenario", str, ""),
                    tasks=tasks, models=tuple(models), layout=layout, files=files)


def _parse_input(raw, where):
    _require(isinstance(raw, dict), f"{where} must be an object")
    shape = _get(raw, "shape", list, where)
    _require(len(shape) == 4 and all(_is_int(d) and d > 0 for d in shape) and shape[3] in (1, 3),
             f"{where}.shape must be [1, H, W, C] with C 1 or 3, got {shape}")
    _require(shape[0] == 1, f"{where}.shape has batch {shape[0]}, but this runtime classifies "
                            f"one image at a time: export with --batch=1 (the default)")
    dtype = _get(raw, "dtype", str, where)
    _require(dtype in INPUT_DTYPES, f"{where}.dtype must be one of {INPUT_DTYPES}, got {dtype!r}")
    mean, std = _get(raw, "mean", list, where), _get(raw, "std", list, where)
    for name, values in (("mean", mean), ("std", std)):
        _require(len(values) in (1, shape[3]) and all(_is_number(v) for v in values),
                 f"{where}.{name} must hold 1 or {shape[3]} numbers, got {values}")
    _require(all(s > 0 for s in std), f"{where}.std must be > 0, got {std}")
    return InputSpec(tuple(shape), dtype, tuple(mean), tuple(std))


def _parse_task(raw, where, shared_input):
    _require(isinstance(raw, dict), f"{where} must be an object")
    name = _get(raw, "name", str, where)
    num_classes = _get(raw, "num_classes", int, where)
    labels = _get(raw, "labels", list, where)
    _require(len(labels) == num_classes and all(isinstance(x, str) for x in labels),
             f"{where}.labels must be {num_classes} strings (num_classes), got {len(labels)}")
    if "input" in raw:
        spec = _parse_input(raw["input"], f"{where}.input")
    else:
        _require(shared_input is not None,
                 f"{where} has no input and there is no top-level input")
        spec = shared_input
    return TaskInfo(name, num_classes, tuple(labels), spec)


def _parse_file(raw, where):
    _require(isinstance(raw, dict), f"{where} must be an object")
    values = {f.name: _get(raw, f.name, f.type, where) for f in dataclasses.fields(FileInfo)}
    _check_file_fields(values, where)
    return FileInfo(**values)


def _check_file_fields(values, where):
    _require(_SHA256.fullmatch(values["sha256"]) is not None,
             f"{where}.sha256 must be 64 lowercase hex digits, got {values['sha256']!r}")
    file = values["file"]
    _require(file and not os.path.isabs(file) and ".." not in file.split("/"),
             f"{where}.file must be a path inside the models directory, got {file!r}")
    _require(values["bytes"] >= 0, f"{where}.bytes must be >= 0, got {values['bytes']}")


def _parse_model(raw, where, tasks, files):
    _require(isinstance(raw, dict), f"{where} must be an object")
    values = {f.name: _get(raw, f.name, f.type, where) for f in dataclasses.fields(ModelInfo)
              if f.name not in ("signature", "per_class_recall")}
    if files:
        values["signature"] = _get(raw, "signature", str, where)
        _require(values["file"] in files,
                 f"{where}.file {values['file']!r} is not one of the files {list(files)}")
    _require(values["task"] in tasks,
             f"{where}.task {values['task']!r} is not one of the tasks {list(tasks)}")
    _require(values["level"] >= 1, f"{where}.level must be >= 1, got {values['level']}")
    if "per_class_recall" in raw:
        values["per_class_recall"] = _parse_recall(raw["per_class_recall"], where,
                                                   tasks[values["task"]].num_classes)
    _check_file_fields(values, where)
    _require(values["arena_bytes"] >= 0,
             f"{where}.arena_bytes must be >= 0, got {values['arena_bytes']}")
    return ModelInfo(**values)


def _parse_recall(raw, where, num_classes):
    _require(isinstance(raw, list) and len(raw) == num_classes
             and all(v is None or (_is_number(v) and 0 <= v <= 1) for v in raw),
             f"{where}.per_class_recall must be {num_classes} numbers in [0, 1] or null, "
             f"got {raw!r}")
    return tuple(raw)


def _get(raw, key, kind, where):
    label = f"{where}.{key}" if where else key
    _require(key in raw, f"{label} is missing")
    value = raw[key]
    ok = {int: _is_int, float: _is_number}.get(kind, lambda v: isinstance(v, kind))(value)
    _require(ok, f"{label} must be {kind.__name__}, got {value!r}")
    return value


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require(condition, message):
    if not condition:
        raise ManifestError(message)
