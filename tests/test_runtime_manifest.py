"""Manifest loading and its error messages."""

import json
import os

import pytest

from dvn_runtime.manifest import ManifestError, load_manifest
from runtime_helpers import (ARENA_BYTES, REPO, copy_export, read_manifest, shared_export,
                             write_manifest)

PER_CLASS_FIXTURE = os.path.join(REPO, "tests", "fixtures", "per_class_recall")


def test_loads_the_export():
    manifest = load_manifest(shared_export())
    assert manifest.layout == "per-level"  # format 1 without a layout field: exports before it
    assert list(manifest.tasks) == ["animals", "digits"]
    animals, digits = manifest.task("animals"), manifest.task("digits")
    assert animals.input.shape == (1, 12, 12, 3)  # top-level input
    assert digits.input.shape == (1, 10, 10, 1)  # per-task input
    assert animals.labels == ("cat", "dog", "bird", "fish")
    assert list(manifest.models_for("animals")) == [1, 2, 3]
    assert manifest.costs("digits") == {1: ARENA_BYTES[1], 2: ARENA_BYTES[2]}
    assert manifest.models_for("digits")[2].quantize == "int8"
    assert os.path.isfile(manifest.path(manifest.models_for("animals")[3]))


def test_per_class_recall_and_worst_class_as_every_client_reads_them():
    """The fixture that the Java and JS manifest tests read too, with the same expected values."""
    manifest = load_manifest(PER_CLASS_FIXTURE)
    with open(os.path.join(PER_CLASS_FIXTURE, "expected.json"), encoding="utf-8") as f:
        expected = json.load(f)["models"]
    for case in expected:
        model = manifest.models_for(case["task"])[case["level"]]
        recall = model.per_class_recall
        assert (None if recall is None else list(recall)) == case["per_class_recall"], case
        worst = manifest.worst_class(model)
        assert (worst or (None, None)) == (case["worst_label"], case["worst_recall"]), case


def test_unknown_task_lists_known_tasks():
    with pytest.raises(ManifestError, match="unknown task 'cars'; known tasks: animals, digits"):
        load_manifest(shared_export()).task("cars")


def test_missing_directory(tmp_path):
    with pytest.raises(ManifestError, match="does not exist; re-export"):
        load_manifest(tmp_path / "nowhere")


def test_missing_manifest(tmp_path):
    with pytest.raises(ManifestError, match="no manifest.json in .*python -m export"):
        load_manifest(tmp_path)


def test_invalid_json(tmp_path):
    (tmp_path / "manifest.json").write_text('{"format": 1, "tasks": [', encoding="utf-8")
    with pytest.raises(ManifestError, match="is not valid JSON"):
        load_manifest(tmp_path)


DELETE = object()


def _set(path, value):
    def edit(manifest):
        target = manifest
        for key in path[:-1]:
            target = target[key]
        if value is DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return edit


BAD_MANIFESTS = {
    "not_an_object": (lambda m: [m], "the top level must be a JSON object"),
    "format_3": (_set(["format"], 3), r"format is 3 but this runtime reads formats \[1, 2\]"),
    "shared_without_files": (_set(["format"], 2), "files is missing"),
    "layout_of_other_format": (_set(["layout"], "shared"),
                               "format 1 has layout 'per-level', not 'shared'"),
    "no_tasks": (_set(["tasks"], []), "tasks is empty"),
    "no_input": (_set(["input"], DELETE),
                 r"tasks\[0\] has no input and there is no top-level input"),
    "bad_shape": (_set(["input", "shape"], [12, 12, 3]), r"input.shape must be \[1, H, W, C\]"),
    "batch_4": (_set(["input", "shape"], [4, 12, 12, 3]),
                r"input.shape has batch 4, .* export with --batch=1"),
    "bad_dtype": (_set(["input", "dtype"], "float64"), "input.dtype must be one of"),
    "zero_std": (_set(["input", "std"], [0.2, 0.0, 0.2]), "input.std must be > 0"),
    "mean_length": (_set(["input", "mean"], [0.5, 0.5]), "input.mean must hold 1 or 3"),
    "labels_count": (_set(["tasks", 0, "labels"], ["cat"]),
                     r"tasks\[0\].labels must be 4 strings \(num_classes\), got 1"),
    "duplicate_task": (lambda m: m["tasks"].append(m["tasks"][0]),
                       "task 'animals' is listed twice"),
    "missing_sha": (_set(["models", 0, "sha256"], DELETE), r"models\[0\].sha256 is missing"),
    "bad_sha": (_set(["models", 0, "sha256"], "abc"), "must be 64 lowercase hex digits"),
    "level_as_string": (_set(["models", 1, "level"], "2"),
                        r"models\[1\].level must be int, got '2'"),
    "level_zero": (_set(["models", 0, "level"], 0), r"models\[0\].level must be >= 1"),
    "bool_bytes": (_set(["models", 0, "bytes"], True), r"models\[0\].bytes must be int"),
    "unknown_model_task": (_set(["models", 0, "task"], "cars"),
                           r"models\[0\].task 'cars' is not one of the tasks"),
    "duplicate_level": (_set(["models", 1, "level"], 1),
                        "task 'animals' level 1 is listed twice"),
    "escaping_file": (_set(["models", 0, "file"], "../x.tflite"),
                      "must be a path inside the models directory"),
    "recall_count": (_set(["models", 0, "per_class_recall"], [0.5, 0.5]),
                     r"models\[0\].per_class_recall must be 4 numbers in \[0, 1\] or null"),
    "recall_above_one": (_set(["models", 0, "per_class_recall"], [0.5, 0.5, 0.5, 2]),
                         r"models\[0\].per_class_recall must be 4 numbers"),
    "task_without_models": (lambda m: m.update(
        models=[x for x in m["models"] if x["task"] != "digits"]), "task 'digits' has no models"),
}


@pytest.mark.parametrize("name", BAD_MANIFESTS)
def test_bad_manifest_says_what_and_what_to_do(name, tmp_path):
    edit, message = BAD_MANIFESTS[name]
    directory = copy_export(tmp_path / "export")
    manifest = read_manifest(directory)
    replacement = edit(manifest)  # edits in place, or returns a replacement
    write_manifest(directory, manifest if replacement is None else replacement)
    with pytest.raises(ManifestError, match=message) as error:
        load_manifest(directory)
    text = str(error.value)
    assert "manifest.json" in text and "python -m export" in text and "\n" not in text
